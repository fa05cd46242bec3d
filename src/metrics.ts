/**
 * A server's counters in the Prometheus text exposition format (version
 * 0.0.4), ready to be served over HTTP by any runtime.
 *
 * @module
 */
import type { HandlerTimeStats, ServerStats } from "./server_stats.ts";

/** The `Content-Type` of {@linkcode formatMetrics}' output. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

interface Metric {
  name: string;
  type: "counter" | "gauge";
  help: string;
  value: (stats: ServerStats) => number;
  labels?: string;
}

/**
 * One sample of `name` per transport: `websocket` (the WebSocket share of
 * the total) and `tcp` (the rest).
 */
function byTransport(
  name: string,
  type: Metric["type"],
  help: string,
  total: (stats: ServerStats) => number,
  webSocket: (stats: ServerStats) => number,
): Metric[] {
  return [
    {
      name,
      type,
      help,
      labels: 'transport="tcp"',
      value: (s) => total(s) - webSocket(s),
    },
    { name, type, help, labels: 'transport="websocket"', value: webSocket },
  ];
}

/** One `framewire_connections_closed_total` sample per reason. */
function closedBy(
  reasons: ReadonlyArray<[string, (stats: ServerStats) => number]>,
): Metric[] {
  return reasons.map(([reason, value]) => ({
    name: "framewire_connections_closed_total",
    type: "counter",
    help: "Connections the server closed, by reason.",
    labels: `reason="${reason}"`,
    value,
  }));
}

const METRICS: readonly Metric[] = [
  ...byTransport(
    "framewire_connections",
    "gauge",
    "Connections open now, by transport (tcp: TCP, Unix sockets and streams).",
    (s) => s.connections,
    (s) => s.webSocketConnections,
  ),
  ...byTransport(
    "framewire_connections_accepted_total",
    "counter",
    "Connections accepted and served, by transport.",
    (s) => s.totalConnections,
    (s) => s.totalWebSocketConnections,
  ),
  {
    name: "framewire_connections_rejected_total",
    type: "counter",
    help: "Connections closed at once because maxConnections were open.",
    value: (s) => s.rejectedConnections,
  },
  ...closedBy([
    ["idle_timeout", (s) => s.idleTimeouts],
    ["frame_timeout", (s) => s.frameTimeouts],
    ["write_timeout", (s) => s.writeTimeouts],
    ["protocol_error", (s) => s.protocolErrors],
    ["handler_error", (s) => s.handlerErrors],
    ["proxy_protocol", (s) => s.proxyProtocolErrors],
  ]),
  {
    name: "framewire_frames_received_total",
    type: "counter",
    help: "Request frames received.",
    value: (s) => s.framesIn,
  },
  {
    name: "framewire_frames_sent_total",
    type: "counter",
    help: "Response frames queued for sending.",
    value: (s) => s.framesOut,
  },
  {
    name: "framewire_received_bytes_total",
    type: "counter",
    help: "Bytes received, headers included.",
    value: (s) => s.bytesIn,
  },
  {
    name: "framewire_sent_bytes_total",
    type: "counter",
    help: "Bytes queued for sending, headers included.",
    value: (s) => s.bytesOut,
  },
  {
    name: "framewire_handler_timeouts_total",
    type: "counter",
    help: "Handler calls that exceeded handlerTimeout.",
    value: (s) => s.handlerTimeouts,
  },
  {
    name: "framewire_truncated_frames_total",
    type: "counter",
    help: "Incomplete frames discarded when their connection ended.",
    value: (s) => s.truncatedFrames,
  },
  {
    name: "framewire_backpressure_pauses_total",
    type: "counter",
    help: "Times reading from a peer paused because its responses piled up.",
    value: (s) => s.backpressurePauses,
  },
  {
    name: "framewire_memory_deferrals_total",
    type: "counter",
    help: "Frames that waited for memory under maxBufferedBytes.",
    value: (s) => s.memoryDeferrals,
  },
  {
    name: "framewire_buffered_bytes",
    type: "gauge",
    help: "Bytes held for frames being received and responses not yet sent.",
    value: (s) => s.bufferedBytes,
  },
];

/**
 * Renders a server's counters and handler-time summary as Prometheus text.
 * Counters of several workers can be summed with {@linkcode sumStats}
 * first.
 *
 * @param stats From `server.stats()`.
 * @param handlerTime From `server.handlerTime()`; quantiles in seconds.
 * @returns The exposition text, one sample per line.
 *
 * @example
 * ```ts
 * import { Server } from "./server.ts";
 * import { formatMetrics } from "./metrics.ts";
 *
 * const server = new Server();
 * const text = formatMetrics(server.stats(), server.handlerTime());
 * console.log(text.includes("framewire_connections 0")); // true
 * ```
 */
export function formatMetrics(
  stats: ServerStats,
  handlerTime: HandlerTimeStats,
): string {
  const lines: string[] = [];
  let last = "";
  for (const metric of METRICS) {
    if (metric.name !== last) {
      lines.push(`# HELP ${metric.name} ${metric.help}`);
      lines.push(`# TYPE ${metric.name} ${metric.type}`);
      last = metric.name;
    }
    const labels = metric.labels === undefined ? "" : `{${metric.labels}}`;
    lines.push(`${metric.name}${labels} ${metric.value(stats)}`);
  }
  const name = "framewire_handler_seconds";
  lines.push(
    `# HELP ${name} Handler time: every async call, one sync call in 64.`,
  );
  lines.push(`# TYPE ${name} summary`);
  for (
    const [q, us] of [
      ["0.5", handlerTime.p50],
      ["0.9", handlerTime.p90],
      ["0.99", handlerTime.p99],
      ["0.999", handlerTime.p999],
    ] as const
  ) {
    lines.push(`${name}{quantile="${q}"} ${us / 1e6}`);
  }
  lines.push(`${name}_sum ${handlerTime.sum / 1e6}`);
  lines.push(`${name}_count ${handlerTime.samples}`);
  return lines.join("\n") + "\n";
}

/**
 * Adds up the counters of several servers (such as one per worker).
 * Gauges are summed too: connections and bytes held across all of them.
 *
 * @param all Snapshots from `server.stats()`.
 * @returns One snapshot with every field summed.
 *
 * @example
 * ```ts
 * import { Server } from "./server.ts";
 * import { sumStats } from "./metrics.ts";
 *
 * const total = sumStats([new Server().stats(), new Server().stats()]);
 * console.log(total.connections); // 0
 * ```
 */
export function sumStats(all: readonly ServerStats[]): ServerStats {
  if (all.length === 0) {
    throw new RangeError("Cannot sum stats: no snapshots given");
  }
  const total = { ...all[0] };
  for (const key of Object.keys(total) as Array<keyof ServerStats>) {
    total[key] = 0;
    for (const stats of all) total[key] += stats[key];
  }
  return total;
}
