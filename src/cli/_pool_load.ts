/**
 * `bench --endpoints`: load through framewire's client pool instead of
 * connections of its own. `connections x pipeline` request loops share one
 * {@linkcode Pool} over the endpoints (its connections spread over them,
 * routed by least requests in flight, redialed when lost), each loop
 * sending its next request when the last is answered. Latency is measured
 * per request, from `pool.request()` to its answer; with `verify`, every
 * answer must equal its request (the echo).
 *
 * @module
 */
import { LatencyHistogram } from "../latency_histogram.ts";
import { Pool } from "../pool.ts";
import type { PoolEndpoint } from "../pool.ts";
import type { FrameFormatOption } from "../frame_format.ts";
import { framingOf, MAX_FRAME_SIZE_LIMIT } from "../_frame_header.ts";
import type { Network } from "../transport.ts";
import {
  latencySummary,
  type LoadTestErrors,
  type LoadTestResult,
} from "./load_tester.ts";

/** Settings of {@linkcode runPoolLoadTest}. */
export interface PoolLoadOptions {
  network: Network;
  endpoints: PoolEndpoint[];
  /** Connections in all, spread over the endpoints. */
  connections: number;
  /** Requests in flight on each connection. */
  pipeline: number;
  payloadSize: number;
  format?: FrameFormatOption;
  /** Measured requests, or undefined to run for `duration` seconds. */
  requests?: number;
  duration: number;
  warmup: number;
  verify: boolean;
}

/**
 * Runs the load through a pool and measures it as `runLoadTest` does.
 * Requests that reject are counted as `closed` errors, answers that differ
 * from their request as `mismatch`.
 */
export async function runPoolLoadTest(
  options: PoolLoadOptions,
): Promise<LoadTestResult> {
  const endpoints = options.endpoints;
  const perEndpoint = Math.max(
    1,
    Math.ceil(options.connections / endpoints.length),
  );
  const pool = new Pool({
    endpoints,
    connectionsPerEndpoint: perEndpoint,
    network: options.network,
    format: options.format,
    maxInFlight: options.pipeline,
  });
  await pool.ready();
  const idEnd = framingOf(options.format, MAX_FRAME_SIZE_LIMIT).id?.end ?? 0;
  const histogram = new LatencyHistogram();
  const errors: LoadTestErrors = {
    connect: 0,
    closed: 0,
    mismatch: 0,
    protocol: 0,
    timeout: 0,
  };
  let measuring = options.warmup === 0;
  let stopping = false;
  let counted = 0;
  let sent = 0;
  let budget = options.requests ?? Infinity;
  let sequence = 0;
  const loops = perEndpoint * endpoints.length * options.pipeline;
  let reached: () => void = () => {};
  const done = new Promise<void>((resolve) => (reached = resolve));

  async function loop(): Promise<void> {
    while (!stopping) {
      const payload = new Uint8Array(options.payloadSize);
      // A sequence number after the id's room makes every request differ.
      const seq = sequence++;
      for (let b = 0; b < 4 && idEnd + b < payload.length; b++) {
        payload[idEnd + b] = (seq >>> (8 * b)) & 0xff;
      }
      const measured = measuring && budget > 0;
      if (measured) {
        budget--;
        sent++;
      }
      const started = performance.now();
      try {
        const answer = await pool.request(payload);
        if (
          options.verify && !sameAfter(answer, payload, idEnd)
        ) errors.mismatch++;
        if (measured && !stopping) {
          histogram.record((performance.now() - started) * 1000);
          if (++counted === options.requests) reached();
        }
      } catch {
        if (!stopping) errors.closed++;
      }
      if (options.requests !== undefined && measuring && budget === 0) return;
    }
  }

  const running = Array.from({ length: loops }, loop);
  if (options.warmup > 0) {
    await sleep(options.warmup * 1000);
    measuring = true;
  }
  const started = performance.now();
  const timer = setTimeout(reached, options.duration * 1000);
  await done;
  clearTimeout(timer);
  const seconds = (performance.now() - started) / 1000;
  stopping = true;
  await Promise.all(running);
  const stats = pool.stats();
  await pool.close({ timeout: 2000 });
  return {
    connections: perEndpoint * endpoints.length,
    connected: stats.endpoints.reduce((n, e) => n + e.connected, 0),
    pipeline: options.pipeline,
    payloadSize: options.payloadSize,
    requests: counted,
    sent,
    seconds,
    requestsPerSecond: counted / seconds,
    sentMBps: (sent * options.payloadSize) / seconds / 1e6,
    receivedMBps: (counted * options.payloadSize) / seconds / 1e6,
    errors,
    errorCount: errors.closed + errors.mismatch,
    connectError: null,
    latencyUs: latencySummary(histogram),
    verified: options.verify,
  };
}

/** Whether `answer` equals `request` past the id's room. */
function sameAfter(
  answer: Uint8Array,
  request: Uint8Array,
  from: number,
): boolean {
  if (answer.length !== request.length) return false;
  for (let i = from; i < answer.length; i++) {
    if (answer[i] !== request[i]) return false;
  }
  return true;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
