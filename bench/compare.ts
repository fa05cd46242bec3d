// Compares framewire's throughput with another checkout of it (an earlier
// commit, say), side by side: each runtime's server from both trees, driven
// by lpload in interleaved rounds, with the median req/s of each and their
// ratio. A change may not make an existing scenario slower; this measures it.
//
//   git worktree add /tmp/framewire-base COMMIT
//   deno task bench:compare --baseline /tmp/framewire-base [--rounds 3] [--seconds 5]
//     [--only deno,bun,node] [--scenario 50x32|50x1] [--tools DIR] [--json]
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
      command: "deno",
      args: ["run", "-A", `${dir}/mod.ts`, ...serve],
    };
  }
  if (runtime === "bun") {
    return {
      name,
      command: "bun",
      args: ["run", `${dir}/src/bun_main.ts`, ...serve],
    };
  }
  const out = await Deno.makeTempDir({ prefix: `framewire-${tree}-` });
  const main = await transpileForNode(dir, "src/node_main.ts", out);
  return { name, command: "node", args: [main, ...serve] };
}

const scenarios = [
  { id: "50x32", args: ["-c", "50", "-P", "32"] },
  { id: "50x1", args: ["-c", "50", "-P", "1"] },
].filter((s) => flag("scenario") === undefined || s.id === flag("scenario"));

async function measure(
  args: string[],
): Promise<{ rps: number; errors: number }> {
  const out = await new Deno.Command(`${tools}/lpload`, {
    args: [
      ...args,
      "-d",
      String(seconds),
      "-p",
      String(PORT),
      "--verify",
      "--json",
    ],
    stdout: "piped",
    stderr: "null",
  }).output();
  const line = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1);
  const result = JSON.parse(line || "{}");
  return { rps: result.rps ?? 0, errors: result.errors?.total ?? 0 };
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
let errors = 0;
for (let round = 1; round <= rounds; round++) {
  for (const scenario of scenarios) {
    for (const spec of specs) {
      const server = await start(spec);
      let sample;
      try {
        sample = await measure(scenario.args);
      } finally {
        await stop(server);
      }
      errors += sample.errors;
      const key = `${scenario.id} ${spec.name}`;
      samples.set(key, [...samples.get(key) ?? [], sample.rps]);
      console.error(
        `round ${round} ${key}: ${Math.round(sample.rps)} req/s${
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
    });
  }
}
if (Deno.args.includes("--json")) {
  console.log(JSON.stringify({ rounds, seconds, baseline, rows, errors }));
} else {
  console.log(
    "| scenario | runtime | baseline req/s | current req/s | current / baseline | median of round ratios |",
  );
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const r of rows) {
    console.log(
      `| ${r.scenario} | ${r.runtime} | ${
        r.baseline.toLocaleString("en-US")
      } | ${r.current.toLocaleString("en-US")} | ${r.ratio.toFixed(3)}x | ${
        r.pairedRatio.toFixed(3)
      }x |`,
    );
  }
  console.log(`response errors: ${errors}`);
}
if (errors > 0) Deno.exit(1);
