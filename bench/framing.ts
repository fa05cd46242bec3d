// The preset frame formats against framewire's own format, side by side:
// each runtime's server with `serve --framing F`, driven by framewire's load
// tester (`bench --framing F`, on Deno) in interleaved rounds, with every
// response verified. Reports the median req/s and server CPU time per
// request of each format, and its ratio to u32le (of the medians, and the
// median of the rounds' own ratios).
//
//   deno task bench:framing [--rounds 3] [--seconds 4] [--only deno,bun,node]
//     [--formats u32le,u32be,u16be,varint] [-c 50] [-P 32] [--pin] [--json]
//
// Everything targets 127.0.0.1 and stops by itself.

import {
  flag,
  loadTest,
  median,
  serveOn,
  type ServerSpec,
  start,
  stop,
  treeCpuSeconds,
} from "./_bench_servers.ts";

const PORT = 7670;
const rounds = Number(flag("rounds") ?? 3);
const seconds = Number(flag("seconds") ?? 4);
const connections = flag("c") ?? "50";
const pipeline = flag("P") ?? "32";
const runtimes = (flag("only") ?? "deno,bun,node").split(",");
const formats = (flag("formats") ?? "u32le,u32be,u16be,varint").split(",");
if (formats[0] !== "u32le") formats.unshift("u32le");
// --pin: the server on CPU 1 and the load tester on CPU 0 (see pinned()).

/** The serve command of `runtime` with `format`. */
function server(runtime: string, format: string): Promise<ServerSpec> {
  return serveOn(runtime, `${runtime} ${format}`, [
    "--port",
    String(PORT),
    "--framing",
    format,
  ]);
}

/** req/s, and the server's CPU time per request in nanoseconds. */
async function measure(format: string, serverPid: number) {
  const cpuBefore = await treeCpuSeconds(serverPid);
  const { result, success } = await loadTest(PORT, [
    "--framing",
    format,
    "-c",
    connections,
    "-P",
    pipeline,
    "-d",
    String(seconds),
  ]);
  const cpu = (await treeCpuSeconds(serverPid)) - cpuBefore;
  const rps = Number(result.requestsPerSecond ?? 0);
  const requests = Number(result.requests ?? rps * seconds);
  const errors = result.errorCount ?? (success ? 0 : 1);
  return { rps, cpuNs: requests > 0 ? (cpu * 1e9) / requests : NaN, errors };
}

const specs: Array<{ runtime: string; format: string; spec: ServerSpec }> = [];
for (const runtime of runtimes) {
  for (const format of formats) {
    specs.push({ runtime, format, spec: await server(runtime, format) });
  }
}
console.error(
  `bench --framing: ${specs.length} servers, ${rounds} rounds of ${seconds} s, -c ${connections} -P ${pipeline}`,
);
const rps = new Map<string, number[]>();
const cpuNs = new Map<string, number[]>();
let errors = 0;
for (let round = 1; round <= rounds; round++) {
  for (const { spec, format } of specs) {
    const running = await start({ ...spec });
    let sample;
    try {
      sample = await measure(format, running.pid);
    } finally {
      await stop(running);
    }
    errors += sample.errors;
    rps.set(spec.name, [...rps.get(spec.name) ?? [], sample.rps]);
    cpuNs.set(spec.name, [...cpuNs.get(spec.name) ?? [], sample.cpuNs]);
    console.error(
      `round ${round} ${spec.name}: ${Math.round(sample.rps)} req/s, ${
        Math.round(sample.cpuNs)
      } ns CPU/request${sample.errors > 0 ? `, ${sample.errors} errors` : ""}`,
    );
  }
}

const rows = [];
for (const runtime of runtimes) {
  const base = rps.get(`${runtime} u32le`)!;
  for (const format of formats) {
    const mine = rps.get(`${runtime} ${format}`)!;
    rows.push({
      runtime,
      format,
      rps: Math.round(median(mine)),
      cpuNs: Math.round(median(cpuNs.get(`${runtime} ${format}`)!)),
      ratio: Number((median(mine) / median(base)).toFixed(3)),
      pairedRatio: Number(
        median(mine.map((value, i) => value / base[i])).toFixed(3),
      ),
    });
  }
}
if (Deno.args.includes("--json")) {
  console.log(
    JSON.stringify({ rounds, seconds, connections, pipeline, rows, errors }),
  );
} else {
  console.log(
    "| runtime | format | req/s | server CPU per request | / u32le | median of round ratios |",
  );
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const r of rows) {
    console.log(
      `| ${r.runtime} | ${r.format} | ${
        r.rps.toLocaleString("en-US")
      } | ${r.cpuNs} ns | ${r.ratio.toFixed(3)}x | ${
        r.pairedRatio.toFixed(3)
      }x |`,
    );
  }
  console.log(`errors: ${errors}`);
}
if (errors > 0) Deno.exit(1);
