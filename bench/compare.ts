// Compares framewire's throughput with another checkout of it (an earlier
// commit, say), side by side: each runtime's server from both trees, driven
// by lpload in interleaved rounds, with the median req/s of each and their
// ratio. A change may not make an existing scenario slower; this measures it.
//
//   git worktree add /tmp/framewire-base COMMIT
//   deno task bench:compare --baseline /tmp/framewire-base [--rounds 3] [--seconds 5]
//     [--only deno,bun,node] [--scenario 50x32|50x1] [--pin] [--tools DIR] [--json]
//
// Scenarios: 50 connections x 32 pipelined requests, and 50 x 1, 16-byte
// payloads, every response verified. On Node both trees run transpiled from
// source (src/node_main.ts). Everything targets 127.0.0.1 and stops by itself.

import { transpileForNode } from "./_transpile_for_node.ts";
import {
  findTools,
  flag,
  median,
  root,
  type ServerSpec,
  start,
  stop,
  treeCpuSeconds,
} from "./_bench_servers.ts";

const baseline = flag("baseline")?.replace(/\/$/, "");
if (baseline === undefined) {
  console.error(
    "Usage: deno task bench:compare --baseline DIR [--rounds 3] [--seconds 5]",
  );
  Deno.exit(2);
}
const rounds = Number(flag("rounds") ?? 3);
const seconds = Number(flag("seconds") ?? 5);
const runtimes = (flag("only") ?? "deno,bun,node").split(",");
const PORT = 7660;
// --pin: the server on CPU 1 and lpload on CPU 0 (taskset), so they do not
// trade places between rounds.
const pin = Deno.args.includes("--pin");
const pinned = (cpu: number, command: string, args: string[]) =>
  pin
    ? { command: "taskset", args: ["-c", String(cpu), command, ...args] }
    : { command, args };

const tools = await findTools(flag("tools"));
if (tools === null) {
  console.error("error: bench:compare needs lpload (make -C ../shared/tools)");
  Deno.exit(1);
}

/** The serve command of the tree at `dir` on `runtime`. */
async function serverSpec(
  tree: "baseline" | "current",
  dir: string,
  runtime: string,
): Promise<ServerSpec> {
  const serve = ["serve", "--host", "127.0.0.1", "--port", String(PORT)];
  const name = `${runtime} ${tree}`;
  if (runtime === "deno") {
    return {
      name,
      ...pinned(1, "deno", ["run", "-A", `${dir}/mod.ts`, ...serve]),
    };
  }
  if (runtime === "bun") {
    return {
      name,
      ...pinned(1, "bun", ["run", `${dir}/src/bun_main.ts`, ...serve]),
    };
  }
  const out = await Deno.makeTempDir({ prefix: `framewire-${tree}-` });
  const main = await transpileForNode(dir, "src/node_main.ts", out);
  return { name, ...pinned(1, "node", [main, ...serve]) };
}

const scenarios = [
  { id: "50x32", args: ["-c", "50", "-P", "32"] },
  { id: "50x1", args: ["-c", "50", "-P", "1"] },
].filter((s) => flag("scenario") === undefined || s.id === flag("scenario"));

/** req/s, and the server's CPU time per request in nanoseconds. */
async function measure(
  args: string[],
  serverPid: number,
): Promise<{ rps: number; cpuNs: number; errors: number }> {
  const load = pinned(0, `${tools}/lpload`, [
    ...args,
    "-d",
    String(seconds),
    "-p",
    String(PORT),
    "--verify",
    "--json",
  ]);
  const cpuBefore = await treeCpuSeconds(serverPid);
  const out = await new Deno.Command(load.command, {
    args: load.args,
    stdout: "piped",
    stderr: "null",
  }).output();
  const cpu = (await treeCpuSeconds(serverPid)) - cpuBefore;
  const line = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1);
  const result = JSON.parse(line || "{}");
  const requests = (result.rps ?? 0) * seconds;
  return {
    rps: result.rps ?? 0,
    cpuNs: requests > 0 ? (cpu * 1e9) / requests : NaN,
    errors: result.errors?.total ?? 0,
  };
}

const specs: ServerSpec[] = [];
for (const runtime of runtimes) {
  specs.push(await serverSpec("baseline", baseline, runtime));
  specs.push(await serverSpec("current", root.replace(/\/$/, ""), runtime));
}
console.error(
  `lpload (${tools}); baseline ${baseline}; ${specs.length} servers, ${rounds} rounds of ${seconds} s`,
);

const samples = new Map<string, number[]>();
const cpuNs = new Map<string, number[]>();
let errors = 0;
for (let round = 1; round <= rounds; round++) {
  for (const scenario of scenarios) {
    for (const spec of specs) {
      const server = await start(spec);
      let sample;
      try {
        sample = await measure(scenario.args, server.pid);
      } finally {
        await stop(server);
      }
      errors += sample.errors;
      const key = `${scenario.id} ${spec.name}`;
      samples.set(key, [...samples.get(key) ?? [], sample.rps]);
      cpuNs.set(key, [...cpuNs.get(key) ?? [], sample.cpuNs]);
      console.error(
        `round ${round} ${key}: ${Math.round(sample.rps)} req/s, ${
          Math.round(sample.cpuNs)
        } ns CPU/request${
          sample.errors > 0 ? `, ${sample.errors} errors` : ""
        }`,
      );
    }
  }
}

const rows = [];
for (const scenario of scenarios) {
  for (const runtime of runtimes) {
    const base = median(samples.get(`${scenario.id} ${runtime} baseline`)!);
    const current = median(samples.get(`${scenario.id} ${runtime} current`)!);
    // Each round ran the two trees back to back: the median of the rounds'
    // own ratios is steadier than the ratio of medians on a noisy machine.
    const baseRounds = samples.get(`${scenario.id} ${runtime} baseline`)!;
    const paired = samples.get(`${scenario.id} ${runtime} current`)!
      .map((rps, i) => rps / baseRounds[i]);
    rows.push({
      scenario: scenario.id,
      runtime,
      baseline: Math.round(base),
      current: Math.round(current),
      ratio: Number((current / base).toFixed(3)),
      pairedRatio: Number(median(paired).toFixed(3)),
      baselineCpuNs: Math.round(
        median(cpuNs.get(`${scenario.id} ${runtime} baseline`)!),
      ),
      currentCpuNs: Math.round(
        median(cpuNs.get(`${scenario.id} ${runtime} current`)!),
      ),
    });
  }
}
if (Deno.args.includes("--json")) {
  console.log(JSON.stringify({ rounds, seconds, baseline, rows, errors }));
} else {
  console.log(
    "| scenario | runtime | baseline req/s | current req/s | current / baseline | median of round ratios | server CPU per request, baseline / current |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
  for (const r of rows) {
    console.log(
      `| ${r.scenario} | ${r.runtime} | ${
        r.baseline.toLocaleString("en-US")
      } | ${r.current.toLocaleString("en-US")} | ${r.ratio.toFixed(3)}x | ${
        r.pairedRatio.toFixed(3)
      }x | ${r.baselineCpuNs} / ${r.currentCpuNs} ns |`,
    );
  }
  console.log(`response errors: ${errors}`);
}
if (errors > 0) Deno.exit(1);
