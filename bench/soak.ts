/**
 * A bounded soak test of the framewire server on Deno, Bun and Node:
 *
 *   deno task soak [--seconds 60] [--runtime deno|bun|node|all] [--seed S] [--warmup S] [--json]
 *
 * For each runtime, one after another: starts `serve --host 127.0.0.1
 * --port 0` as a child process (Node runs it transpiled into a temporary
 * folder), then drives it from this process with a mixed load
 * (bench/_soak_load.ts): 8 framewire clients sending bursts of 1-64
 * pipelined requests of 0 B-64 KiB, a client sending 1-8 MiB frames and now
 * and then a 32 MiB one, and two injectors of faults on raw connections
 * (bench/_soak_faults.ts): connect and close, whole frames then half a frame
 * then close or FIN, a reset while a large answer is on its way, and a header
 * over maxFrameSize after whole frames. Every answer is checked byte for
 * byte and in order; where a fault still owes answers, they are checked too.
 *
 * The server is measured from outside through /proc (bench/_soak_proc.ts):
 * its TCP connections (its socket descriptors on its port, other than the
 * listener) and its RSS. The run: warm-up (the same mix, 2-5 s), idle until
 * the connections are back to the count before any load, RSS baseline; load
 * for --seconds in two halves, each followed by idleness (at most 10 s for
 * the connections to come back) and an RSS sample; one fresh client must be
 * answered; SIGTERM must stop the server with exit code 0 within 10 s.
 *
 * It fails (exit code 1) on any error seen (a missing, wrong or reordered
 * answer, a refused connection, a fault not answered or not closed as the
 * protocol says), on connections not back to the baseline, on an RSS leak
 * (RSS_RULE below), on a server that died or did not stop cleanly, or when
 * the server's counts disagree with the driver's: protocol errors logged
 * against bad headers sent, connections and requests in its "Server stopped"
 * line against those the driver made. Each
 * runtime has a hard deadline of --seconds + 60 s (+ --warmup when given),
 * past which its server is killed and the soak fails. Everything targets 127.0.0.1.
 *
 * @module
 */
import { connect } from "../mod.ts";
import { denoNetwork } from "../src/adapters/deno.ts";
import {
  FAULT_KINDS,
  type LoadCounters,
  newCounters,
  randomPool,
  sameBytes,
} from "./_soak_common.ts";
import { runLoad } from "./_soak_load.ts";
import {
  countSockets,
  killServer,
  removeTempSync,
  rssBytes,
  type Runtime,
  type ServerProcess,
  startServer,
  stopServer,
} from "./_soak_proc.ts";
import { formatResult, type RuntimeResult } from "./_soak_report.ts";

const MIB = 1024 * 1024;
/**
 * The RSS rule. JS runtimes keep memory their heap and allocator once grew
 * to, so RSS is not compared with the server's size at start but with its
 * baseline: its size after a warm-up of the same mix (which starts with the
 * mix's largest memory need at once: a 32 MiB and two 16 MiB frames beside
 * full pipelines) and a second of idleness. The load runs in two halves; RSS
 * is sampled after the same idleness at half-time (mid) and at the end
 * (after). A leak is RSS after > max(baseline x 1.5, baseline + 64 MiB) while
 * still growing: after > mid + 32 MiB.
 *
 * Why both: on Deno the RSS after the warm-up was 150-170 MiB, and over the
 * first 15-30 s of load it rose in steps to a plateau of 195-232 MiB where it
 * stayed for 2 million more requests (Node: 155 to 180 MiB; Bun gives memory
 * back). The first bound alone sits on that plateau; the second alone would
 * miss a leak spread thinly. A leak that grows with requests fails both: past
 * 64 MiB over the load it still grows by about half that in the second half
 * (on a 60 s run, about 60 bytes per request, or a connection's buffers, or
 * one 1 MiB buffer per large frame).
 */
const RSS_FACTOR = 1.5;
const RSS_SLACK = 64 * MIB;
const RSS_GROWTH = 32 * MIB;
const RSS_RULE =
  "leak if RSS after > max(baseline x 1.5, baseline + 64 MiB) and after > mid + 32 MiB";
/** How long the connections may take to return to the baseline. */
const SETTLE_MS = 10_000;
/** Idle time before each RSS sample. */
const IDLE_MS = 1_000;

const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

function usage(message: string): never {
  console.error(`error: ${message}`);
  console.error(
    "Usage: deno run -A bench/soak.ts [--seconds N] [--runtime deno|bun|node|all] [--seed S] [--warmup S] [--json]",
  );
  Deno.exit(2);
}

function parseFlags(args: string[]) {
  const flags = {
    seconds: 60,
    runtimes: ["deno", "bun", "node"] as Runtime[],
    seed: Math.floor(Math.random() * 0x7fff_ffff),
    warmup: null as number | null,
    json: false,
  };
  for (let i = 0; i < args.length; i++) {
    const name = args[i];
    if (name === "--") continue;
    if (name === "--json") {
      flags.json = true;
      continue;
    }
    const value = args[++i];
    if (value === undefined) usage(`${name} needs a value`);
    const number = Number(value);
    switch (name) {
      case "--seconds":
        if (!(number > 0 && number <= 3600)) {
          usage("--seconds takes 0 < N <= 3600");
        }
        flags.seconds = number;
        break;
      case "--warmup":
        if (!(number >= 1 && number <= 60)) {
          usage("--warmup takes 1 <= S <= 60");
        }
        flags.warmup = number;
        break;
      case "--seed":
        if (!Number.isInteger(number)) usage("--seed takes an integer");
        flags.seed = number;
        break;
      case "--runtime":
        if (value === "all") break;
        if (!["deno", "bun", "node"].includes(value)) {
          usage("--runtime takes deno, bun, node or all");
        }
        flags.runtimes = [value as Runtime];
        break;
      default:
        usage(`unknown flag '${name}'`);
    }
  }
  return flags;
}

const flags = parseFlags(Deno.args);
/** Warm-up: a tenth of the load, 2 to 5 s. */
const warmupSeconds = flags.warmup ??
  Math.min(5, Math.max(2, Math.round(flags.seconds / 10)));
const progress = (line: string) => console.error(`soak: ${line}`);
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until the server holds `target` connections or fewer; resolves with the count and the wait. */
async function settle(
  server: ServerProcess,
  target: number,
): Promise<{ connections: number; fds: number; ms: number }> {
  const started = performance.now();
  while (true) {
    // A server gone has no /proc entry: NaN (its death fails the run anyway).
    const count = await countSockets(server).catch(() => ({
      connections: NaN,
      fds: NaN,
    }));
    const ms = performance.now() - started;
    if (!(count.connections > target) || ms > SETTLE_MS) {
      return { connections: count.connections, fds: count.fds, ms };
    }
    await delay(50);
  }
}

/** Checks that a new client is answered: an empty request and a 64 KiB one. */
async function freshClientCheck(port: number): Promise<string> {
  try {
    await using client = await connect({
      host: "127.0.0.1",
      port,
      network: denoNetwork,
      requestTimeout: 10_000,
    });
    const requests = [new Uint8Array(0), randomPool(7).subarray(0, 65536)];
    const answers = await Promise.all(requests.map((r) => client.request(r)));
    const ok = answers.every((a, i) => sameBytes(a, requests[i]));
    return ok ? "answered" : "wrong answer";
  } catch (error) {
    return `failed: ${error instanceof Error ? error.message : error}`;
  }
}

async function soak(runtime: Runtime): Promise<RuntimeResult> {
  let phase = "starting the server";
  let server: ServerProcess | null = null;
  const deadlineSeconds = flags.seconds + 60 + (flags.warmup ?? 0);
  const deadline = setTimeout(() => {
    console.error(
      `FAIL ${runtime}: hard deadline of ${deadlineSeconds} s passed while ${phase}; killing the server`,
    );
    if (server !== null) {
      killServer(server);
      removeTempSync(server);
      console.error(server.tail.join("\n"));
    }
    Deno.exit(1);
  }, deadlineSeconds * 1000);
  try {
    server = await startServer(runtime, root);
    const running = server;
    progress(
      `${runtime}: server pid ${running.pid} on 127.0.0.1:${running.port}`,
    );
    const pool = randomPool(flags.seed);
    const counters: LoadCounters = newCounters();
    const aborted = () => running.exit !== null;
    const before = await countSockets(running);
    const rssStart = await rssBytes(running);

    phase = "warming up";
    progress(`${runtime}: warm-up ${warmupSeconds} s`);
    await runLoad({
      port: running.port,
      seconds: warmupSeconds,
      seed: flags.seed ^ 0x5eed,
      pool,
      counters,
      memoryPeakFirst: true,
      aborted,
    });
    phase = "waiting for the warm-up's connections to close";
    const warm = await settle(running, before.connections);
    await delay(IDLE_MS);
    const rssBaseline = await rssBytes(running).catch(() => 0);
    const warmupRequests = counters.requests;

    phase = "running the load";
    progress(`${runtime}: load ${flags.seconds} s (seed ${flags.seed})`);
    let peakConnections = 0;
    let peakRss = rssBaseline;
    let sampling = true;
    const sampler = (async () => {
      while (sampling && !aborted()) {
        const count = await countSockets(running).catch(() => null);
        const rss = await rssBytes(running).catch(() => 0);
        peakConnections = Math.max(peakConnections, count?.connections ?? 0);
        peakRss = Math.max(peakRss, rss);
        await delay(250);
      }
    })();
    // The load runs in two halves with an idle pause between them, for the
    // RSS at half-time (see RSS_RULE).
    let loadMs = 0;
    const half = async (n: number) => {
      phase = `running the load (half ${n} of 2)`;
      const started = performance.now();
      await runLoad({
        port: running.port,
        seconds: flags.seconds / 2,
        seed: flags.seed + n,
        pool,
        counters,
        memoryPeakFirst: false,
        aborted,
      });
      loadMs += performance.now() - started;
    };
    await half(1);
    phase = "waiting for the first half's connections to close";
    const mid = await settle(running, before.connections);
    await delay(IDLE_MS);
    const rssMid = await rssBytes(running).catch(() => 0);
    await half(2);
    sampling = false;
    await sampler;

    phase = "waiting for the load's connections to close";
    const after = await settle(running, before.connections);
    await delay(IDLE_MS);
    const rssAfter = await rssBytes(running).catch(() => 0);

    phase = "checking a fresh client";
    const freshClient = aborted()
      ? "server gone"
      : await freshClientCheck(running.port);
    const diedEarly = running.exit;

    phase = "stopping the server";
    progress(`${runtime}: stopping the server (SIGTERM)`);
    const stop = await stopServer(running);

    const rssLimit = Math.max(
      rssBaseline * RSS_FACTOR,
      rssBaseline + RSS_SLACK,
    );
    const result: RuntimeResult = {
      runtime,
      pid: running.pid,
      port: running.port,
      seed: flags.seed,
      warmupSeconds,
      seconds: flags.seconds,
      loadSeconds: loadMs / 1000,
      warmupRequests,
      counters,
      connections: {
        before: before.connections,
        afterWarmup: warm.connections,
        mid: mid.connections,
        peak: peakConnections,
        after: after.connections,
        settleMs: after.ms,
      },
      fds: { before: before.fds, after: after.fds },
      rss: {
        start: rssStart,
        baseline: rssBaseline,
        mid: rssMid,
        peak: peakRss,
        after: rssAfter,
        limit: rssLimit,
        growthLimit: rssMid + RSS_GROWTH,
        rule: RSS_RULE,
      },
      freshClient,
      server: {
        exitCode: stop.code,
        signal: stop.signal,
        stopMs: stop.ms,
        diedEarly: diedEarly !== null,
        stoppedLine: running.stoppedLine,
        protocolErrorLines: running.protocolErrorLines,
        otherErrorLines: running.otherErrorLines,
      },
      failures: [],
      tail: [],
      pass: false,
    };
    result.failures = judge(result);
    result.pass = result.failures.length === 0;
    if (!result.pass) result.tail = running.tail;
    return result;
  } finally {
    clearTimeout(deadline);
    if (server !== null && server.exit === null) killServer(server);
  }
}

/** Every reason the run failed; none means it passed. */
function judge(r: RuntimeResult): string[] {
  const failures: string[] = [];
  const c = r.counters;
  const errors = Object.values(c.errors).reduce((n, k) => n + k, 0);
  if (errors > 0) failures.push(`${errors} errors seen`);
  if (c.verified !== c.requests) {
    failures.push(`${c.requests - c.verified} of ${c.requests} requests lost`);
  }
  if (r.server.diedEarly) failures.push("the server exited during the run");
  if (r.connections.after > r.connections.before) {
    failures.push(
      `connections leaked: ${r.connections.after} open ${
        (SETTLE_MS / 1000).toFixed(0)
      } s after the load, ${r.connections.before} before`,
    );
  }
  if (r.rss.after > r.rss.limit && r.rss.after > r.rss.growthLimit) {
    failures.push(
      `RSS leak: ${(r.rss.after / MIB).toFixed(1)} MiB after, over ${
        (r.rss.limit / MIB).toFixed(1)
      } MiB (baseline bound) and ${
        (r.rss.growthLimit / MIB).toFixed(1)
      } MiB (half-time + 32 MiB)`,
    );
  }
  if (r.freshClient !== "answered") {
    failures.push(`fresh client after the load: ${r.freshClient}`);
  }
  if (r.server.exitCode !== 0) {
    failures.push(
      r.server.exitCode === null
        ? `server did not exit within 10 s of SIGTERM (killed)`
        : `server exited with code ${r.server.exitCode} after SIGTERM`,
    );
  }
  const served = /(\d+) connections, (\d+) requests served/.exec(
    r.server.stoppedLine ?? "",
  );
  if (served !== null) {
    // The driver's connections: clients, raw ones and the fresh client.
    const opened = c.clientConnections +
      FAULT_KINDS.reduce((n, k) => n + c.faults[k], 0) + 1;
    if (Number(served[1]) !== opened) {
      failures.push(
        `server counted ${served[1]} connections; the driver opened ${opened}`,
      );
    }
    // Answered frames, at least; at most every whole frame sent (the fresh client's 2 included).
    const least = c.verified + c.faultAnswersVerified + 2;
    const most = c.requests + c.rawFramesSent + 2;
    const requests = Number(served[2]);
    if (requests < least || requests > most) {
      failures.push(
        `server counted ${requests} requests; the driver sent ${most} whole frames and had ${least} answered`,
      );
    }
  }
  if (r.server.protocolErrorLines !== c.faults["bad-header"]) {
    failures.push(
      `server logged ${r.server.protocolErrorLines} protocol errors for ${
        c.faults["bad-header"]
      } bad headers sent`,
    );
  }
  return failures;
}

const results: RuntimeResult[] = [];
for (const runtime of flags.runtimes) {
  try {
    results.push(await soak(runtime));
  } catch (error) {
    console.error(
      `FAIL ${runtime}: ${error instanceof Error ? error.stack : error}`,
    );
    Deno.exit(1);
  }
  if (!flags.json) console.log(formatResult(results.at(-1)!));
}
const pass = results.every((r) => r.pass);
if (flags.json) {
  console.log(JSON.stringify({
    seed: flags.seed,
    warmupSeconds,
    seconds: flags.seconds,
    faultKinds: FAULT_KINDS,
    rssRule: RSS_RULE,
    runtimes: results,
    pass,
  }));
} else {
  const verdicts = results.map((r) =>
    `${r.runtime} ${r.pass ? "pass" : "FAIL"}`
  );
  console.log(
    `${
      pass ? "PASS" : "FAIL"
    }: framewire soak, ${flags.seconds} s per runtime, seed ${flags.seed}: ${
      verdicts.join(", ")
    }`,
  );
}
Deno.exit(pass ? 0 : 1);
