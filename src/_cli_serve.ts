/**
 * The `serve` subcommand: the echo server with its limits, transports,
 * PROXY protocol, metrics endpoint and event log.
 *
 * @module
 */
import { Server, type ServerOptions } from "./server.ts";
import type { RequestContext } from "./server.ts";
import type { CliHost, HttpServerHandle } from "./cli.ts";
import {
  ADDRESS_FLAGS,
  durationFlag,
  type FlagSpec,
  formatHost,
  maxFrameSizeFlag,
  parseArgs,
  parsePort,
  parseSize,
  UsageError,
} from "./_cli_args.ts";
import {
  describeTarget,
  listenFlags,
  SERVE_TRANSPORT_FLAGS,
} from "./_cli_transport.ts";
import { formatMetrics, METRICS_CONTENT_TYPE } from "./metrics.ts";
import {
  closedConnectionLine,
  LOG_LEVELS,
  type LogFields,
  Logger,
  type LogLevel,
} from "./log.ts";

const SERVE_FLAGS: FlagSpec = {
  ...ADDRESS_FLAGS,
  ...SERVE_TRANSPORT_FLAGS,
  "max-connections": "value",
  "max-buffered-bytes": "value",
  "idle-timeout": "value",
  "frame-timeout": "value",
  "write-timeout": "value",
  "drain-timeout": "value",
  "proxy-protocol": "boolean",
  "proxy-protocol-timeout": "value",
  "metrics-port": "value",
  "metrics-host": "value",
  "log-level": "value",
  "log-format": "value",
};

function serveHelp(programName: string): string {
  return `Usage: ${programName} serve [--host HOST] [--port PORT | --unix PATH]
       [--tls-cert FILE --tls-key FILE] [--max-frame-size BYTES] [limits]

Serves the echo application until SIGINT or SIGTERM, then closes gracefully:
stops accepting, answers every request already received, closes each
connection (by force after --drain-timeout). A second signal exits at once.

Options:
  --host HOST                 interface to bind (default 0.0.0.0)
  --port PORT                 port to bind, 0 for any free one (default 1234)
  --unix PATH                 listen on a Unix domain socket instead of TCP; a
                              stale socket file there is replaced, the file is
                              removed on exit
  --tls-cert FILE             serve TLS with this PEM certificate chain
  --tls-key FILE              ... and this PEM private key
  --max-frame-size BYTES      largest request accepted; k/m suffixes allowed (default 32m)
  --max-connections N         connections served at once; more are closed (default 10000)
  --max-buffered-bytes BYTES  memory for frames being received and responses
                              not yet sent, server-wide (default 256m)
  --idle-timeout TIME         close a connection silent this long, 0 = never (default 120s)
  --frame-timeout TIME        close a connection whose frame takes longer (default 30s)
  --write-timeout TIME        close a peer that reads no response this long (default 30s)
  --drain-timeout TIME        on shutdown, force connections closed after (default 10s)
  --proxy-protocol            every connection starts with a PROXY protocol v1/v2
                              header from a load balancer (HAProxy send-proxy-v2,
                              nginx proxy_protocol); handlers see the real client.
                              Only behind one: anyone else could claim any address
  --proxy-protocol-timeout TIME  the header must arrive within this (default 5s)
  --metrics-port PORT         serve Prometheus metrics over HTTP at /metrics on
                              this port
  --metrics-host HOST         interface for the metrics port (default 127.0.0.1)
  --log-level LEVEL           debug, info, warn or error (default info)
  --log-format FORMAT         text or json: one JSON object per line (default text)
  -h, --help                  show this help

TIME is milliseconds, or a number with ms, s or m: 500ms, 30s, 2m.`;
}

/** The events `serve` reports, as text lines (the default) or JSON lines. */
interface EventLog {
  info(message: string, fields: LogFields): void;
  connectionClosed(error: unknown, context: RequestContext): void;
}

function eventLog(
  host: CliHost,
  flags: Record<string, string | true>,
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
  const min = LOG_LEVELS.indexOf(level as LogLevel);
  if (format === "json") {
    const logger = new Logger((line) => host.print(line), {
      level: level as LogLevel,
      format: "json",
    });
    return {
      info: (message, fields) => logger.info(message, fields),
      connectionClosed: logger.connectionErrors(),
    };
  }
  const warnEnabled = min <= LOG_LEVELS.indexOf("warn");
  return {
    info: (message) => {
      if (min <= LOG_LEVELS.indexOf("info")) host.print(message);
    },
    connectionClosed: (error, context) => {
      if (warnEnabled) host.printError(closedConnectionLine(error, context));
    },
  };
}

export async function serveCommand(
  host: CliHost,
  args: string[],
): Promise<number> {
  const { flags, positional } = parseArgs(args, SERVE_FLAGS);
  if (flags.help) {
    host.print(serveHelp(host.programName));
    return 0;
  }
  if (positional.length > 0) {
    throw new UsageError(`unexpected argument '${positional[0]}'`);
  }
  const maxFrameSize = maxFrameSizeFlag(flags);
  const options: ServerOptions = {
    maxFrameSize,
    idleTimeout: durationFlag(flags, "idle-timeout"),
    frameTimeout: durationFlag(flags, "frame-timeout"),
    writeTimeout: durationFlag(flags, "write-timeout"),
    closeTimeout: durationFlag(flags, "drain-timeout"),
  };
  if (typeof flags["max-connections"] === "string") {
    const text = flags["max-connections"];
    if (!/^[1-9]\d*$/.test(text)) {
      throw new UsageError(
        `option '--max-connections' expects a positive integer, got '${text}'`,
      );
    }
    options.maxConnections = Number(text);
  }
  if (typeof flags["max-buffered-bytes"] === "string") {
    options.maxBufferedBytes = parseSize(
      "max-buffered-bytes",
      flags["max-buffered-bytes"],
      Number.MAX_SAFE_INTEGER,
    );
    if (options.maxBufferedBytes < maxFrameSize) {
      throw new UsageError(
        `option '--max-buffered-bytes' must be at least --max-frame-size (${maxFrameSize}), got ${options.maxBufferedBytes}`,
      );
    }
  }
  if (flags["proxy-protocol"] === true) {
    options.proxyProtocol = {
      timeout: durationFlag(flags, "proxy-protocol-timeout"),
    };
  } else if (flags["proxy-protocol-timeout"] !== undefined) {
    throw new UsageError(
      "option '--proxy-protocol-timeout' needs --proxy-protocol",
    );
  }
  const log = eventLog(host, flags);
  options.onError = log.connectionClosed;
  const metricsPort = typeof flags["metrics-port"] === "string"
    ? parsePort(flags["metrics-port"], "metrics-port")
    : undefined;
  if (metricsPort === undefined && flags["metrics-host"] !== undefined) {
    throw new UsageError("option '--metrics-host' needs --metrics-port");
  }
  // Listen for signals before binding, so no signal can find the default action.
  let signals = 0;
  let shutdown!: () => void;
  const shutdownRequested = new Promise<void>((
    resolve,
  ) => (shutdown = resolve));
  const unsubscribe = host.onShutdownSignal(() => {
    if (++signals === 1) shutdown();
    else {
      host.printError("Second signal: exiting without waiting for connections");
      host.exit(1);
    }
  });
  const server = new Server(options);
  let metrics: HttpServerHandle | undefined;
  try {
    const listen = await listenFlags(host, flags);
    const addr = await server.listen(host.network, listen);
    log.info(
      `Server listening on ${
        describeTarget(
          addr.transport === "unix"
            ? { path: addr.hostname }
            : { host: addr.hostname, port: addr.port, tls: listen.tls },
        )
      }`,
      { event: "listening", address: addr.hostname, port: addr.port },
    );
    if (metricsPort !== undefined) {
      if (host.serveHttp === undefined) {
        throw new Error(
          "Cannot serve metrics: this runtime's command line has no HTTP server",
        );
      }
      metrics = await host.serveHttp(
        {
          host: (flags["metrics-host"] as string | undefined) ?? "127.0.0.1",
          port: metricsPort,
        },
        (path) =>
          path === "/metrics"
            ? {
              status: 200,
              contentType: METRICS_CONTENT_TYPE,
              body: formatMetrics(server.stats(), server.handlerTime()),
            }
            : { status: 404, contentType: "text/plain", body: "Not found\n" },
      );
      log.info(
        `Metrics on http://${
          formatHost(metrics.hostname)
        }:${metrics.port}/metrics`,
        {
          event: "metrics",
          port: metrics.port,
        },
      );
    }
  } catch (error) {
    unsubscribe();
    await server.close();
    await metrics?.close();
    throw error;
  }
  await shutdownRequested;
  log.info("Shutting down: answering requests already received", {
    event: "shutdown",
    connections: server.stats().connections,
  });
  await server.close();
  await metrics?.close();
  const stats = server.stats();
  log.info(
    `Server stopped: ${stats.totalConnections} connections, ${stats.framesIn} requests served`,
    {
      event: "stopped",
      connections: stats.totalConnections,
      requests: stats.framesIn,
    },
  );
  unsubscribe();
  return 0;
}
