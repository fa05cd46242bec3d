// serve --workers: requests per second with 1 and 2 workers on each
// runtime, driven by lpload, in interleaved rounds, reported as medians
// with the CPU the server processes (primary and workers) and lpload used.
//
//   deno task bench:workers [--rounds 3] [--seconds 5] [--threads 1]
//                           [--only deno,bun,node] [--tools DIR]
//
// framewire on Node runs from the npm build: run `deno task build:npm`
// first. Everything targets 127.0.0.1 and stops by itself. Writes
// bench/results/workers.json and bench/results/workers.md.
import {
  exists,
  findTools,
  flag,
  median,
  root,
  type ServerSpec,
  start,
  stop,
  treeCpuSeconds,
} from "./_bench_servers.ts";

const rounds = Number(flag("rounds") ?? 3);
const seconds = Number(flag("seconds") ?? 5);
const threads = Number(flag("threads") ?? 1);
const only = flag("only")?.split(",");
const PORT = 7660;
const WORKERS = [1, 2];

const tools = await findTools(flag("tools"));
if (tools === null) {
  console.error("bench:workers needs lpload: build ../shared/tools");
  Deno.exit(1);
}

function spec(runtime: string, workers: number): ServerSpec {
  const serve = [
    "serve",
    "--host",
    "127.0.0.1",
    "--port",
    String(PORT),
    "--workers",
    String(workers),
  ];
  const name = `${runtime}, ${workers} worker${workers > 1 ? "s" : ""}`;
  if (runtime === "deno") {
    return {
      name,
      command: "deno",
      args: ["run", "-A", `${root}mod.ts`, ...serve],
    };
  }
  if (runtime === "bun") {
    return {
      name,
      command: "bun",
      args: ["run", `${root}src/bun_main.ts`, ...serve],
    };
  }
  return {
    name,
    command: "node",
    args: [`${root}npm/esm/src/node_main.js`, ...serve],
  };
}

const scenarios = [
  { id: "c50p32", label: "50 x 32 pipelined", args: ["-c", "50", "-P", "32"] },
  { id: "c50", label: "50 x 1", args: ["-c", "50", "-P", "1"] },
];

interface Sample {
  rps: number;
  serverCores: number;
  lploadCpuPct: number;
  errors: number;
}

async function measure(
  pid: number,
  args: string[],
): Promise<Sample> {
  const cpuBefore = await treeCpuSeconds(pid);
  const began = performance.now();
  const out = await new Deno.Command(`${tools}/lpload`, {
    args: [
      ...args,
      "-p",
      String(PORT),
      "-d",
      String(seconds),
      "-t",
      String(threads),
      "--verify",
      "--json",
    ],
    stdout: "piped",
    stderr: "null",
  }).output();
  const wall = (performance.now() - began) / 1000;
  const cpu = (await treeCpuSeconds(pid)) - cpuBefore;
  const line = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1);
  const r = JSON.parse(line ?? "{}");
  return {
    rps: r.rps,
    serverCores: cpu / wall,
    lploadCpuPct: r.client_cpu_pct,
    errors: r.errors?.total ?? 0,
  };
}

const haveNodeBuild = await exists(`${root}npm/esm/src/node_main.js`);
const runtimes = ["deno", "bun", "node"].filter((r) =>
  (r !== "node" || haveNodeBuild) && (only === undefined || only.includes(r))
);
if (!haveNodeBuild) {
  console.error("framewire on Node skipped: run `deno task build:npm` first");
}
const samples: Record<string, Record<string, Sample[]>> = {};
for (let round = 1; round <= rounds; round++) {
  for (const scenario of scenarios) {
    for (const runtime of runtimes) {
      for (const workers of WORKERS) {
        const server = await start(spec(runtime, workers));
        let sample: Sample;
        try {
          sample = await measure(server.pid, scenario.args);
        } finally {
          await stop(server);
        }
        const name = spec(runtime, workers).name;
        ((samples[scenario.id] ??= {})[name] ??= []).push(sample);
        console.error(
          `round ${round} ${scenario.id} ${name}: ${JSON.stringify(sample)}`,
        );
      }
    }
  }
}

const fmt = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString("en-US", { maximumFractionDigits: digits })
    : "-";
const summary: Record<string, Record<string, Record<string, number>>> = {};
const lines = [
  `Measured ${
    new Date().toISOString().slice(0, 10)
  } on ${navigator.hardwareConcurrency} cores, Linux. lpload (${threads} thread${
    threads > 1 ? "s" : ""
  }) and the server processes share the cores, unpinned.`,
  `Median of ${rounds} interleaved rounds of ${seconds} s; 16-byte payloads; every response verified. Server CPU counts the primary and its workers, in cores.`,
  "",
  "| scenario | runtime | 1 worker req/s | 2 workers req/s | 2 / 1 | server CPU, 1 / 2 workers | server CPU per request, 1 / 2 workers | lpload CPU, 1 / 2 workers |",
  "| --- | --- | --- | --- | --- | --- | --- | --- |",
];
for (const scenario of scenarios) {
  for (const runtime of runtimes) {
    const pick = (workers: number, key: keyof Sample) =>
      median(
        (samples[scenario.id]?.[spec(runtime, workers).name] ?? []).map((s) =>
          s[key]
        ),
      );
    const errors = WORKERS.reduce(
      (n, w) =>
        n +
        (samples[scenario.id]?.[spec(runtime, w).name] ?? []).reduce(
          (m, s) => m + s.errors,
          0,
        ),
      0,
    );
    const [one, two] = [pick(1, "rps"), pick(2, "rps")];
    (summary[scenario.id] ??= {})[runtime] = {
      rps1: one,
      rps2: two,
      serverCores1: pick(1, "serverCores"),
      serverCores2: pick(2, "serverCores"),
      lploadCpuPct1: pick(1, "lploadCpuPct"),
      lploadCpuPct2: pick(2, "lploadCpuPct"),
      errors,
    };
    lines.push(
      `| ${scenario.label} | ${runtime} | ${fmt(one)} | ${fmt(two)} | ${
        (two / one).toFixed(2)
      }x | ${fmt(pick(1, "serverCores"), 2)} / ${
        fmt(pick(2, "serverCores"), 2)
      } | ${fmt((pick(1, "serverCores") / one) * 1e9)} / ${
        fmt((pick(2, "serverCores") / two) * 1e9)
      } ns | ${fmt(pick(1, "lploadCpuPct"))}% / ${
        fmt(pick(2, "lploadCpuPct"))
      }% |${errors > 0 ? ` ${errors} errors` : ""}`,
    );
  }
}
const markdown = lines.join("\n") + "\n";
await Deno.mkdir(`${root}bench/results`, { recursive: true });
await Deno.writeTextFile(
  `${root}bench/results/workers.json`,
  JSON.stringify({ rounds, seconds, threads, summary, samples }, null, 2) +
    "\n",
);
await Deno.writeTextFile(`${root}bench/results/workers.md`, markdown);
console.log(markdown);
