/**
 * A server's counters and handler-time summary, as `server.stats()` and
 * `server.handlerTime()` report them.
 *
 * @module
 */
import type { LatencyHistogram } from "./latency_histogram.ts";

/**
 * Counters of a server since it was created.
 *
 * @example
 * ```ts
 * import type { ServerStats } from "./server_stats.ts";
 *
 * function summary(stats: ServerStats): string {
 *   return `${stats.framesIn} requests, ${stats.protocolErrors} protocol errors`;
 * }
 * ```
 */
export interface ServerStats {
  /** Connections open now. */
  connections: number;
  /** Connections accepted in all. */
  totalConnections: number;
  /** Of `connections`, those over a WebSocket (`serveWebSocket()`). */
  webSocketConnections: number;
  /** Of `totalConnections`, those over a WebSocket. */
  totalWebSocketConnections: number;
  /** Request frames received. */
  framesIn: number;
  /** Response frames queued for sending. */
  framesOut: number;
  /** Bytes received, headers included. */
  bytesIn: number;
  /** Response payload bytes queued for sending. */
  bytesOut: number;
  /** Connections closed for breaking the protocol (a frame over maxFrameSize). */
  protocolErrors: number;
  /** Handler calls that threw, rejected or returned something other than bytes. */
  handlerErrors: number;
  /** Incomplete frames discarded when their connection ended. */
  truncatedFrames: number;
  /** Bytes of those incomplete frames. */
  truncatedBytes: number;
  /** Times reading from a peer was paused because its responses piled up. */
  backpressurePauses: number;
  /** Connections closed at once because `maxConnections` were open. */
  rejectedConnections: number;
  /** Frames that waited for memory because the server was over `maxBufferedBytes`. */
  memoryDeferrals: number;
  /** Connections closed by `idleTimeout`. */
  idleTimeouts: number;
  /** Connections closed by `frameTimeout`. */
  frameTimeouts: number;
  /** Connections closed by `writeTimeout`. */
  writeTimeouts: number;
  /** Handler calls that exceeded `handlerTimeout` (also counted in `handlerErrors`). */
  handlerTimeouts: number;
  /** Bytes held now for frames being received and responses not yet sent. */
  bufferedBytes: number;
  /** Connections closed for a missing, invalid or late PROXY protocol header. */
  proxyProtocolErrors: number;
}

/**
 * Handler time, in microseconds, from a {@linkcode Server}'s histogram:
 * every async handler call (to its settling) and one synchronous call in 64.
 *
 * @example
 * ```ts
 * import type { HandlerTimeStats } from "./server_stats.ts";
 *
 * const line = (t: HandlerTimeStats) => `p99 ${t.p99} us over ${t.samples} calls`;
 * ```
 */
export interface HandlerTimeStats {
  /** Calls timed. */
  samples: number;
  /** Sum of the times, in microseconds. */
  sum: number;
  /** The median, in microseconds (percentiles are within 1.6%). */
  p50: number;
  /** The 90th percentile, in microseconds. */
  p90: number;
  /** The 99th percentile, in microseconds. */
  p99: number;
  /** The 99.9th percentile, in microseconds. */
  p999: number;
  /** The longest call, in microseconds. */
  max: number;
}

/**
 * Summarizes a handler-time histogram as {@linkcode HandlerTimeStats}, as
 * `server.handlerTime()` does; use it on histograms merged from several
 * servers.
 *
 * @param histogram Handler times in microseconds.
 * @returns Sample count, sum, percentiles and maximum.
 *
 * @example
 * ```ts
 * import { handlerTimeStats } from "./server_stats.ts";
 * import { LatencyHistogram } from "./latency_histogram.ts";
 *
 * const merged = new LatencyHistogram();
 * merged.record(120);
 * merged.merge(new LatencyHistogram());
 * console.log(handlerTimeStats(merged).samples); // 1
 * ```
 */
export function handlerTimeStats(
  histogram: LatencyHistogram,
): HandlerTimeStats {
  return {
    samples: histogram.count,
    sum: histogram.mean * histogram.count,
    p50: histogram.percentile(50),
    p90: histogram.percentile(90),
    p99: histogram.percentile(99),
    p999: histogram.percentile(99.9),
    max: histogram.max,
  };
}
