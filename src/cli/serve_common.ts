/**
 * What the modes of `serve` share: the event log, validated settings,
 * signals, and the metrics port.
 *
 * @module
 */
import type { HandlerTimeStats, ServerStats } from "../server_stats.ts";
import type { ServerOptions } from "../server.ts";
import type { CliHost, HttpResponse, HttpServerHandle } from "./host.ts";
import type { ListenOptions, NetAddr, Transport } from "../transport.ts";
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

/**
 * The gateway's settings: where it listens, and whether the client's
 * address is the `X-Forwarded-For` header's last entry.
 *
 * @example
 * ```ts
 * import type { WebSocketGatewaySettings } from "./serve_common.ts";
 *
 * const gateway: WebSocketGatewaySettings = {
 *   host: "0.0.0.0",
 *   port: 8080,
 *   forwardedFor: false,
 * };
 * ```
 */
export interface WebSocketGatewaySettings {
  host: string;
  port: number;
  forwardedFor: boolean;
}

/** What `serve`'s flags ask for, validated. */
export interface ServeSettings {
  /** The server's options: limits, and the `--handler` application's fields. */
  options: ServerOptions;
  /** Where to bind. */
  listen: ListenOptions;
  /**
   * The admin port's address (`--admin-port`, or its old name
   * `--metrics-port`): `/livez`, `/readyz`, `/metrics` and `/stats`.
   */
  metrics: { host: string; port: number } | undefined;
  /** The HAProxy agent-check port's address, if `--agent-port` was given. */
  agent: { host: string; port: number } | undefined;
  /** The WebSocket gateway (`--ws-port`), if asked for. */
  webSocket: WebSocketGatewaySettings | undefined;
  /**
   * Milliseconds between the first signal (readiness fails) and the end of
   * accepting (`--drain-delay`, default 0).
   */
  drainDelay: number;
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

/**
 * What `/readyz` and the agent check report: whether the server (or, with
 * `--workers`, the set) takes new connections.
 */
export interface Readiness {
  /** Whether a drain has started (the first signal arrived). */
  draining: boolean;
  /** Whether connections are at `maxConnections` (in every worker). */
  full: boolean;
  /** Connections the server (or the whole set) serves at most. */
  maxConnections: number;
}

/**
 * `maxConnections` as the server applies it: the option, or the library's
 * default (10,000; see `ServerOptions.maxConnections`).
 */
export function maxConnectionsOf(options: ServerOptions): number {
  return options.maxConnections ?? 10_000;
}

/**
 * `/livez` (200 while the process serves) and `/readyz` (200 while
 * accepting; 503 once a drain started or at `maxConnections`); undefined for
 * any other path.
 */
export async function healthResponse(
  path: string,
  readiness: () => Readiness | Promise<Readiness>,
): Promise<HttpResponse | undefined> {
  if (path === "/livez") {
    return { status: 200, contentType: "text/plain", body: "ok\n" };
  }
  if (path !== "/readyz") return undefined;
  const state = await readiness();
  const reason = state.draining
    ? "draining"
    : state.full
    ? "at maxConnections"
    : undefined;
  return reason === undefined
    ? { status: 200, contentType: "text/plain", body: "ready\n" }
    : {
      status: 503,
      contentType: "text/plain",
      body: `not ready: ${reason}\n`,
    };
}

/**
 * The agent-check reply: `drain` once draining, else `ready` with the
 * connection limit (`maxconn:N`), one line. HAProxy reads words separated
 * by spaces or commas up to the newline; `drain` sets the server's weight
 * to 0 (no new connections, those open go on), `ready` restores it.
 */
export function agentReply(state: Readiness): string {
  return state.draining ? "drain\n" : `ready maxconn:${state.maxConnections}\n`;
}

/**
 * Starts the HAProxy agent-check responder if `--agent-port` was given:
 * for each connection it writes {@linkcode agentReply} and closes (FIN).
 * Its listener is the program's own network (`host.network`), so it works
 * on every runtime.
 */
export async function startAgent(
  host: CliHost,
  settings: ServeSettings,
  log: EventLog,
  readiness: () => Readiness | Promise<Readiness>,
): Promise<{ close(): void } | undefined> {
  if (settings.agent === undefined) return undefined;
  const encoder = new TextEncoder();
  const open = new Set<Transport>();
  const listener = await host.network.listen(
    { host: settings.agent.host, port: settings.agent.port },
    (transport) => {
      open.add(transport);
      transport.start({
        data: () => true, // HAProxy may send agent-send; it needs no answer
        end: () => {},
        drain: () => {},
        closed: () => open.delete(transport),
      });
      Promise.resolve(readiness()).then(
        (state) => {
          transport.write(encoder.encode(agentReply(state)));
          transport.closeWrite();
        },
        () => transport.close(),
      );
    },
  );
  log.info(
    `Agent check on ${
      formatHost(listener.addr.hostname)
    }:${listener.addr.port}`,
    { event: "agent", port: listener.addr.port },
  );
  return {
    close() {
      listener.close();
      for (const transport of open) transport.close();
    },
  };
}

/**
 * Steps 1 and 2 of the shutdown sequence, after the first signal: logs that
 * readiness now fails, then waits `settings.drainDelay` ms while the server
 * keeps serving and accepting, so balancers notice.
 */
export async function drainDelay(
  settings: ServeSettings,
  log: EventLog,
): Promise<void> {
  const delay = settings.drainDelay;
  log.info(
    delay > 0
      ? `Draining: /readyz fails and the agent says drain; still accepting for ${delay} ms (--drain-delay)`
      : "Draining: /readyz fails and the agent says drain",
    { event: "draining", delay },
  );
  if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
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
    `Metrics on http://${
      formatHost(metrics.hostname)
    }:${metrics.port}/metrics, health on /livez and /readyz`,
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
