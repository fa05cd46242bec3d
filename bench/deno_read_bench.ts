/**
 * Measures, for src/adapters/deno.ts, how fast a TCP connection on 127.0.0.1
 * is drained by `conn.read()` into a reused 64 KiB buffer, by a BYOB reader
 * on `conn.readable` (reusing the buffer each read hands back) and by the
 * default reader on `conn.readable`. A writer (`Deno.connect`) in the same
 * process sends a fixed number of bytes to a `Deno.listen` server (port 0)
 * whose accepted connection is drained by the variant under test; Nagle is
 * off, as in the adapter. Scenarios: 2 GiB in 64 KiB writes; 200 MB of
 * 20-byte messages in 640-byte writes. After a warm-up round the variants
 * run interleaved (A B C A B C ...); stdout gets a markdown table of median
 * MB/s (10^6 bytes) and ratios to `conn.read`, stderr every run.
 *
 * Run: deno run -A bench/deno_read_bench.ts
 *
 * @module
 */

const READ_SIZE = 64 * 1024;
const ROUNDS = 7; // odd, so the median is one run
const RUN_TIMEOUT_MS = 60_000;
const MESSAGE_SIZE = 20;

type Scenario = { name: string; total: number; writeSize: number };
const SCENARIOS: readonly Scenario[] = [
  { name: "2 GiB, 64 KiB writes", total: 2 * 1024 ** 3, writeSize: 64 * 1024 },
  { name: "200 MB, 20 B msgs in 640 B writes", total: 200e6, writeSize: 640 },
];

/** Drains `conn` to its end and returns the number of bytes read. */
type Drain = (conn: Deno.TcpConn) => Promise<number>;

const VARIANTS: ReadonlyArray<readonly [string, Drain]> = [
  ["conn.read", async (conn) => {
    const buffer = new Uint8Array(READ_SIZE);
    let total = 0;
    for (let n; (n = await conn.read(buffer)) !== null;) total += n;
    return total;
  }],
  ["readable BYOB", async (conn) => {
    const reader = conn.readable.getReader({ mode: "byob" });
    let view = new Uint8Array(READ_SIZE);
    let total = 0;
    while (true) {
      const { done, value } = await reader.read(view);
      if (done) return total;
      total += value.byteLength;
      view = new Uint8Array(value.buffer, 0, READ_SIZE);
    }
  }],
  ["readable default", async (conn) => {
    const reader = conn.readable.getReader();
    let total = 0;
    while (true) {
      const { done, value } = await reader.read();
      if (done) return total;
      total += value.byteLength;
    }
  }],
];

/** One write's worth of 20-byte messages: a 4-byte length, then payload. */
function makeChunk(size: number): Uint8Array {
  const chunk = new Uint8Array(size).fill(0x61);
  const view = new DataView(chunk.buffer);
  for (let at = 0; at + MESSAGE_SIZE <= size; at += MESSAGE_SIZE) {
    view.setUint32(at, MESSAGE_SIZE - 4);
  }
  return chunk;
}

async function send(conn: Deno.TcpConn, chunk: Uint8Array, total: number) {
  for (let sent = 0; sent < total; sent += chunk.length) {
    for (let at = 0; at < chunk.length;) {
      at += await conn.write(at === 0 ? chunk : chunk.subarray(at));
    }
  }
  await conn.closeWrite();
}

function closeQuietly(closer: { close(): void }): void {
  try {
    closer.close();
  } catch {
    // already closed, e.g. by conn.readable at its end
  }
}

/** Sends `scenario.total` bytes through loopback, drained by `drain`; MB/s. */
async function runOnce(scenario: Scenario, drain: Drain): Promise<number> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const opened: { close(): void }[] = [listener];
  const closeAll = () => opened.forEach(closeQuietly);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    closeAll();
  }, RUN_TIMEOUT_MS);
  try {
    const conns = await Promise.all([
      Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
      listener.accept(),
    ]);
    opened.push(...conns);
    const [client, server] = conns;
    client.setNoDelay(true);
    server.setNoDelay(true);
    const start = performance.now();
    const [, received] = await Promise.all([
      send(client, makeChunk(scenario.writeSize), scenario.total),
      drain(server),
    ]);
    const seconds = (performance.now() - start) / 1000;
    if (received !== scenario.total) {
      throw new Error(`Drain connection: got ${received} of ${scenario.total}`);
    }
    return scenario.total / 1e6 / seconds;
  } catch (error) {
    if (!timedOut) throw error;
    throw new Error(`Run benchmark: over ${RUN_TIMEOUT_MS} ms`, {
      cause: error,
    });
  } finally {
    clearTimeout(timer);
    closeAll();
  }
}

/** The median of an odd number of values. */
function median(values: readonly number[]): number {
  return [...values].sort((a, b) => a - b)[values.length >> 1];
}

const rows = [
  "| scenario | read path | median MB/s | min–max MB/s | vs conn.read |",
  "| --- | --- | ---: | ---: | ---: |",
];
for (const scenario of SCENARIOS) {
  const results = VARIANTS.map((): number[] => []);
  for (let round = 0; round <= ROUNDS; round++) {
    for (const [i, [name, drain]] of VARIANTS.entries()) {
      const mbps = await runOnce(scenario, drain);
      if (round > 0) results[i].push(mbps); // round 0 is the warm-up
      console.error(`${scenario.name} | round ${round} | ${name}: ${mbps | 0}`);
    }
  }
  for (const [i, [name]] of VARIANTS.entries()) {
    const [runs, mid] = [results[i], median(results[i])];
    const range = `${Math.min(...runs) | 0}–${Math.max(...runs) | 0}`;
    const ratio = (mid / median(results[0])).toFixed(2);
    rows.push(
      `| ${scenario.name} | ${name} | ${mid | 0} | ${range} | ${ratio} |`,
    );
  }
}
console.log(`Deno ${Deno.version.deno}, ${ROUNDS} rounds + 1 warm-up\n`);
console.log(rows.join("\n"));
