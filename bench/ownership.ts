// What the safe default costs: the same echo handler, `(request) => request`,
// served with requests owned by the handler (the default) and lent to it
// (`zeroCopy: true`), on each runtime, driven by lpload in interleaved rounds.
// Prints the median req/s of each and their ratio (owned / lent).
//
//   deno task bench:ownership [--rounds 5] [--seconds 5] [--only deno,bun,node]
//     [--scenario 50x32|50x1] [--pin] [--tools DIR] [--json]
//
// Scenarios: 50 connections x 32 pipelined requests, and 50 x 1, 16-byte
// payloads, every response verified. On Node the server runs transpiled from
// source. Everything targets 127.0.0.1 and stops by itself.

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

const rounds = Number(flag("rounds") ?? 5);
const seconds = Number(flag("seconds") ?? 5);
const runtimes = (flag("only") ?? "deno,bun,node").split(",");
const PORT = 7661;
// --pin: the server on CPU 1 and lpload on CPU 0 (taskset), so they do not
// trade places between rounds.
const pin = Deno.args.includes("--pin");
const pinned = (cpu: number, command: string, args: string[]) =>
  pin
    ? { command: "taskset", args: ["-c", String(cpu), command, ...args] }
    : { command, args };

const tools = await findTools(flag("tools"));
if (tools === null) {
  console.error(
    "error: bench:ownership needs lpload (make -C ../shared/tools)",
  );
  Deno.exit(1);
}

/** The echo server on `runtime`, lending or giving its requests. */
function serverSpec(
  variant: "lent" | "owned",
  runtime: string,
  nodeMain: string | null,
): ServerSpec {
  const args = ["--port", String(PORT)];
  if (variant === "lent") args.push("--zero-copy");
  const name = `${runtime} ${variant}`;
  const script = `${root}bench/_echo_server.ts`;
  if (runtime === "deno") {
    return { name, ...pinned(1, "deno", ["run", "-A", script, ...args]) };
  }
  if (runtime === "bun") {
    return { name, ...pinned(1, "bun", ["run", script, ...args]) };
  }
  return { name, ...pinned(1, "node", [nodeMain!, ...args]) };
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

const nodeMain = runtimes.includes("node")
  ? await transpileForNode(
    root.replace(/\/$/, ""),
    "bench/_echo_server.ts",
    await Deno.makeTempDir({ prefix: "framewire-ownership-" }),
  )
  : null;
const specs: ServerSpec[] = [];
for (const runtime of runtimes) {
  specs.push(serverSpec("lent", runtime, nodeMain));
  specs.push(serverSpec("owned", runtime, nodeMain));
}
console.error(
  `lpload (${tools}); ${specs.length} servers, ${rounds} rounds of ${seconds} s`,
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
    const base = median(samples.get(`${scenario.id} ${runtime} lent`)!);
    const current = median(samples.get(`${scenario.id} ${runtime} owned`)!);
    // Each round ran the two servers back to back: the median of the rounds'
    // own ratios is steadier than the ratio of medians on a noisy machine.
    const baseRounds = samples.get(`${scenario.id} ${runtime} lent`)!;
    const paired = samples.get(`${scenario.id} ${runtime} owned`)!
      .map((rps, i) => rps / baseRounds[i]);
    rows.push({
      scenario: scenario.id,
      runtime,
      lent: Math.round(base),
      owned: Math.round(current),
      ratio: Number((current / base).toFixed(3)),
      pairedRatio: Number(median(paired).toFixed(3)),
      lentCpuNs: Math.round(
        median(cpuNs.get(`${scenario.id} ${runtime} lent`)!),
      ),
      ownedCpuNs: Math.round(
        median(cpuNs.get(`${scenario.id} ${runtime} owned`)!),
      ),
    });
  }
}
if (Deno.args.includes("--json")) {
  console.log(JSON.stringify({ rounds, seconds, rows, errors }));
} else {
  console.log(
    "| scenario | runtime | lent req/s | owned req/s | owned / lent | median of round ratios | server CPU per request, lent / owned |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
  for (const r of rows) {
    console.log(
      `| ${r.scenario} | ${r.runtime} | ${r.lent.toLocaleString("en-US")} | ${
        r.owned.toLocaleString("en-US")
      } | ${r.ratio.toFixed(3)}x | ${
        r.pairedRatio.toFixed(3)
      }x | ${r.lentCpuNs} / ${r.ownedCpuNs} ns |`,
    );
  }
  console.log(`response errors: ${errors}`);
}
if (errors > 0) Deno.exit(1);
