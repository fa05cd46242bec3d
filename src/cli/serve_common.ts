/**
 * What the modes of `serve` share: the event log, validated settings,
 * signals, and the metrics port.
 *
 * @module
 */
import type { HandlerTimeStats, ServerStats } from "../server_stats.ts";
import type { ServerOptions } from "../server.ts";
import type { CliHost, HttpResponse, HttpServerHandle } from "./host.ts";
import type { ListenOptions, NetAddr } from "../transport.ts";
import { UsageError } from "./args.ts";
import { formatHost } from "../_log_format.ts";
import { describeTarget } from "./transport_flags.ts";
import { LOG_LEVELS, type LogLevel } from "../_log_format.ts";
import { EventLog, type LogFormat } from "./log.ts";

/**
 * The event log of `--log-level` and `--log-format`; `worker`: the worker
 * whose log it is.
 */
export function eventLog(
  host: CliHost,
  flags: Record<string, string | true>,
  worker?: number,
): EventLog {
  const level = (flags["log-level"] ?? "info") as string;
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new UsageError(
      `option '--log-level' expects one of ${
        LOG_LEVELS.join(", ")
      }, got '${level}'`,
    );
  }
  const format = flags["log-format"] ?? "text";
  if (format !== "text" && format !== "json") {
    throw new UsageError(
      `option '--log-format' expects text or json, got '${format}'`,
    );
  }
  return new EventLog(host, {
    level: level as LogLevel,
    format: format as LogFormat,
    worker,
  });
}

/** What `serve`'s flags ask for, validated. */
export interface ServeSettings {
  /** The server's options: limits, and the `--handler` application's fields. */
  options: ServerOptions;
  /** Where to bind. */
  listen: ListenOptions;
  /** The metrics endpoint's address, if `--metrics-port` was given. */
  metrics: { host: string; port: number } | undefined;
  /** Worker processes asked for (1: serve in this process). */
  workers: number;
  /**
   * The `file:` URL of the `--handler` module, whose application is in
   * `options`; each worker imports it again.
   */
  handler: string | undefined;
}

/** A shutdown asked for by a signal (or by code), until `unsubscribe()`. */
export interface ShutdownSignal {
  /** Settles on the first SIGINT or SIGTERM, or the first `request()`. */
  requested: Promise<void>;
  /** Asks for the shutdown as a first signal would. */
  request(): void;
  /** Stops listening for signals. */
  unsubscribe(): void;
}

/**
 * Listens for SIGINT and SIGTERM: the first settles `requested`, any later
 * one calls `onSecond`.
 */
export function shutdownSignal(
  host: CliHost,
  onSecond: () => void,
): ShutdownSignal {
  let request!: () => void;
  const requested = new Promise<void>((resolve) => (request = resolve));
  let signals = 0;
  const unsubscribe = host.onShutdownSignal(() => {
    if (++signals === 1) request();
    else onSecond();
  });
  return { requested, request, unsubscribe };
}

/** The `/stats` document: counters summed, and each worker's. */
export function statsDocument(
  total: { stats: ServerStats; handlerTime: HandlerTimeStats },
  workers: Array<
    {
      id: number;
      pid: number;
      stats: ServerStats;
      handlerTime: HandlerTimeStats;
    }
  >,
): HttpResponse {
  return {
    status: 200,
    contentType: "application/json",
    body: JSON.stringify({ total, workers }, null, 2) + "\n",
  };
}

/** The 404 of the metrics port. */
export const NOT_FOUND: HttpResponse = {
  status: 404,
  contentType: "text/plain",
  body: "Not found\n",
};

/**
 * Starts the metrics endpoint if `--metrics-port` was given, and logs where.
 */
export async function startMetrics(
  host: CliHost,
  settings: ServeSettings,
  log: EventLog,
  respond: (path: string) => HttpResponse | Promise<HttpResponse>,
): Promise<HttpServerHandle | undefined> {
  if (settings.metrics === undefined) return undefined;
  if (host.serveHttp === undefined) {
    throw new Error(
      "Cannot serve metrics: this runtime's command line has no HTTP server",
    );
  }
  const metrics = await host.serveHttp(settings.metrics, respond);
  log.info(
    `Metrics on http://${formatHost(metrics.hostname)}:${metrics.port}/metrics`,
    { event: "metrics", port: metrics.port },
  );
  return metrics;
}

/** The "Server listening on" line. */
export function listeningLine(addr: NetAddr, listen: ListenOptions): string {
  return `Server listening on ${
    describeTarget(
      addr.transport === "unix"
        ? { path: addr.hostname }
        : { host: addr.hostname, port: addr.port, tls: listen.tls },
    )
  }`;
}
