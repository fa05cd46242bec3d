// framewire's client against memjs (npm), both pipelining GETs to the same
// memcached (binary protocol) over 127.0.0.1, on Deno.
//
//   deno task bench:memcached [--ops 50000] [--depth 32] [--size 100] [--rounds 3]
//
// memcached runs as a child process on a free port (tests/_peer_process.ts)
// holding 100 keys of `size` bytes. Each client keeps `depth` GETs in flight
// (`depth` loops, each awaiting its GET before sending the next) until `ops`
// GETs are answered, and checks every answer (status and value length).
// framewire sends packets built by hand (tests/_memcached_protocol.ts) as
// whole frames of the memcached format; memjs sends its own. After a
// warm-up, the two run in interleaved rounds, order swapped each round, on
// the connection each opened once; the table gives ops/s per round, the
// medians, and the median of the per-round ratios.
import { connect } from "../src/adapters/auto.ts";
// @ts-types="@types/memjs"
import memjs from "memjs";
import {
  getRequest,
  MEMCACHED_FORMAT,
  setRequest,
} from "../tests/_memcached_protocol.ts";
import { startPeer } from "../tests/_peer_process.ts";
import { median } from "./_bench_servers.ts";

function flag(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(Deno.args[i + 1]);
}
const ops = flag("ops", 50_000);
const depth = flag("depth", 32);
const size = flag("size", 100);
const rounds = flag("rounds", 3);
const KEYS = 100;

const encoder = new TextEncoder();
const keyName = (i: number) => `bench:${i % KEYS}`;
const keyBytes = Array.from(
  { length: KEYS },
  (_, i) => encoder.encode(keyName(i)),
);
const value = new Uint8Array(size).fill(0x61);

/** Answers `total` calls of `get`, `depth` at a time; returns ops/s. */
async function drive(
  get: (i: number) => Promise<void>,
  total: number,
): Promise<number> {
  let next = 0;
  const loop = async () => {
    while (next < total) await get(next++);
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: depth }, loop));
  return total / ((performance.now() - start) / 1000);
}

const memcachedVersion = new TextDecoder().decode(
  (await new Deno.Command("memcached", { args: ["-V"] }).output()).stdout,
).trim();
const asRoot = Deno.uid() === 0;
const memcached = await startPeer("memcached", (port) => [
  ...["-B", "binary", "-l", "127.0.0.1", "-p", String(port), "-U", "0"],
  ...(asRoot ? ["-u", "root"] : []),
]);

const framewire = await connect({
  host: "127.0.0.1",
  port: memcached.port,
  format: MEMCACHED_FORMAT,
});
const memjsClient = memjs.Client.create(`127.0.0.1:${memcached.port}`, {
  retries: 0,
  timeout: 10,
  logger: { log: () => {} },
});

const clients = {
  framewire: async (i: number) => {
    const response = await framewire.request(
      getRequest(keyBytes[i % KEYS], i),
    );
    // status (bytes 6-7) 0, and flags (4 bytes of extras) then the value
    if (response[6] !== 0 || response[7] !== 0) {
      throw new Error(`Cannot GET ${keyName(i)}: status ${response[7]}`);
    }
    if (response.length !== 24 + 4 + size) {
      throw new Error(`Cannot GET ${keyName(i)}: ${response.length} bytes`);
    }
  },
  memjs: async (i: number) => {
    const { value: got } = await memjsClient.get(keyName(i));
    if (got === null || got.length !== size) {
      throw new Error(`Cannot GET ${keyName(i)} with memjs: ${got?.length}`);
    }
  },
} as const;
type Name = keyof typeof clients;
const names: Name[] = ["framewire", "memjs"];

try {
  await Promise.all(
    keyBytes.map((key, i) => framewire.request(setRequest(key, value, i))),
  );
  console.log(
    `${memcachedVersion} on 127.0.0.1, Deno ${Deno.version.deno}, ` +
      `load average ${
        Deno.loadavg()[0].toFixed(2)
      }: ${ops} GETs of ${size} B ` +
      `per run, ${depth} in flight, ${rounds} interleaved rounds`,
  );
  for (const name of names) await drive(clients[name], Math.min(ops, 10_000));
  const rates: Record<Name, number[]> = { framewire: [], memjs: [] };
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? names : [...names].reverse();
    for (const name of order) rates[name].push(await drive(clients[name], ops));
  }
  const ratios = rates.framewire.map((rate, i) => rate / rates.memjs[i]);
  const cell = (n: number) => Math.round(n).toLocaleString("en-US").padStart(9);
  const roundHeads = rates.framewire.map((_, i) =>
    `round ${i + 1}`.padStart(9)
  );
  console.log(`\n| client    | ${roundHeads.join(" | ")} | median ops/s |`);
  console.log(
    `| --------- | ${
      roundHeads.map(() => "--------:").join(" | ")
    } | -----------: |`,
  );
  for (const name of names) {
    console.log(
      `| ${name.padEnd(9)} | ${rates[name].map(cell).join(" | ")} | ${
        cell(median(rates[name])).padStart(12)
      } |`,
    );
  }
  console.log(
    `\nframewire / memjs: ${
      (median(rates.framewire) / median(rates.memjs)).toFixed(2)
    }x ` +
      `(medians), ${median(ratios).toFixed(2)}x (median of per-round ratios)`,
  );
} finally {
  await framewire.close();
  memjsClient.close();
  await memcached.stop();
}
