/**
 * Runs the codec microbenchmarks (bench/codec.ts) on Deno, Bun and Node and
 * writes bench/results/codec.md and bench/results/codec.json.
 *
 *   deno task bench:codec [--rounds 1] [--time-ms 300] [--samples 5] [--filter REGEX]
 *
 * Each case (operation, frame size, library) runs in a fresh process, on
 * Deno, then Bun, then Node, before the next case: one process at a time,
 * never two at once. With `--rounds N`, the cases of one frame size run in
 * turn N times over (round 1 of every case, then round 2, ...), so that in
 * each round framewire and its peers run side by side, minutes apart at
 * most: the report's paired ratio divides them round by round. A fresh process per case keeps one case's garbage and
 * allocator state out of the next one's time: in a single process, the
 * large-buffer cases were up to 5x slower or faster depending on what ran
 * before them, and even identical fresh processes can land in a slow or a
 * fast allocator regime for 64 KiB to 8 MiB buffers. `--rounds N` runs every
 * case N times (interleaved) and keeps, per case and runtime, the run with
 * the median throughput. Other flags are passed on to bench/codec.ts
 * (`--filter` selects cases). Node runs a copy of bench/codec.ts and the framewire modules it
 * imports, transpiled into a temporary folder (removed afterwards) with a
 * `node_modules` symlink to the repository's.
 *
 * @module
 */
import type { CodecReport } from "./codec.ts";
import { transpileForNode } from "./_transpile_for_node.ts";
import {
  decodeRatio,
  type Machine,
  markdown,
  RANGE_LIBRARY,
  RATIO_SIZES,
  type Runtime,
  RUNTIMES,
  TARGET_RATIO,
  TITLES,
  VARINT_LIBRARY,
} from "./_codec_report.ts";

const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const roundsAt = Deno.args.indexOf("--rounds");
const rounds = roundsAt === -1 ? 1 : Number(Deno.args[roundsAt + 1]);
if (!Number.isInteger(rounds) || rounds < 1) {
  console.error("error: --rounds takes a whole number of at least 1");
  Deno.exit(2);
}
const passOn = roundsAt === -1
  ? Deno.args
  : Deno.args.filter((_, i) => i !== roundsAt && i !== roundsAt + 1);
/** What a failed run leaves in its round. */
const EMPTY_REPORT: CodecReport = {
  runtime: { name: "", version: "" },
  arch: "",
  options: { minCpuTimeMs: 0, minSamples: 0, chunkSize: 0 },
  results: [],
};
/** A case that runs longer than this has hung: it is killed and reported. */
const CASE_TIMEOUT_MS = 120_000;

async function output(command: string, args: string[]): Promise<string> {
  const result = await new Deno.Command(command, {
    args,
    cwd: root,
    stderr: "inherit",
  }).output().catch(() => null);
  return result?.success ? new TextDecoder().decode(result.stdout).trim() : "";
}

async function machine(): Promise<Machine> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  return {
    cpu: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown",
    cores: navigator.hardwareConcurrency,
    os: `${Deno.build.os} ${Deno.osRelease()}`,
    memoryBytes: Deno.systemMemoryInfo().total,
  };
}

/** Runs one case on one runtime; its result line goes to our stderr. */
async function runCase(
  runtime: Runtime,
  command: string[],
): Promise<CodecReport> {
  const child = new Deno.Command(command[0], {
    args: command.slice(1),
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), CASE_TIMEOUT_MS);
  const { success, code, stdout, stderr } = await child.output();
  clearTimeout(timer);
  const text = new TextDecoder().decode(stdout).trim();
  const log = new TextDecoder().decode(stderr).trim();
  for (const line of log.split("\n")) {
    if (line) console.error(`${runtime.padEnd(4)} ${line}`);
  }
  if (!success) {
    throw new Error(
      `'${command.join(" ")}' exited ${code}: ${log.split("\n").at(-1)}`,
    );
  }
  return JSON.parse(text.slice(text.lastIndexOf("\n") + 1));
}

const info = await machine();
const task = ["deno task bench:codec", ...Deno.args].join(" ");
const date = new Date().toISOString();
const head = await output("git", ["rev-parse", "--short", "HEAD"]);
// The modules bench/codec.ts measures, and what they import.
const codecChanges = await output("git", [
  "diff",
  "--name-only",
  "HEAD",
  "--",
  "src/frame_decoder.ts",
  "src/frame_encoder.ts",
  "src/frame_decoder_stream.ts",
  "src/frame_encoder_stream.ts",
  "src/_outbound.ts",
  "src/_frame_header.ts",
  "src/_validate.ts",
  "src/constants.ts",
  "src/errors.ts",
]);
const changed = codecChanges.split("\n").filter(Boolean);
const commit = `commit ${head || "unknown"}${
  changed.length ? ` with uncommitted changes to ${changed.join(", ")}` : ""
}`;
const nodeDir = await Deno.makeTempDir({ prefix: "framewire-codec-bench-" });
const reports: Partial<Record<Runtime, CodecReport>> = {};
const errors: Partial<Record<Runtime, string[]>> = {};
let commands: Record<Runtime, string[]>;
const started = Date.now();
try {
  const nodeEntry = await transpileForNode(root, "bench/codec.ts", nodeDir);
  commands = {
    deno: ["deno", "run", "-A", "--v8-flags=--expose-gc", "bench/codec.ts"],
    bun: ["bun", "run", "bench/codec.ts"],
    node: ["node", "--expose-gc", nodeEntry],
  };
  const list = await output("deno", [
    "run",
    "-A",
    "bench/codec.ts",
    "--list",
    ...passOn,
  ]);
  const names: string[] = JSON.parse(list || "[]");
  console.error(
    `${names.length} cases x ${RUNTIMES.length} runtimes, one process each`,
  );
  // The cases of one frame size, in list order ("decode 16 B framewire").
  const groups = new Map<string, string[]>();
  for (const name of names) {
    const size = / (\d+ \S*B) /.exec(name)?.[1] ?? name;
    groups.set(size, [...(groups.get(size) ?? []), name]);
  }
  for (const group of groups.values()) {
    const runs = new Map<string, Partial<Record<Runtime, CodecReport[]>>>(
      group.map((name) => [name, {}]),
    );
    for (let round = 0; round < rounds; round++) {
      for (const name of group) {
        for (const rt of RUNTIMES) {
          const command = [
            ...commands[rt],
            "--json",
            ...passOn,
            "--case",
            name,
          ];
          const list = runs.get(name)![rt] ??= [];
          try {
            list.push(await runCase(rt, command));
          } catch (error) {
            const message = error instanceof Error
              ? error.message
              : String(error);
            (errors[rt] ??= []).push(message);
            console.error(`${rt} failed: ${message}`);
            list.push({ ...EMPTY_REPORT, results: [] });
          }
        }
      }
    }
    for (const name of group) {
      for (const rt of RUNTIMES) {
        const all = runs.get(name)![rt] ?? [];
        const done = all.filter((r) => r.results.length > 0)
          .sort((a, b) => a.results[0].mbPerSec - b.results[0].mbPerSec);
        if (done.length === 0) continue;
        const median = done[(done.length - 1) >> 1];
        const merged = reports[rt] ??= { ...median, results: [] };
        merged.results.push(
          ...median.results.map((r) => ({
            ...r,
            // In round order (null: that round failed), for paired ratios.
            rounds: all.map((d) => d.results[0]?.mbPerSec ?? null),
          })),
        );
      }
    }
  }
} finally {
  await Deno.remove(nodeDir, { recursive: true });
}
const minutes = (Date.now() - started) / 60_000;
console.error(`done in ${minutes.toFixed(1)} min`);

const ratios = Object.fromEntries(
  Object.entries(reports).map(([rt, report]) => [
    rt,
    RATIO_SIZES.map((size) => decodeRatio(report, size)),
  ]),
);
const varintRatios = Object.fromEntries(
  Object.entries(reports).map(([rt, report]) => [
    rt,
    RATIO_SIZES.map((size) =>
      decodeRatio(report, size, VARINT_LIBRARY, "varint")
    ),
  ]),
);
const rangeRatios = Object.fromEntries(
  Object.entries(reports).map(([rt, report]) => [
    rt,
    RATIO_SIZES.map((size) => decodeRatio(report, size, RANGE_LIBRARY)),
  ]),
);
const shown = (rt: Runtime) =>
  [...commands![rt], "--json", ...passOn, "--case", "NAME"].join(" ");
await Deno.mkdir(`${root}/bench/results`, { recursive: true });
await Deno.writeTextFile(
  `${root}/bench/results/codec.json`,
  JSON.stringify(
    {
      date,
      machine: info,
      framewire: commit,
      minutes: Number(minutes.toFixed(2)),
      rounds,
      commands: {
        task,
        list: `deno run -A bench/codec.ts --list ${passOn.join(" ")}`.trim(),
        ...Object.fromEntries(RUNTIMES.map((rt) => [rt, shown(rt)])),
      },
      targetRatio: TARGET_RATIO,
      ratios,
      rangeRatios,
      varintRatios,
      errors,
      runtimes: reports,
    },
    null,
    2,
  ) + "\n",
);
const md = markdown({
  machine: info,
  date: date.slice(0, 10),
  framewire: commit,
  task,
  rounds,
  commands: Object.fromEntries(
    RUNTIMES.map((rt) => [rt, shown(rt)]),
  ) as Record<Runtime, string>,
  reports,
  errors: Object.fromEntries(
    Object.entries(errors).map(([rt, list]) => [rt, list.join("; ")]),
  ),
});
await Deno.writeTextFile(`${root}/bench/results/codec.md`, md);
console.log(md);
if (Object.keys(errors).length > 0) {
  console.error(
    `${TITLES.deno}/${TITLES.bun}/${TITLES.node}: some cases failed`,
  );
  Deno.exit(1);
}
