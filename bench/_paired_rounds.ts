// Two variants of each runtime's server (two trees, or one handler owned and
// lent), driven by lpload in interleaved rounds: the engine of bench:compare
// and bench:ownership. Flags read here: --rounds, --seconds, --only,
// --scenario, --pin, --tools, --json.
import {
  findTools,
  flag,
  median,
  pinned,
  type ServerSpec,
  start,
  stop,
  treeCpuSeconds,
} from "./_bench_servers.ts";

/** A server command before pinning: what the variant runs on `runtime`. */
export interface Command {
  command: string;
  args: string[];
}

/** What a paired benchmark compares. */
export interface PairedBench {
  /** The task's name, for messages. */
  name: string;
  /** The port every server listens on. */
  port: number;
  /** Rounds when --rounds is not given. */
  defaultRounds: number;
  /** The reference variant first (the ratio is second / first). */
  variants: readonly [string, string];
  /** The server of `variant` on `runtime`, listening on `port`. */
  server(variant: string, runtime: string): Promise<Command> | Command;
  /** Words for the start line, after the tools. */
  describe?: string;
  /** More fields of the --json object. */
  json?: Record<string, unknown>;
}

const SCENARIOS = [
  { id: "50x32", args: ["-c", "50", "-P", "32"] },
  { id: "50x1", args: ["-c", "50", "-P", "1"] },
];

/** The runtimes --only names (default all three). */
export const runtimes: string[] = (flag("only") ?? "deno,bun,node").split(",");

/**
 * Runs the rounds, prints the table (or --json) and exits 1 if a response
 * was wrong. Each round runs every scenario and every server in turn.
 */
export async function runPaired(bench: PairedBench): Promise<void> {
  const rounds = Number(flag("rounds") ?? bench.defaultRounds);
  const seconds = Number(flag("seconds") ?? 5);
  // --pin: the server on CPU 1 and lpload on CPU 0 (see pinned()).
  const tools = await findTools(flag("tools"));
  if (tools === null) {
    console.error(
      `error: ${bench.name} needs lpload (make -C ../shared/tools)`,
    );
    Deno.exit(1);
  }
  const scenarios = SCENARIOS.filter((s) =>
    flag("scenario") === undefined || s.id === flag("scenario")
  );
  const [reference, other] = bench.variants;

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
      String(bench.port),
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
    const line = new TextDecoder().decode(out.stdout).trim().split("\n").at(
      -1,
    );
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
    for (const variant of bench.variants) {
      const server = await bench.server(variant, runtime);
      specs.push({
        name: `${runtime} ${variant}`,
        ...pinned(1, server.command, server.args),
      });
    }
  }
  console.error(
    `lpload (${tools}); ${
      bench.describe ? `${bench.describe}; ` : ""
    }${specs.length} servers, ${rounds} rounds of ${seconds} s`,
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
      const key = (variant: string) => `${scenario.id} ${runtime} ${variant}`;
      const referenceRounds = samples.get(key(reference))!;
      const otherRounds = samples.get(key(other))!;
      const base = median(referenceRounds);
      const current = median(otherRounds);
      // Each round ran the two variants back to back: the median of the
      // rounds' own ratios is steadier than the ratio of medians on a noisy
      // machine.
      const paired = otherRounds.map((rps, i) => rps / referenceRounds[i]);
      rows.push({
        scenario: scenario.id,
        runtime,
        [reference]: Math.round(base),
        [other]: Math.round(current),
        ratio: Number((current / base).toFixed(3)),
        pairedRatio: Number(median(paired).toFixed(3)),
        [`${reference}CpuNs`]: Math.round(median(cpuNs.get(key(reference))!)),
        [`${other}CpuNs`]: Math.round(median(cpuNs.get(key(other))!)),
      });
    }
  }
  if (Deno.args.includes("--json")) {
    console.log(
      JSON.stringify({ rounds, seconds, ...bench.json, rows, errors }),
    );
  } else {
    console.log(
      `| scenario | runtime | ${reference} req/s | ${other} req/s | ${other} / ${reference} | median of round ratios | server CPU per request, ${reference} / ${other} |`,
    );
    console.log("| --- | --- | --- | --- | --- | --- | --- |");
    for (const r of rows) {
      const count = (variant: string) =>
        (r[variant] as number).toLocaleString("en-US");
      console.log(
        `| ${r.scenario} | ${r.runtime} | ${count(reference)} | ${
          count(other)
        } | ${r.ratio.toFixed(3)}x | ${r.pairedRatio.toFixed(3)}x | ${
          r[`${reference}CpuNs`]
        } / ${r[`${other}CpuNs`]} ns |`,
      );
    }
    console.log(`response errors: ${errors}`);
  }
  if (errors > 0) Deno.exit(1);
}
