// serve --workers, run as real processes on this runtime: workers share the
// port (reusePort on Deno and Bun, node:cluster on Node 20), their stats are
// read per worker and summed, a dead worker is restarted, and a signal
// stops them all.
import { test } from "node:test";
import assert from "node:assert/strict";
import os from "node:os";
import { readFileSync } from "node:fs";
import process from "node:process";
import { availableNetworks } from "./_runtime.ts";
import {
  exited,
  runCli,
  type ServeProcess,
  startServeProcess,
  stopServe,
} from "./_cli_process.ts";
import { encodeFrames } from "../src/frame_encoder.ts";
import { Client } from "../src/client.ts";
import { makeTlsFixture } from "./_tls_fixture.ts";
import { requireProgram } from "./_requires.ts";
import type { Network } from "../src/transport.ts";
import {
  patternBytes,
  RawConnection,
  sameBytes,
  str,
  text,
  waitFor,
} from "./_helpers.ts";

const network = availableNetworks()[0][1];
// The TLS test needs openssl's certificates: skipped without it (failed
// under FRAMEWIRE_REQUIRE_ALL=1).
const openssl = requireProgram("openssl", import.meta.url);

interface WorkerStats {
  id: number;
  pid: number;
  stats: Record<string, number>;
  handlerTime: Record<string, number>;
}
interface StatsDocument {
  total: { stats: Record<string, number>; handlerTime: Record<string, number> };
  workers: WorkerStats[];
}

/** Starts `serve --workers` with a metrics port; resolves with both ports. */
async function startWorkers(args: string[]) {
  const server = await startServeProcess(
    ["--host", "127.0.0.1", "--port", "0", "--metrics-port", "0", ...args],
    /Metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/,
  );
  const port = Number(
    /Server listening on 127\.0\.0\.1:(\d+)( \(TLS\))? with \d+ workers/.exec(
      server.output(),
    )![1],
  );
  const metrics = `http://127.0.0.1:${server.match[1]}`;
  return { server, port, metrics };
}

async function fetchText(url: string): Promise<string> {
  const response = await fetch(url);
  assert.equal(response.status, 200, url);
  return await response.text();
}

async function fetchStats(metrics: string): Promise<StatsDocument> {
  return JSON.parse(await fetchText(`${metrics}/stats`));
}

/** Whether process `pid` is gone (a zombie waiting to be reaped counts). */
function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

/**
 * Opens `connections` connections, each sending `depth` pipelined requests
 * with payloads of its own; checks every answer, in order.
 */
async function driveLoad(
  net: Network,
  port: number,
  connections: number,
  depth: number,
): Promise<void> {
  await Promise.all(
    Array.from({ length: connections }, async (_, c) => {
      const raw = await RawConnection.open(net, port);
      const payloads = Array.from(
        { length: depth },
        (_, i) => patternBytes(16 + ((c * depth + i) % 200), c * depth + i),
      );
      raw.write(encodeFrames(payloads));
      await waitFor(() => raw.frames.length === depth, "the answers");
      payloads.forEach((payload, i) =>
        assert.ok(sameBytes(raw.frames[i], payload), `answer ${c}/${i}`)
      );
      raw.transport.close();
    }),
  );
}

/** Stops the server and checks that it and every worker are gone. */
async function stopAll(server: ServeProcess, pids: number[]): Promise<void> {
  assert.equal(await stopServe(server), 0);
  await waitFor(() => pids.every(isGone), "every worker to exit", 10_000);
}

test("cli: serve --workers 2 shares the port between two workers and sums their stats", async () => {
  const { server, port, metrics } = await startWorkers(["--workers", "2"]);
  let pids: number[] = [];
  try {
    await driveLoad(network, port, 24, 8);
    const doc = await fetchStats(metrics);
    pids = doc.workers.map((w) => w.pid);
    assert.deepEqual(doc.workers.map((w) => w.id), [1, 2]);
    assert.equal(new Set(pids).size, 2);
    assert.ok(!pids.includes(server.child.pid!), "workers are other processes");
    for (const worker of doc.workers) {
      assert.ok(
        worker.stats.totalConnections > 0,
        `worker ${worker.id} served connections: ${JSON.stringify(doc)}`,
      );
    }
    const sum = (key: string) =>
      doc.workers.reduce((n, w) => n + w.stats[key], 0);
    assert.equal(doc.total.stats.totalConnections, 24);
    assert.equal(sum("totalConnections"), 24);
    assert.equal(doc.total.stats.framesIn, 24 * 8);
    assert.equal(sum("framesIn"), 24 * 8);
    assert.equal(doc.total.stats.framesOut, 24 * 8);
    const summed = await fetchText(`${metrics}/metrics`);
    assert.match(summed, /^framewire_frames_received_total 192$/m);
    assert.match(summed, /^framewire_workers 2$/m);
    assert.match(summed, /^framewire_worker_restarts_total 0$/m);
    for (const worker of doc.workers) {
      const own = await fetchText(`${metrics}/workers/${worker.id}/metrics`);
      assert.match(
        own,
        new RegExp(
          `^framewire_connections_accepted_total\\{transport="tcp"\\} ${worker.stats.totalConnections}$`,
          "m",
        ),
      );
    }
    const missing = await fetch(`${metrics}/workers/3/metrics`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
    // A connection still open when the signal comes is answered, then closed.
    const open = await RawConnection.open(network, port);
    open.write(encodeFrames([text("last")]));
    await waitFor(() => open.frames.length === 1, "the answer");
    const stopped = stopAll(server, pids);
    await open.waitClosed();
    assert.equal(str(open.frames[0]), "last");
    await stopped;
  } finally {
    if (server.child.exitCode === null) server.child.kill("SIGKILL");
  }
  assert.match(
    server.output(),
    /Server stopped: 25 connections, 193 requests served by 2 workers/,
  );
});

const workersTls =
  "cli: serve --workers 2 with TLS: each worker serves TLS on the shared port";
test(workersTls, { skip: openssl.skip }, async () => {
  openssl.check();
  const fixture = await makeTlsFixture();
  const { server, port, metrics } = await startWorkers([
    "--workers",
    "2",
    "--tls-cert",
    fixture.certPath,
    "--tls-key",
    fixture.keyPath,
  ]);
  try {
    assert.match(server.output(), / \(TLS\) with 2 workers/);
    const clients = await Promise.all(
      Array.from({ length: 24 }, async () =>
        new Client(
          await network.connect({
            host: "127.0.0.1",
            port,
            tls: { ca: fixture.ca, serverName: "localhost" },
          }),
        )),
    );
    await Promise.all(clients.map(async (client, c) => {
      const payloads = Array.from(
        { length: 4 },
        (_, i) => patternBytes(100 + i, c * 4 + i),
      );
      const answers = await Promise.all(payloads.map((p) => client.request(p)));
      answers.forEach((answer, i) => assert.ok(sameBytes(answer, payloads[i])));
      await client.close();
    }));
    const doc = await fetchStats(metrics);
    assert.equal(doc.total.stats.framesIn, 96);
    for (const worker of doc.workers) {
      assert.ok(worker.stats.totalConnections > 0, JSON.stringify(doc));
    }
    await stopAll(server, doc.workers.map((w) => w.pid));
  } finally {
    if (server.child.exitCode === null) server.child.kill("SIGKILL");
    fixture.remove();
  }
});

test("cli: serve --workers restarts a worker that dies; the port keeps serving", async () => {
  const { server, port, metrics } = await startWorkers(["--workers", "2"]);
  try {
    const before = await fetchStats(metrics);
    const victim = before.workers[0];
    process.kill(victim.pid, "SIGKILL");
    await waitFor(
      () =>
        /Worker 1 \(pid \d+\) exited with signal SIGKILL; restarting it in \d+ ms/
          .test(server.output()),
      "the restart notice",
    );
    await waitFor(
      () => /Worker 1 restarted \(pid \d+\)/.test(server.output()),
      "the restart",
      20_000,
    );
    const after = await fetchStats(metrics);
    assert.equal(after.workers.length, 2);
    assert.notEqual(after.workers[0].pid, victim.pid);
    assert.equal(after.workers[1].pid, before.workers[1].pid);
    assert.ok(isGone(victim.pid));
    await driveLoad(network, port, 16, 4);
    const summed = await fetchText(`${metrics}/metrics`);
    assert.match(summed, /^framewire_worker_restarts_total 1$/m);
    assert.match(summed, /^framewire_frames_received_total 64$/m);
    await stopAll(server, after.workers.map((w) => w.pid));
  } finally {
    if (server.child.exitCode === null) server.child.kill("SIGKILL");
  }
});

test("cli: serve --workers auto starts one worker per CPU", async () => {
  const cpus = os.availableParallelism?.() ?? os.cpus().length;
  const { server, metrics } = await startWorkers(["--workers", "auto"]);
  try {
    assert.match(server.output(), new RegExp(`with ${cpus} workers`));
    const doc = await fetchStats(metrics);
    assert.equal(doc.workers.length, cpus);
    await stopAll(server, doc.workers.map((w) => w.pid));
  } finally {
    if (server.child.exitCode === null) server.child.kill("SIGKILL");
  }
});

test("cli: workers log JSON lines that say which worker wrote them", async () => {
  const { server, port, metrics } = await startWorkers([
    "--workers",
    "2",
    "--log-format",
    "json",
    "--max-frame-size",
    "16",
  ]);
  const raw = await RawConnection.open(network, port);
  raw.write(encodeFrames([new Uint8Array(100)])); // over --max-frame-size
  await raw.waitClosed();
  await waitFor(
    () => server.output().includes('"reason":"protocol_error"'),
    "the log line",
  );
  const pids = (await fetchStats(metrics)).workers.map((w) => w.pid);
  await stopAll(server, pids);
  const events = server.output().trim().split("\n").map((line) =>
    JSON.parse(line)
  );
  const closed = events.find((e) => e.reason === "protocol_error");
  assert.ok([1, 2].includes(closed.worker), JSON.stringify(closed));
  assert.match(closed.error, /length 100 exceeds maxFrameSize 16/);
  const primary = events.filter((e) => e.worker === undefined);
  assert.deepEqual(
    primary.map((e) => e.event),
    ["listening", "metrics", "draining", "shutdown", "stopped"],
  );
  assert.equal(primary[0].workers, 2);
  assert.equal(primary[4].connections, 1);
});

test("cli: a second signal while workers drain kills them and exits at once", async () => {
  const { server, port, metrics } = await startWorkers([
    "--workers",
    "2",
    "--drain-timeout",
    "60s",
  ]);
  const pids = (await fetchStats(metrics)).workers.map((w) => w.pid);
  const exit = exited(server.child);
  let exitCode: number | null | undefined;
  exit.then((code) => (exitCode = code));
  // A peer that reads nothing keeps its worker's drain waiting on unsent
  // responses, for up to --drain-timeout.
  const raw = await RawConnection.open(network, port);
  raw.transport.pause();
  const payload = patternBytes(2 * 1024 * 1024, 1);
  for (let i = 0; i < 24; i++) raw.write(encodeFrames([payload]));
  await new Promise((resolve) => setTimeout(resolve, 300));
  process.kill(server.child.pid!, "SIGTERM");
  await waitFor(() => server.output().includes("Shutting down"), "shutdown");
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(exitCode, undefined, "still draining after the first signal");
  process.kill(server.child.pid!, "SIGTERM");
  await waitFor(() => exitCode !== undefined, "the exit", 10_000);
  assert.match(server.output(), /Second signal: killing the workers/);
  if (exitCode !== null) assert.equal(exitCode, 1);
  await waitFor(() => pids.every(isGone), "every worker to exit", 10_000);
  raw.transport.close();
});

test("cli: workers whose primary is killed stop on their own", async () => {
  const { server, port, metrics } = await startWorkers(["--workers", "2"]);
  const pids = (await fetchStats(metrics)).workers.map((w) => w.pid);
  const raw = await RawConnection.open(network, port);
  raw.write(encodeFrames([text("before")]));
  await waitFor(() => raw.frames.length === 1, "the answer");
  const exit = exited(server.child);
  process.kill(server.child.pid!, "SIGKILL");
  await exit;
  // Each worker sees its control connection close, drains and exits: the
  // open connection is closed by its worker.
  await raw.waitClosed();
  await waitFor(() => pids.every(isGone), "every worker to exit", 15_000);
});

test("cli: serve --workers fails with exit 1 when the port is taken", async () => {
  const holder = await network.listen(
    { host: "127.0.0.1", port: 0 },
    (t) => t.close(),
  );
  try {
    const run = await runCli([
      "serve",
      "--host",
      "127.0.0.1",
      "--port",
      String(holder.addr.port),
      "--workers",
      "2",
    ]);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(
      run.stderr,
      /error: Cannot start worker 1: it exited with code 1 before listening/,
    );
  } finally {
    holder.close();
  }
});

test("cli: bad --workers values exit 2 with a clear error", async () => {
  for (
    const [args, message] of [
      [["--workers", "0"], /option '--workers' expects 'auto' or a number/],
      [["--workers", "two"], /option '--workers' expects 'auto' or a number/],
      [["--workers", "1000"], /from 1 to 256, got '1000'/],
      [
        ["--workers", "2", "--unix", "/tmp/framewire-workers.sock"],
        /option '--workers' needs a TCP port/,
      ],
    ] as const
  ) {
    const run = await runCli(["serve", ...args]);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, message);
  }
});
