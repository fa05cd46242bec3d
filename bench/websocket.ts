// The WebSocket gateway against TCP (issue 18). On each runtime in turn, one
// `serve --port 0 --ws-port 0` and one raw WebSocket echo with no framewire
// (bench/_ws_echo_server.ts), both on that runtime; in each round, back to
// back, framewire's load tester on the same runtime at -c 50 -P 32, every
// response verified:
//
// 1. `bench --port P` against the TCP port,
// 2. `bench --ws URL` against the gateway,
// 3. `bench --ws URL` against the raw echo: what the runtime's WebSocket stack
//    and the load tester's WebSocket client cost without framewire.
//
// Reports the medians of the rounds, WS/TCP and gateway/raw (medians of the
// rounds' own ratios). Goal: the gateway at 0.5x the TCP rate or more.
//
//   deno task bench:ws [--rounds 3] [--seconds 5] [--runtimes deno,bun,node]
//     [-c 50] [-P 32] [--pin] [--json]
//
// Everything targets 127.0.0.1; each server is stopped by its PID, and a
// watchdog stops them and exits 1 if the run overstays its budget.

import {
  flag,
  loadTest,
  median,
  pinned,
  root,
  type Running,
  serveOn,
  type ServerSpec,
  start,
  stop,
  treeCpuSeconds,
} from "./_bench_servers.ts";
import { transpileForNode } from "./_transpile_for_node.ts";

const rounds = Number(flag("rounds") ?? 3);
const seconds = Number(flag("seconds") ?? 5);
const connections = flag("c") ?? "50";
const pipeline = flag("P") ?? "32";
const runtimes = (flag("runtimes") ?? "deno,bun,node").split(",");
const TARGETS = ["tcp", "ws", "raw"] as const;
type Target = typeof TARGETS[number];
// --pin: the servers on CPU 1 and the load tester on CPU 0 (see pinned()).

/** What one load test measured. */
interface Sample {
  rps: number;
  /** The server's CPU time over the load test's wall time, in cores. */
  serverCpu: number;
  errors: number;
}

let echoForNode: string | undefined;

/** The raw WebSocket echo on `runtime`, on CPU 1 with --pin. */
async function rawEcho(runtime: string): Promise<ServerSpec> {
  const script = "bench/_ws_echo_server.ts";
  const name = `${runtime} raw echo`;
  if (runtime === "deno") {
    return { name, ...pinned(1, "deno", ["run", "-A", script]) };
  }
  if (runtime === "bun") return { name, ...pinned(1, "bun", ["run", script]) };
  echoForNode ??= await transpileForNode(
    root,
    script,
    await Deno.makeTempDir({ prefix: "framewire-bench-ws-" }),
  );
  return { name, ...pinned(1, "node", [echoForNode]) };
}

/** The number after `label` in a server's output. */
function portAfter(output: string, label: RegExp): number {
  const match = output.match(label);
  if (match === null) throw new Error(`find the port: ${output}`);
  return Number(match[1]);
}

/**
 * Runs the load tester on `runtime` against `target`, served by `serverPid`;
 * a failure is an error.
 */
async function measure(
  runtime: string,
  target: number | string,
  serverPid: number,
): Promise<Sample> {
  const cpuBefore = await treeCpuSeconds(serverPid);
  const startedAt = performance.now();
  const { result, success } = await loadTest(target, [
    "-c",
    connections,
    "-P",
    pipeline,
    "-d",
    String(seconds),
    "-w",
    "1",
  ], runtime);
  const wallSeconds = (performance.now() - startedAt) / 1000;
  const cpu = (await treeCpuSeconds(serverPid)) - cpuBefore;
  const errors = result.errorCount ?? 1;
  return {
    rps: result.requestsPerSecond ?? 0,
    serverCpu: cpu / wallSeconds,
    errors: errors === 0 && !success ? 1 : errors,
  };
}

const running = new Set<Running>();
/** Starts `spec` and keeps it for the watchdog. */
async function launch(spec: ServerSpec, ready?: RegExp): Promise<Running> {
  const server = await start(spec, ready);
  running.add(server);
  return server;
}
async function halt(server: Running): Promise<void> {
  running.delete(server);
  await stop(server);
}

// Each load test runs 1 s of warm-up and `seconds`; 30 s more each for
// starting, connecting and stopping is generous.
const budgetMs = runtimes.length * rounds * TARGETS.length *
  (seconds + 1 + 30) * 1000;
const watchdog = setTimeout(() => {
  console.error(`bench:ws: over the budget of ${budgetMs / 1000} s: stopping`);
  for (const server of running) server.child.kill("SIGKILL");
  Deno.exit(1);
}, budgetMs);

const samples = new Map<string, Sample[]>();
const failed = new Map<string, string>();
console.error(
  `bench:ws: ${
    runtimes.join(", ")
  }; ${rounds} rounds of ${seconds} s, -c ${connections} -P ${pipeline}, load tester on the server's runtime`,
);
for (const runtime of runtimes) {
  let framewire: Running | undefined;
  let raw: Running | undefined;
  try {
    framewire = await launch(
      await serveOn(runtime, `${runtime} serve`, [
        "--port",
        "0",
        "--ws-port",
        "0",
      ]),
      /WebSocket gateway on ws:\/\/[^\s]+\//,
    );
    raw = await launch(await rawEcho(runtime));
    const tcpPort = portAfter(framewire.output(), /listening on [^\s]*:(\d+)/i);
    const wsPort = portAfter(
      framewire.output(),
      /gateway on ws:\/\/[^\s]*:(\d+)\//,
    );
    const rawPort = portAfter(raw.output(), /listening on [^\s]*:(\d+)/i);
    const targets: Record<Target, [number | string, number]> = {
      tcp: [tcpPort, framewire.pid],
      ws: [`ws://127.0.0.1:${wsPort}/`, framewire.pid],
      raw: [`ws://127.0.0.1:${rawPort}/`, raw.pid],
    };
    for (let round = 1; round <= rounds; round++) {
      for (const target of TARGETS) {
        const sample = await measure(runtime, ...targets[target]);
        const key = `${runtime} ${target}`;
        samples.set(key, [...samples.get(key) ?? [], sample]);
        console.error(
          `round ${round} ${key}: ${Math.round(sample.rps)} req/s, server ${
            sample.serverCpu.toFixed(2)
          } cores${sample.errors > 0 ? `, ${sample.errors} errors` : ""}`,
        );
      }
    }
  } catch (error) {
    failed.set(runtime, error instanceof Error ? error.message : String(error));
    console.error(`bench:ws: ${runtime} failed: ${failed.get(runtime)}`);
  } finally {
    if (raw !== undefined) await halt(raw);
    if (framewire !== undefined) await halt(framewire);
  }
}
clearTimeout(watchdog);

const rows = runtimes.filter((r) => !failed.has(r)).map((runtime) => {
  const of = (target: Target) => samples.get(`${runtime} ${target}`)!;
  const rps = (target: Target) => of(target).map((s) => s.rps);
  // Each round ran the three back to back: the median of the rounds' own
  // ratios is steadier than the ratio of medians on a noisy machine.
  const ratio = (a: Target, b: Target) =>
    Number(median(rps(a).map((x, i) => x / rps(b)[i])).toFixed(3));
  return {
    runtime,
    tcp: Math.round(median(rps("tcp"))),
    ws: Math.round(median(rps("ws"))),
    raw: Math.round(median(rps("raw"))),
    wsOverTcp: ratio("ws", "tcp"),
    wsOverRaw: ratio("ws", "raw"),
    serverCpu: Object.fromEntries(
      TARGETS.map((t) => [
        t,
        Number(median(of(t).map((s) => s.serverCpu)).toFixed(2)),
      ]),
    ) as Record<Target, number>,
    errors: TARGETS.reduce(
      (sum, t) => sum + of(t).reduce((n, s) => n + s.errors, 0),
      0,
    ),
  };
});
const errors = rows.reduce((n, r) => n + r.errors, 0);

if (Deno.args.includes("--json")) {
  console.log(JSON.stringify({
    rounds,
    seconds,
    connections,
    pipeline,
    rows,
    failed: Object.fromEntries(failed),
    errors,
  }));
} else {
  const count = (n: number) => n.toLocaleString("en-US");
  console.log(
    [
      "| runtime | TCP req/s | WS gateway req/s | WS / TCP | >= 0.5x | raw WS echo req/s | gateway / raw | server CPU, TCP / gateway / raw | errors |",
      "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
      ...rows.map((r) =>
        `| ${r.runtime} | ${count(r.tcp)} | ${count(r.ws)} | ${
          r.wsOverTcp.toFixed(3)
        }x | ${r.wsOverTcp >= 0.5 ? "yes" : "no"} | ${count(r.raw)} | ${
          r.wsOverRaw.toFixed(3)
        }x | ${
          TARGETS.map((t) => r.serverCpu[t].toFixed(2)).join(" / ")
        } cores | ${r.errors} |`
      ),
      ...[...failed].map(([runtime, why]) => `${runtime} failed: ${why}`),
      `response errors: ${errors}`,
    ].join("\n"),
  );
}
if (errors > 0 || failed.size > 0) Deno.exit(1);
