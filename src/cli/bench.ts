import { DEFAULT_PAYLOAD_SIZE, runLoadTest } from "./load_tester.ts";
import type { LoadTestResult } from "./load_tester.ts";
import { framingOf, MAX_FRAME_SIZE_LIMIT } from "../_frame_header.ts";
import { requestTemplate } from "./_request_frames.ts";
import { maxPipelineFor, sequencePlace } from "./_load_connection.ts";
import type { FrameFormatOption } from "../frame_format.ts";
import {
  type FlagSpec,
  FRAMING_FLAGS,
  framingFlag,
  numberFlag,
  parseArgs,
  type ParsedArgs,
  parsePort,
  parseSize,
  UsageError,
} from "./args.ts";
import {
  CONNECT_TRANSPORT_FLAGS,
  connectFlags,
  describeTarget,
} from "./transport_flags.ts";
import type { CliHost } from "./host.ts";
import { fractionFlag } from "./_slow_requests.ts";
import { runPoolLoadTest } from "./_pool_load.ts";
import { webSocketNetwork } from "./_ws_load.ts";
import type { ConnectOptions, Network } from "../transport.ts";

const BENCH_FLAGS: FlagSpec = {
  ...CONNECT_TRANSPORT_FLAGS,
  ...FRAMING_FLAGS,
  requests: "value",
  duration: "value",
  connections: "value",
  pipeline: "value",
  size: "value",
  warmup: "value",
  host: "value",
  port: "value",
  verify: "boolean",
  json: "boolean",
  slow: "value",
  endpoints: "value",
  ws: "value",
};

const BENCH_SHORT = {
  n: "requests",
  d: "duration",
  c: "connections",
  P: "pipeline",
  s: "size",
  w: "warmup",
};

/** Usage text of `bench`. */
function benchHelp(p: string): string {
  return `Usage: ${p} bench [-n REQUESTS | -d SECONDS] [-c CONNECTIONS] [-P PIPELINE_DEPTH]
       [-s PAYLOAD_BYTES] [-w SECONDS] [--host HOST] [--port PORT | --unix PATH]
       [--tls] [--tls-ca FILE] [--tls-server-name NAME] [--framing NAME|JSON]
       [--endpoints LIST | --ws URL] [--verify] [--slow FRACTION] [--json]

Load-tests a framewire (echo) server: each connection keeps PIPELINE_DEPTH
requests in flight (closed loop); only responses received are counted; the
warm-up is not counted. With -n, requests sent and unanswered at the time
limit are timeouts; requests never sent (the time limit came first, or
connections closed) are no errors, and the requests line says how many were
sent. Connections are opened in batches of 200.
'${p} bench -n 10000 -c 100' sends 10,000 requests over 100 connections.

Options:
  -n, --requests N         measure exactly N requests (then -d is the time limit, default 60)
  -d, --duration SECONDS   measure for SECONDS (default 5)
  -c, --connections N      connections (default 1)
  -P, --pipeline N         requests in flight per connection (default 1)
  -s, --size BYTES         payload bytes per request; k/m suffixes allowed (default 16)
  -w, --warmup SECONDS     load before measuring (default 1; 0 with -n)
  --host HOST              server host (default 127.0.0.1)
  --port PORT              server port (default 1234)
  --unix PATH              connect to a Unix domain socket instead of TCP
  --tls                    speak TLS (every connection makes its own handshake)
  --tls-ca FILE            trust the PEM CA certificates in FILE (implies --tls)
  --tls-server-name NAME   name to check the certificate against (implies --tls)
  --framing NAME|JSON      the server's frame format: u32le (default), u32be,
                           u16be, varint, u32le-id, dns, or a FrameFormat as
                           JSON; with "initialBytesToStrip":0 each request is a
                           whole frame (zero bytes before the length field, the
                           field, the payload); see docs/framing.md. With a
                           request id (u32le-id, dns) each request carries its
                           own id, responses are matched by it in any order,
                           and PIPELINE_DEPTH is at most half the id space
  --endpoints LIST         drive the load through framewire's client pool over
                           these servers (host:port,host:port,...), instead of
                           connections of its own: -c connections spread over
                           them, routed by least requests in flight, redialed
                           when lost; requests that reject count as 'closed'
  --ws URL                 connect to a WebSocket gateway (serve --ws-port)
                           instead: ws://HOST:PORT/ or wss://; each request is
                           one binary message
  --verify                 compare every response with its request, id included
  --slow FRACTION          the server runs 'serve --slow FRACTION:DURATION':
                           also report the latency of the requests it answers
                           at once (the fast ones), told apart from the slow
                           ones by the hash the server uses
  --json                   print the result as one JSON object
  -h, --help               show this help

On a terminal a progress line shows the rate each second. Exits 1 if any
error occurred (connect, closed, mismatch, protocol, timeout).`;
}

/** The `--slow` fraction, or undefined when absent. */
function slowFraction(text: string | true | undefined): number | undefined {
  return typeof text === "string" ? fractionFlag("slow", text) : undefined;
}

function seconds(
  name: string,
  text: string | true | undefined,
): number | undefined {
  if (typeof text !== "string") return undefined;
  return numberFlag(
    name,
    text,
    { min: 0, max: Number.MAX_VALUE, integer: false },
    "a number of seconds",
  );
}

function positiveInteger(
  name: string,
  text: string | true | undefined,
): number | undefined {
  if (typeof text !== "string") return undefined;
  return numberFlag(name, text, { min: 1 }, "a whole number of at least 1");
}

const thousands = (n: number) => Math.round(n).toLocaleString("en-US");

/** Formats a load test result as the summary lines. */
function formatBenchResult(
  result: LoadTestResult,
  target: string,
  asked: number | undefined,
  format: FrameFormatOption | undefined,
): string[] {
  const e = result.errors;
  const l = result.latencyUs;
  const framing = format === undefined
    ? ""
    : `, ${
      typeof format === "string" ? format : JSON.stringify(format)
    } framing`;
  return [
    `framewire bench: ${target}, ${result.connected}/${result.connections} connections x ${result.pipeline} in flight, ${result.payloadSize}-byte payloads${framing}${
      result.verified ? ", verified" : ""
    }`,
    `requests: ${thousands(result.requests)} in ${
      result.seconds.toFixed(2)
    } s = ${thousands(result.requestsPerSecond)} req/s${
      asked !== undefined && result.sent < asked
        ? ` (${thousands(result.sent)} of ${thousands(asked)} sent)`
        : ""
    }`,
    `errors: ${result.errorCount} (connect ${e.connect}, closed ${e.closed}, mismatch ${e.mismatch}, protocol ${e.protocol}, timeout ${e.timeout})${
      result.connectError === null
        ? ""
        : `; first connect error: ${result.connectError}`
    }`,
    `payload: sent ${result.sentMBps.toFixed(2)} MB/s, received ${
      result.receivedMBps.toFixed(2)
    } MB/s (MB = 10^6 bytes)`,
    latencyLine("latency us:", l),
    ...(result.fastLatencyUs === undefined ? [] : [
      latencyLine(
        `fast requests (${
          thousands(result.requests - (result.slowRequests ?? 0))
        }, and ${thousands(result.slowRequests ?? 0)} slow) latency us:`,
        result.fastLatencyUs,
      ),
    ]),
  ];
}

/** A latency line: `title`, then the percentiles. */
function latencyLine(title: string, l: LoadTestResult["latencyUs"]): string {
  return `${title} p50 ${l.p50}  p90 ${l.p90}  p99 ${l.p99}  p99.9 ${l.p999}  max ${l.max}  (min ${l.min}, mean ${l.mean})`;
}

/** Runs `bench`; returns the exit code. */
export async function benchCommand(
  host: CliHost,
  args: string[],
): Promise<number> {
  const { flags, positional } = parseArgs(args, BENCH_FLAGS, BENCH_SHORT);
  if (flags.help) {
    host.print(benchHelp(host.programName));
    return 0;
  }
  if (positional.length > 0) {
    throw new UsageError(`unexpected argument '${positional[0]}'`);
  }
  const requests = positiveInteger("requests", flags.requests);
  const duration = seconds("duration", flags.duration);
  if (duration === 0) {
    throw new UsageError("option '--duration' must be more than 0");
  }
  // The load tester sizes its own limit; the format is checked as it is.
  const format = framingFlag(flags, MAX_FRAME_SIZE_LIMIT);
  const payloadSize = flags.size
    ? parseSize("size", flags.size as string, 1 << 30)
    : undefined;
  const pipeline = positiveInteger("pipeline", flags.pipeline);
  if (format !== undefined) {
    const framing = framingOf(format, MAX_FRAME_SIZE_LIMIT);
    const id = framing.id;
    if (id !== null && (pipeline ?? 1) > maxPipelineFor(id)) {
      throw new UsageError(
        `option '--pipeline' must be at most ${
          maxPipelineFor(id)
        } with a ${id.width}-byte request id (half its ids), got ${pipeline}`,
      );
    }
    try {
      sequencePlace(
        requestTemplate(framing, payloadSize ?? DEFAULT_PAYLOAD_SIZE),
        framing,
      );
    } catch (error) {
      throw new UsageError(
        `option '--size' does not fit '--framing': ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
  if (typeof flags.endpoints === "string") {
    return await benchThroughPool(host, flags, {
      endpoints: endpointsFlag(flags.endpoints),
      format,
      payloadSize,
      pipeline,
      requests,
      duration,
    });
  }
  const ws = await webSocketTarget(host, flags, format);
  const target = ws?.target ?? await connectFlags(host, flags);
  const progress = host.isTerminal && !flags.json;
  const result = await runLoadTest({
    network: ws?.network ?? host.network,
    ...target,
    connections: positiveInteger("connections", flags.connections),
    pipeline,
    payloadSize,
    format,
    requests,
    duration,
    warmup: seconds("warmup", flags.warmup),
    verify: flags.verify === true,
    slow: slowFraction(flags.slow),
    onProgress: progress
      ? (p) =>
        host.printPartial(
          `\r${p.seconds.toFixed(0)} s: ${thousands(p.requests)} requests, ${
            thousands(p.requestsPerSecond)
          } req/s   `,
        )
      : undefined,
  });
  if (progress) host.printPartial("\r\x1b[K");
  if (flags.json) {
    const where = ws !== undefined
      ? { url: ws.url }
      : target.path !== undefined
      ? { path: target.path }
      : { host: target.host, port: target.port, tls: target.tls !== undefined };
    host.print(
      JSON.stringify({ ...where, framing: format ?? "u32le", ...result }),
    );
  } else {
    const lines = formatBenchResult(
      result,
      ws?.url ?? describeTarget(target),
      requests,
      format,
    );
    for (const line of lines) {
      host.print(line);
    }
  }
  return result.errorCount === 0 && result.connected > 0 ? 0 : 1;
}

/**
 * `--ws URL`: a network of WebSockets to the gateway at URL, or undefined
 * without the flag.
 */
async function webSocketTarget(
  host: CliHost,
  flags: Record<string, string | true>,
  format: FrameFormatOption | undefined,
): Promise<
  { url: string; network: Network; target: ConnectOptions } | undefined
> {
  const text = flags.ws;
  if (typeof text !== "string") return undefined;
  for (const name of ["host", "port", "unix", "tls", "tls-ca", "endpoints"]) {
    if (flags[name] !== undefined) {
      throw new UsageError(`option '--${name}' cannot be used with '--ws'`);
    }
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    url = new URL("invalid:");
  }
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new UsageError(
      `option '--ws' expects a ws:// or wss:// URL, got '${text}'`,
    );
  }
  if (host.webSocketClient === undefined) {
    throw new UsageError("option '--ws' needs a runtime with WebSockets");
  }
  const network = webSocketNetwork(url, await host.webSocketClient(), format);
  return { url: url.href, network, target: { port: 0 } };
}

/** `--endpoints host:port,...`: the pool's endpoints. */
function endpointsFlag(text: string): string[] {
  const endpoints = text.split(",").map((e) => e.trim()).filter((e) =>
    e !== ""
  );
  if (endpoints.length === 0) {
    throw new UsageError(
      "option '--endpoints' expects host:port[,host:port...]",
    );
  }
  for (const endpoint of endpoints) {
    const colon = endpoint.lastIndexOf(":");
    if (colon <= 0) {
      throw new UsageError(
        `option '--endpoints' expects host:port, got '${endpoint}'`,
      );
    }
    parsePort(endpoint.slice(colon + 1), "endpoints");
  }
  return endpoints;
}

/** `bench --endpoints`: the load through a pool (see `_pool_load.ts`). */
async function benchThroughPool(
  host: CliHost,
  flags: ParsedArgs["flags"],
  settings: {
    endpoints: string[];
    format: FrameFormatOption | undefined;
    payloadSize: number | undefined;
    pipeline: number | undefined;
    requests: number | undefined;
    duration: number | undefined;
  },
): Promise<number> {
  for (const name of ["host", "port", "unix", "tls", "slow"]) {
    if (flags[name] !== undefined) {
      throw new UsageError(
        `option '--${name}' cannot be used with '--endpoints'`,
      );
    }
  }
  const format = settings.format;
  if (framingOf(format, MAX_FRAME_SIZE_LIMIT).encodes !== "header") {
    throw new UsageError(
      "option '--endpoints' needs a format whose header framewire writes (not initialBytesToStrip 0)",
    );
  }
  const requests = settings.requests;
  const result = await runPoolLoadTest({
    network: host.network,
    endpoints: settings.endpoints,
    connections: positiveInteger("connections", flags.connections) ?? 1,
    pipeline: settings.pipeline ?? 1,
    payloadSize: settings.payloadSize ?? DEFAULT_PAYLOAD_SIZE,
    format,
    requests,
    duration: settings.duration ?? (requests === undefined ? 5 : 60),
    warmup: seconds("warmup", flags.warmup) ?? (requests === undefined ? 1 : 0),
    verify: flags.verify === true,
  });
  if (flags.json) {
    host.print(
      JSON.stringify({
        endpoints: settings.endpoints,
        framing: format ?? "u32le",
        ...result,
      }),
    );
  } else {
    const where = `pool of ${settings.endpoints.join(", ")}`;
    for (const line of formatBenchResult(result, where, requests, format)) {
      host.print(line);
    }
  }
  return result.errorCount === 0 && result.connected > 0 ? 0 : 1;
}
