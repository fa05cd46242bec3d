// Head-of-line blocking, and what request ids cost (issue 16). On each
// runtime:
//
// 1. `serve --slow 0.01:20ms`, one request in 100 answered after 20 ms,
//    with --framing u32le (answers in order: a fast request waits behind a
//    slow one) and with --framing u32le-id (answers as they settle), driven
//    by the load tester (`bench --slow 0.01 --verify`, on Deno) at -c 50
//    -P 32: p50 and p99 of the fast requests, and req/s. Goal: p99 of the
//    fast requests at or below 2 ms with ids.
//    The same at -c 50 -P 8 (--light-P): a quarter of the requests in
//    flight, in smaller batches (the closed loop still keeps the load
//    tester's core busy).
// 2. The plain echo in u32le and u32le-id back to back in each round: req/s
//    and the median of the rounds' ratios, and p99 (with nothing slow, the
//    floor of the first table's p99 at this load). Goal: u32le-id at 0.85x
//    or more.
//
//   deno task bench:hol [--rounds 3] [--seconds 4] [--runtimes deno,bun,node]
//     [-c 50] [-P 32] [--light-P 8] [--pin] [--json]
//     [--out bench/results/head_of_line.md]
//
// Writes the markdown tables to --out (unless --json). Everything targets
// 127.0.0.1 and stops by itself.

import {
  flag,
  loadTest,
  median,
  root,
  serveOn,
  type ServerSpec,
  start,
  stop,
} from "./_bench_servers.ts";

const PORT = 7671;
const SLOW = "0.01:20ms";
const FRACTION = SLOW.slice(0, SLOW.indexOf(":"));
const FORMATS = ["u32le", "u32le-id"] as const;
const rounds = Number(flag("rounds") ?? 3);
const seconds = Number(flag("seconds") ?? 4);
const connections = flag("c") ?? "50";
const pipeline = flag("P") ?? "32";
const lightPipeline = flag("light-P") ?? "8";
const runtimes = (flag("runtimes") ?? "deno,bun,node").split(",");
const out = flag("out") ?? "bench/results/head_of_line.md";
// --pin: the server on CPU 1 and the load tester on CPU 0 (see pinned()).

/** The server of `runtime` running `serve` with `args`. */
function server(
  runtime: string,
  name: string,
  args: string[],
): Promise<ServerSpec> {
  return serveOn(runtime, name, ["--port", String(PORT), ...args]);
}

/** What one load test measured. */
interface Sample {
  rps: number;
  fastP50: number;
  fastP99: number;
  /** p99 of every request. */
  p99: number;
  slowRequests: number;
  errors: number;
}

/** Runs the load tester against the server on PORT. */
async function measure(
  format: string,
  slow: boolean,
  depth: string,
): Promise<Sample> {
  const { result } = await loadTest(PORT, [
    "--framing",
    format,
    "-c",
    connections,
    "-P",
    depth,
    "-d",
    String(seconds),
    ...(slow ? ["--slow", FRACTION] : []),
  ]);
  return {
    rps: result.requestsPerSecond ?? 0,
    fastP50: result.fastLatencyUs?.p50 ?? NaN,
    fastP99: result.fastLatencyUs?.p99 ?? NaN,
    p99: result.latencyUs?.p99 ?? NaN,
    slowRequests: result.slowRequests ?? 0,
    errors: result.errorCount ?? 1,
  };
}

/** Starts `spec`, measures, stops it. */
async function run(
  spec: ServerSpec,
  format: string,
  slow: boolean,
  depth: string,
) {
  const running = await start(spec);
  try {
    return await measure(format, slow, depth);
  } finally {
    await stop(running);
  }
}

const samples = new Map<string, Sample[]>();
const add = (key: string, sample: Sample) =>
  samples.set(key, [...samples.get(key) ?? [], sample]);
let errors = 0;
console.error(
  `bench:hol: ${
    runtimes.join(", ")
  }; ${rounds} rounds of ${seconds} s, -c ${connections} -P ${pipeline}`,
);
for (let round = 1; round <= rounds; round++) {
  for (const runtime of runtimes) {
    for (const section of ["slow", "light", "echo"] as const) {
      const slow = section !== "echo";
      const depth = section === "light" ? lightPipeline : pipeline;
      for (const format of FORMATS) {
        const key = `${section} ${runtime} ${format}`;
        const args = ["--framing", format, ...(slow ? ["--slow", SLOW] : [])];
        const sample = await run(
          await server(runtime, key, args),
          format,
          slow,
          depth,
        );
        errors += sample.errors;
        add(key, sample);
        console.error(
          `round ${round} ${key}: ${Math.round(sample.rps)} req/s${
            slow
              ? `, fast p50 ${sample.fastP50} us, p99 ${sample.fastP99} us, ${sample.slowRequests} slow`
              : `, p99 ${sample.p99} us`
          }${sample.errors > 0 ? `, ${sample.errors} errors` : ""}`,
        );
      }
    }
  }
}

const of = (key: string, field: keyof Sample) =>
  median(samples.get(key)!.map((s) => s[field]));
const ms = (us: number) => (us / 1000).toFixed(2);
const latencyAt = (section: "slow" | "light") =>
  runtimes.flatMap((runtime) =>
    FORMATS.map((format) => {
      const key = `${section} ${runtime} ${format}`;
      return {
        runtime,
        format,
        rps: Math.round(of(key, "rps")),
        fastP50Us: of(key, "fastP50"),
        fastP99Us: of(key, "fastP99"),
        slowRequests: Math.round(of(key, "slowRequests")),
      };
    })
  );
const latency = latencyAt("slow");
const light = latencyAt("light");
const throughput = runtimes.map((runtime) => {
  const base = samples.get(`echo ${runtime} u32le`)!.map((s) => s.rps);
  const ids = samples.get(`echo ${runtime} u32le-id`)!.map((s) => s.rps);
  return {
    runtime,
    u32le: Math.round(median(base)),
    u32leId: Math.round(median(ids)),
    pairedRatio: Number(
      median(ids.map((rps, i) => rps / base[i])).toFixed(3),
    ),
    u32leP99Us: of(`echo ${runtime} u32le`, "p99"),
    u32leIdP99Us: of(`echo ${runtime} u32le-id`, "p99"),
  };
});

if (Deno.args.includes("--json")) {
  console.log(
    JSON.stringify({
      rounds,
      seconds,
      connections,
      pipeline,
      lightPipeline,
      slow: SLOW,
      latency,
      light,
      throughput,
      errors,
    }),
  );
} else {
  const commit = new TextDecoder().decode(
    (await new Deno.Command("git", {
      args: ["rev-parse", "--short", "HEAD"],
      cwd: root,
      stdout: "piped",
    }).output()).stdout,
  ).trim();
  const count = (n: number) => n.toLocaleString("en-US");
  const latencyTable = (rows: typeof latency) => [
    "| runtime | format | req/s | fast p50 | fast p99 | slow requests | p99 <= 2 ms |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map((r) =>
      `| ${r.runtime} | ${r.format} (${
        r.format === "u32le" ? "in order" : "out of order"
      }) | ${count(r.rps)} | ${ms(r.fastP50Us)} ms | ${ms(r.fastP99Us)} ms | ${
        count(r.slowRequests)
      } | ${r.format === "u32le" ? "-" : r.fastP99Us <= 2000 ? "yes" : "no"} |`
    ),
  ];
  const lines = [
    "# Head-of-line blocking: u32le (in order) vs u32le-id (out of order)",
    "",
    `\`deno task bench:hol --rounds ${rounds} --seconds ${seconds}${
      Deno.args.includes("--pin") ? " --pin" : ""
    }\` at ${commit}, ${
      new Date().toISOString().slice(0, 10)
    }, ${navigator.hardwareConcurrency} CPUs${
      Deno.args.includes("--pin")
        ? " (server on CPU 1, load tester on CPU 0)"
        : ""
    }; load tester on Deno at ${connections} connections x ${pipeline} in flight, 16-byte payloads, every response verified; medians of the rounds.${
      rounds < 3
        ? ` A smoke run: ${rounds} round${
          rounds === 1 ? "" : "s"
        } of ${seconds} s is too short for final figures.`
        : ""
    }`,
    "",
    `## Fast requests while one in 100 waits 20 ms (\`serve --slow ${SLOW}\`, \`bench --slow ${FRACTION}\`)`,
    "",
    "Goal: p99 of the fast requests at or below 2 ms with ids.",
    "",
    ...latencyTable(latency),
    "",
    `The same at ${connections} connections x ${lightPipeline} in flight: fewer requests in flight, in smaller batches (the closed loop still keeps the load tester's core busy):`,
    "",
    ...latencyTable(light),
    "",
    "## Throughput of the plain echo, u32le-id against u32le",
    "",
    "Both formats back to back in each round; goal: 0.85x or more.",
    "",
    "p99 is that of every request: with nothing slow, the floor of the fast requests' p99 at this load.",
    "",
    "| runtime | u32le req/s | u32le-id req/s | u32le-id / u32le (median of round ratios) | >= 0.85x | p99 u32le | p99 u32le-id |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...throughput.map((r) =>
      `| ${r.runtime} | ${count(r.u32le)} | ${count(r.u32leId)} | ${
        r.pairedRatio.toFixed(3)
      }x | ${r.pairedRatio >= 0.85 ? "yes" : "no"} | ${ms(r.u32leP99Us)} ms | ${
        ms(r.u32leIdP99Us)
      } ms |`
    ),
    "",
    `Response errors: ${errors}.`,
    "",
  ];
  console.log(lines.join("\n"));
  await Deno.writeTextFile(
    out.startsWith("/") ? out : `${root}${out}`,
    lines.join("\n"),
  );
  console.error(`written to ${out}`);
}
if (errors > 0) Deno.exit(1);
