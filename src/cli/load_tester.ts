/**
 * framewire's load tester: a closed-loop load generator that keeps a fixed
 * number of requests in flight on each of many connections, verifies
 * responses if asked, and measures throughput and latency.
 *
 * @module
 */
import { framingOf, MAX_FRAME_SIZE_LIMIT } from "../_frame_header.ts";
import type { FrameFormatOption } from "../frame_format.ts";
import { requestTemplate } from "./_request_frames.ts";
import { LatencyHistogram } from "../latency_histogram.ts";
import { integerOption, numberOption } from "../_validate.ts";
import type { Network, TlsConnectOptions } from "../transport.ts";
import {
  LoadConnection,
  type LoadRequests,
  maxPipelineFor,
  sequencePlace,
  type Shared,
} from "./_load_connection.ts";

/** Payload bytes per request unless told: {@linkcode LoadTestOptions.payloadSize}. */
export const DEFAULT_PAYLOAD_SIZE = 16;

/**
 * Settings of {@linkcode runLoadTest}.
 *
 * @example
 * ```ts
 * import type { LoadTestOptions } from "./load_tester.ts";
 * import { nodeNetwork } from "../adapters/node.ts";
 *
 * const options: LoadTestOptions = { network: nodeNetwork, port: 1234, connections: 50, pipeline: 32 };
 * ```
 */
export interface LoadTestOptions {
  /** The adapter to connect with. */
  network: Network;
  /** Server host. @default {"127.0.0.1"} */
  host?: string;
  /** Server port. @default {1234} */
  port?: number;
  /** Connect to this Unix domain socket instead of `host` and `port`. */
  path?: string;
  /** Speak TLS; see `ConnectOptions.tls`. Each connection makes its own handshake. */
  tls?: boolean | TlsConnectOptions;
  /** Connections to open. @default {1} */
  connections?: number;
  /** Requests kept in flight on each connection. @default {1} */
  pipeline?: number;
  /** Payload bytes per request. @default {16} */
  payloadSize?: number;
  /**
   * The server's frame format (see `docs/framing.md`): a preset's name or a
   * `FrameFormat` that can be written. With `initialBytesToStrip: 0` each
   * request is a whole frame: zero bytes before the length field, the field,
   * then the payload; the echo returns it whole.
   *
   * With a request id (`u32le-id`, `dns`), each request carries its own id
   * and responses are matched by it, in any order; a response whose id
   * matches no request in flight is a protocol error. The pipeline may then
   * be at most half the id space (32,768 with a 2-byte id).
   *
   * @default {"u32le"}
   */
  format?: FrameFormatOption;
  /**
   * Measured requests in all: the test sends exactly this many after the
   * warm-up and waits for their answers. Without it the test runs for
   * `duration` seconds.
   */
  requests?: number;
  /**
   * Seconds to measure; with `requests`, the time limit instead.
   * @default {5, or 60 with requests}
   */
  duration?: number;
  /** Seconds of load before measuring starts. @default {1, or 0 with requests} */
  warmup?: number;
  /** Compare every response with its request. @default {false} */
  verify?: boolean;
  /**
   * The fraction of `serve --slow FRACTION:DURATION`: requests are sorted
   * into those the server delays and the fast rest, by the same hash of
   * the request the server uses, and the result gives the latency of the
   * fast ones alone (`fastLatencyUs`). From 0 to 1.
   */
  slow?: number;
  /** Connections opened at once while connecting. @default {200} */
  connectBatch?: number;
  /** Called about once a second while measuring. */
  onProgress?: (progress: LoadTestProgress) => void;
}

/**
 * A progress report while a load test runs.
 *
 * @example
 * ```ts
 * import type { LoadTestProgress } from "./load_tester.ts";
 *
 * const show = (p: LoadTestProgress) => `${p.seconds.toFixed(0)} s: ${p.requestsPerSecond} req/s`;
 * ```
 */
export interface LoadTestProgress {
  /** Seconds measured so far. */
  seconds: number;
  /** Responses counted so far. */
  requests: number;
  /** Responses per second over the last interval. */
  requestsPerSecond: number;
}

/**
 * Errors of a load test, by kind.
 *
 * @example
 * ```ts
 * import type { LoadTestErrors } from "./load_tester.ts";
 *
 * const none: LoadTestErrors = { connect: 0, closed: 0, mismatch: 0, protocol: 0, timeout: 0 };
 * ```
 */
export interface LoadTestErrors {
  /** Connections that could not be opened. */
  connect: number;
  /** Connections the server closed or reset during the test. */
  closed: number;
  /** Responses that differed from their request (with `verify`). */
  mismatch: number;
  /**
   * Connections closed for a response that broke the protocol: a length
   * over the limit, or, with a request id, an id that matches no request in
   * flight.
   */
  protocol: number;
  /**
   * Measured requests sent and still unanswered, on connections still open,
   * when the time limit ended the test (with `requests`). Requests never
   * sent are not counted: see `sent`.
   */
  timeout: number;
}

/**
 * What a load test measured.
 *
 * @example
 * ```ts
 * import type { LoadTestResult } from "./load_tester.ts";
 *
 * const line = (r: LoadTestResult) => `${r.requestsPerSecond.toFixed(0)} req/s, p99 ${r.latencyUs.p99} us`;
 * ```
 */
export interface LoadTestResult {
  /** Connections asked for. */
  connections: number;
  /** Connections opened. */
  connected: number;
  /** Requests in flight per connection. */
  pipeline: number;
  /** Payload bytes per request. */
  payloadSize: number;
  /** Responses received in the measured window. */
  requests: number;
  /**
   * Measured requests sent. With `requests`, fewer than asked when the time
   * limit or closed connections ended the test first.
   */
  sent: number;
  /** Length of the measured window, in seconds. */
  seconds: number;
  /** `requests / seconds`. */
  requestsPerSecond: number;
  /** Payload megabytes (10^6 bytes) per second sent, in the measured window. */
  sentMBps: number;
  /** Payload megabytes (10^6 bytes) per second received, in the measured window. */
  receivedMBps: number;
  /** Errors by kind. */
  errors: LoadTestErrors;
  /** All errors. */
  errorCount: number;
  /** Why the first connection that could not be opened failed, or null. */
  connectError: string | null;
  /** Round-trip latency of the measured responses, in microseconds. */
  latencyUs: {
    p50: number;
    p90: number;
    p99: number;
    p999: number;
    max: number;
    min: number;
    mean: number;
  };
  /** Whether every response was compared with its request. */
  verified: boolean;
  /** With `slow`: the fraction the server was said to delay. */
  slow?: number;
  /** With `slow`: measured responses to requests the server delays. */
  slowRequests?: number;
  /**
   * With `slow`: the latency of the measured responses to the other
   * requests, the fast ones, in microseconds (all 0 when there were none).
   */
  fastLatencyUs?: LoadTestResult["latencyUs"];
}

/**
 * The summary of a latency histogram in microseconds, to 0.1 us, as load
 * test results give it.
 *
 * @example
 * ```ts
 * import { latencySummary } from "./load_tester.ts";
 * import { LatencyHistogram } from "../latency_histogram.ts";
 *
 * const histogram = new LatencyHistogram();
 * histogram.record(250);
 * console.log(latencySummary(histogram).p50);
 * ```
 */
export function latencySummary(
  h: LatencyHistogram,
): LoadTestResult["latencyUs"] {
  const round = (n: number) => Math.round(n * 10) / 10;
  return {
    p50: round(h.percentile(50)),
    p90: round(h.percentile(90)),
    p99: round(h.percentile(99)),
    p999: round(h.percentile(99.9)),
    max: round(h.max),
    min: round(h.min),
    mean: round(h.mean),
  };
}

/**
 * Runs a closed-loop load test against a framewire server (or any server of
 * the protocol that echoes): opens `connections` connections in batches,
 * keeps `pipeline` requests in flight on each, discards the warm-up, then
 * measures for `duration` seconds or until `requests` responses have come.
 * Latencies go into a histogram, not a list of samples.
 *
 * @param options Where, how much and how long; see {@linkcode LoadTestOptions}.
 * @returns The measurements; errors are counted, not thrown.
 * @throws {RangeError} An option is out of range, or `format` is invalid or
 * cannot be written (nor with this `payloadSize`), or its request id leaves
 * too few ids for `pipeline`.
 *
 * @example 50 connections x 32 pipelined requests for 5 seconds
 * ```ts
 * import { runLoadTest } from "./load_tester.ts";
 * import { defaultNetwork } from "../adapters/auto.ts";
 *
 * const result = await runLoadTest({
 *   network: await defaultNetwork(), port: 1234, connections: 50, pipeline: 32, duration: 5,
 * });
 * console.log(`${result.requestsPerSecond.toFixed(0)} req/s`);
 * ```
 */
export async function runLoadTest(
  options: LoadTestOptions,
): Promise<LoadTestResult> {
  const connections = integerOption("connections", options.connections, 1, 1);
  // Checked and resolved before connecting: a format that cannot be written
  // throws here. The decoders get their own limit, from the response size.
  const framing = framingOf(options.format, MAX_FRAME_SIZE_LIMIT);
  const pipeline = integerOption(
    "pipeline",
    options.pipeline,
    1,
    1,
    framing.id === null
      ? 1 << 20
      : Math.min(1 << 20, maxPipelineFor(framing.id)),
  );
  const payloadSize = integerOption(
    "payloadSize",
    options.payloadSize,
    DEFAULT_PAYLOAD_SIZE,
    0,
    1 << 30,
  );
  const requests = options.requests === undefined
    ? undefined
    : integerOption("requests", options.requests, 1, 1);
  // Under a millisecond, a duration is no time at all.
  const duration = numberOption(
    "duration",
    options.duration,
    requests === undefined ? 5 : 60,
    0.001,
    Infinity,
  );
  const warmup = numberOption(
    "warmup",
    options.warmup,
    requests === undefined ? 1 : 0,
    0,
    Infinity,
  );
  const connectBatch = integerOption(
    "connectBatch",
    options.connectBatch,
    200,
    1,
  );
  const slow = options.slow === undefined
    ? undefined
    : numberOption("slow", options.slow, 0, 0, 1);
  const template = requestTemplate(framing, payloadSize);
  sequencePlace(template, framing); // throws for an id in the length field
  const load: LoadRequests = {
    template,
    framing,
    format: options.format,
    pipeline,
    verify: options.verify ?? false,
    slow,
  };

  let settle: () => void = () => {};
  const errors: LoadTestErrors = {
    connect: 0,
    closed: 0,
    mismatch: 0,
    protocol: 0,
    timeout: 0,
  };
  const shared: Shared = {
    measuring: false,
    stopping: false,
    budget: Infinity,
    sent: 0,
    counted: 0,
    bytesOut: 0,
    target: requests ?? Infinity,
    reached: () => {},
    histogram: new LatencyHistogram(),
    fastHistogram: new LatencyHistogram(),
    slowHistogram: new LatencyHistogram(),
    slowCounted: 0,
    errors,
    settled: () => settle(),
  };

  // Connect in batches so a large count does not overrun the listen backlog.
  const target = options.path !== undefined ? { path: options.path } : {
    host: options.host ?? "127.0.0.1",
    port: options.port ?? 1234,
    tls: options.tls,
  };
  const open: LoadConnection[] = [];
  let connectError: string | null = null;
  for (let i = 0; i < connections; i += connectBatch) {
    const batch = Array.from(
      { length: Math.min(connectBatch, connections - i) },
      () => options.network.connect(target),
    );
    for (const result of await Promise.allSettled(batch)) {
      if (result.status === "fulfilled") {
        open.push(new LoadConnection(result.value, shared, load));
      } else {
        errors.connect++;
        connectError ??= result.reason instanceof Error
          ? result.reason.message
          : String(result.reason);
      }
    }
  }

  const sleep = (ms: number) =>
    new Promise((resolve) => setTimeout(resolve, ms));
  let started = 0;
  const startMeasuring = () => {
    shared.measuring = true;
    shared.histogram.reset();
    shared.fastHistogram.reset();
    shared.slowHistogram.reset();
    shared.slowCounted = 0;
    if (requests !== undefined) shared.budget = requests;
    started = performance.now();
  };
  // Without a warm-up, the very first requests are measured.
  if (warmup === 0) startMeasuring();
  for (const connection of open) connection.begin();
  if (warmup > 0) {
    await sleep(warmup * 1000);
    startMeasuring();
  }
  let progressTimer: ReturnType<typeof setInterval> | undefined;
  if (options.onProgress) {
    let last = 0;
    let lastAt = started;
    progressTimer = setInterval(() => {
      const now = performance.now();
      options.onProgress!({
        seconds: (now - started) / 1000,
        requests: shared.counted,
        requestsPerSecond: Math.round(
          (shared.counted - last) / ((now - lastAt) / 1000),
        ),
      });
      last = shared.counted;
      lastAt = now;
    }, 1000);
  }
  await new Promise<void>((resolve) => {
    const timer = setTimeout(finish, duration * 1000);
    function finish() {
      clearTimeout(timer);
      resolve();
    }
    settle = () => {
      if (open.every((c) => c.done)) finish();
    };
    shared.reached = finish;
    if (open.length === 0) finish();
  });
  const seconds = (performance.now() - started) / 1000;
  shared.stopping = true;
  clearInterval(progressTimer);
  if (requests !== undefined) {
    // Only what was sent can time out; requests lost with a closed
    // connection are that connection's "closed" error.
    for (const connection of open) {
      errors.timeout += connection.unanswered;
    }
  }
  await Promise.all(open.map((c) => c.finish()));
  if (slow !== undefined) {
    // Each response went into the histogram of its kind only.
    shared.histogram.merge(shared.fastHistogram);
    shared.histogram.merge(shared.slowHistogram);
  }

  return {
    connections,
    connected: open.length,
    pipeline,
    payloadSize,
    requests: shared.counted,
    sent: shared.sent,
    seconds,
    requestsPerSecond: shared.counted / seconds,
    sentMBps: shared.bytesOut / seconds / 1e6,
    receivedMBps: (shared.counted * payloadSize) / seconds / 1e6,
    errors,
    errorCount: errors.connect + errors.closed + errors.mismatch +
      errors.protocol + errors.timeout,
    connectError,
    latencyUs: latencySummary(shared.histogram),
    verified: options.verify ?? false,
    ...(slow === undefined ? {} : {
      slow,
      slowRequests: shared.slowCounted,
      fastLatencyUs: latencySummary(shared.fastHistogram),
    }),
  };
}
