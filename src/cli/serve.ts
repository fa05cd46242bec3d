/**
 * The `serve` subcommand: the echo server with its limits, transports,
 * PROXY protocol, metrics endpoint and event log.
 *
 * @module
 */
import { Server, type ServerOptions } from "../server.ts";
import type { CliHost, HttpServerHandle } from "./host.ts";
import { parseRole } from "./worker_control.ts";
import { serveWorker } from "./serve_worker.ts";
import { servePrimary } from "./workers.ts";
import {
  ADDRESS_FLAGS,
  durationFlag,
  type FlagSpec,
  FRAMING_FLAGS,
  framingFlag,
  maxFrameSizeFlag,
  numberFlag,
  parseArgs,
  parsePort,
  parseSize,
  UsageError,
} from "./args.ts";
import { checkNumber } from "../_validate.ts";
import { framingOf } from "../_frame_header.ts";
import { startWebSocketGateway, type WebSocketGateway } from "./_ws_gateway.ts";
import { listenFlags, SERVE_TRANSPORT_FLAGS } from "./transport_flags.ts";
import { loadHandlerModule, moduleUrl } from "./handler_module.ts";
import { parseSlowFlag, slowEchoHandler } from "./_slow_requests.ts";
import { formatMetrics, METRICS_CONTENT_TYPE } from "../metrics.ts";
import {
  drainDelay,
  eventLog,
  healthResponse,
  listeningLine,
  maxConnectionsOf,
  NOT_FOUND,
  type Readiness,
  type ServeSettings,
  shutdownSignal,
  startAgent,
  startMetrics,
  statsDocument,
  type WebSocketGatewaySettings,
} from "./serve_common.ts";
import type { EventLog } from "./log.ts";

const SERVE_FLAGS: FlagSpec = {
  ...ADDRESS_FLAGS,
  ...SERVE_TRANSPORT_FLAGS,
  ...FRAMING_FLAGS,
  "max-connections": "value",
  "max-buffered-bytes": "value",
  "idle-timeout": "value",
  "frame-timeout": "value",
  "write-timeout": "value",
  "drain-timeout": "value",
  "proxy-protocol": "boolean",
  "proxy-protocol-timeout": "value",
  "admin-port": "value",
  "admin-host": "value",
  "metrics-port": "value",
  "metrics-host": "value",
  "agent-port": "value",
  "agent-host": "value",
  "drain-delay": "value",
  "drain-notice": "boolean",
  "ws-port": "value",
  "ws-host": "value",
  "ws-forwarded-for": "boolean",
  "log-level": "value",
  "log-format": "value",
  workers: "value",
  handler: "value",
  slow: "value",
};

function serveHelp(programName: string): string {
  return `Usage: ${programName} serve [--handler FILE] [--host HOST] [--port PORT | --unix PATH]
       [--tls-cert FILE --tls-key FILE] [--framing NAME|JSON]
       [--max-frame-size BYTES] [--workers N|auto] [--slow FRACTION:DURATION]
       [limits]

Serves an application (the echo one unless --handler names another) until
SIGINT or SIGTERM, then drains: (1) /readyz answers 503 and the agent check
says drain at once; (2) for --drain-delay it keeps serving and accepting, so
load balancers notice; (3) it stops accepting; (4) it answers every request
already received; (5) it closes each connection with FIN once it has
answered what it read (with --drain-notice, after a notice that tells
framewire's client to send what is unanswered elsewhere); (6) it closes the
rest by force after --drain-timeout, and exits. A second signal exits at once.

Choosing --drain-delay: at least the time the balancer takes to see /readyz
fail, HAProxy's inter x fall (inter 2s fall 3: 6s), or Kubernetes' readiness
periodSeconds x failureThreshold; terminationGracePeriodSeconds must cover
--drain-delay plus --drain-timeout.

Options:
  --handler FILE              serve the module FILE (relative to the current
                              directory), whose default export is a handler
                              function or an application object { handler,
                              onConnection, onClose, onHandlerError, zeroCopy };
                              checked before listening, imported by each worker
  --slow FRACTION:DURATION    the echo answers FRACTION of requests after
                              DURATION (milliseconds, or with ms or s, as in
                              0.01:20ms), the rest at once, to show head-of-line
                              blocking (see --framing u32le-id). Slow requests
                              are chosen by a hash of the request, so each
                              distinct request is slow with probability
                              FRACTION; identical requests share their fate
                              ('bench --slow FRACTION' tells them apart). Not
                              with --handler
  --workers N|auto            serve with N processes, one event loop each,
                              sharing the port; auto = one per CPU (default 1).
                              Limits apply to each worker. TCP only
  --host HOST                 interface to bind (default 0.0.0.0)
  --port PORT                 port to bind, 0 for any free one (default 1234)
  --unix PATH                 listen on a Unix domain socket instead of TCP; a
                              stale socket file there is replaced, the file is
                              removed on exit
  --tls-cert FILE             serve TLS with this PEM certificate chain
  --tls-key FILE              ... and this PEM private key
  --framing NAME|JSON         the frame format: u32le (default), u32be, u16be,
                              varint, u32le-id or dns (request ids: answers
                              go out as they settle), or a FrameFormat as
                              JSON, such as
                              '{"lengthFieldLength":2,"byteOrder":"big"}'; with
                              "initialBytesToStrip":0 handlers get and return
                              whole frames; see docs/framing.md
  --max-frame-size BYTES      largest request accepted, as handed to the handler;
                              k/m suffixes allowed (default 32m)
  --max-connections N         connections served at once; more are closed (default 10000)
  --max-buffered-bytes BYTES  memory for frames being received and responses
                              not yet sent, server-wide (default 256m)
  --idle-timeout TIME         close a connection silent this long, 0 = never (default 120s)
  --frame-timeout TIME        close a connection whose frame takes longer (default 30s)
  --write-timeout TIME        close a peer that reads no response this long (default 30s)
  --drain-timeout TIME        on shutdown, force connections closed after (default 10s)
  --drain-delay TIME          on shutdown, keep accepting this long after
                              readiness fails, so balancers notice (default 0)
  --drain-notice              end each connection closed on shutdown (or an
                              idle or frame timeout) with a drain notice, a
                              header whose length is all ones: framewire's
                              client then sends the requests left unanswered
                              again, knowing they were not processed; other
                              clients see a frame too large. Not with varint,
                              nor dns at --max-frame-size 65535
  --proxy-protocol            every connection starts with a PROXY protocol v1/v2
                              header from a load balancer (HAProxy send-proxy-v2,
                              nginx proxy_protocol); handlers see the real client.
                              Only behind one: anyone else could claim any address
  --proxy-protocol-timeout TIME  the header must arrive within this (default 5s)
  --admin-port PORT           serve HTTP on this port: /livez (200 while the
                              process serves), /readyz (200 while accepting,
                              503 once draining or at --max-connections),
                              /metrics (Prometheus) and /stats (JSON)
  --ws-port PORT              also accept WebSocket connections on this port
                              (wss: with --tls-cert): each binary message is
                              one request, each answer one message, served
                              like TCP connections. Not with --workers
  --ws-host HOST              interface for --ws-port (default: --host)
  --ws-forwarded-for          behind an HTTP balancer: the client's address is
                              the X-Forwarded-For header's last entry
  --admin-host HOST           interface for the admin port (default 127.0.0.1)
  --metrics-port, --metrics-host  old names of --admin-port and --admin-host
  --agent-port PORT           answer HAProxy's agent-check on this TCP port:
                              one line per connection, 'ready maxconn:N', or
                              'drain' once draining
  --agent-host HOST           interface for the agent port (default 127.0.0.1)
  --log-level LEVEL           debug, info, warn or error (default info)
  --log-format FORMAT         text or json: one JSON object per line (default text)
  -h, --help                  show this help

TIME is milliseconds, or a number with ms, s or m: 500ms, 30s, 2m.`;
}

/**
 * Validates every flag of `serve` except the log ones, reads the TLS files
 * and loads the `--handler` module: from `handler`, the URL a primary
 * resolved, in a worker.
 */
async function serveSettings(
  host: CliHost,
  flags: Record<string, string | true>,
  handler?: string,
): Promise<ServeSettings> {
  const maxFrameSize = maxFrameSizeFlag(flags);
  const options: ServerOptions = {
    maxFrameSize,
    format: framingFlag(flags, maxFrameSize),
    idleTimeout: durationFlag(flags, "idle-timeout"),
    frameTimeout: durationFlag(flags, "frame-timeout"),
    writeTimeout: durationFlag(flags, "write-timeout"),
    closeTimeout: durationFlag(flags, "drain-timeout"),
  };
  if (typeof flags["max-connections"] === "string") {
    options.maxConnections = numberFlag(
      "max-connections",
      flags["max-connections"],
      { min: 1 },
      "a positive integer",
    );
  }
  if (typeof flags["max-buffered-bytes"] === "string") {
    const bytes = parseSize(
      "max-buffered-bytes",
      flags["max-buffered-bytes"],
      Number.MAX_SAFE_INTEGER,
    );
    options.maxBufferedBytes = checkNumber(
      bytes,
      { min: maxFrameSize },
      () =>
        new UsageError(
          `option '--max-buffered-bytes' must be at least --max-frame-size (${maxFrameSize}), got ${bytes}`,
        ),
    );
  }
  if (flags["drain-notice"] === true) {
    if (framingOf(options.format, maxFrameSize).drainNotice === null) {
      throw new UsageError(
        `option '--drain-notice' needs a length field that can hold more than --max-frame-size (${maxFrameSize}): not with this --framing`,
      );
    }
    options.drainNotice = true;
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
  const metrics = portAndHost(flags, "admin", "metrics");
  const agent = portAndHost(flags, "agent");
  const webSocket = webSocketFlags(flags);
  const workers = workersFlag(host, flags);
  if (workers > 1 && webSocket !== undefined) {
    throw new UsageError(
      "option '--ws-port' serves in one process: not with --workers",
    );
  }
  if (workers > 1 && flags.unix !== undefined) {
    throw new UsageError(
      "option '--workers' needs a TCP port: workers cannot share a Unix socket path",
    );
  }
  const listen = await listenFlags(host, flags);
  let handlerUrl: URL | undefined;
  if (typeof flags.slow === "string") {
    if (flags.handler !== undefined) {
      throw new UsageError(
        "option '--slow' slows the built-in echo: it cannot be used with --handler",
      );
    }
    // The handler copies the requests it keeps: it may borrow the rest.
    options.handler = slowEchoHandler(parseSlowFlag(flags.slow));
    options.zeroCopy = true;
  }
  if (typeof flags.handler === "string") {
    handlerUrl = handler === undefined
      ? moduleUrl(host.cwd(), flags.handler)
      : new URL(handler);
    Object.assign(
      options,
      await loadHandlerModule(host, handlerUrl, flags.handler),
    );
  }
  return {
    options,
    listen,
    handler: handlerUrl?.href,
    metrics,
    agent,
    webSocket,
    drainDelay: durationFlag(flags, "drain-delay") ?? 0,
    workers,
  };
}

/**
 * `--NAME-port` and `--NAME-host` (or their old names `--ALIAS-port` and
 * `--ALIAS-host`): the address to bind, or undefined without a port.
 */
function portAndHost(
  flags: Record<string, string | true>,
  name: string,
  alias?: string,
): { host: string; port: number } | undefined {
  const pick = (suffix: string): [string, string | true | undefined] => {
    const own = `${name}-${suffix}`;
    const old = alias === undefined ? undefined : `${alias}-${suffix}`;
    if (old !== undefined && flags[old] !== undefined) {
      if (flags[own] !== undefined) {
        throw new UsageError(
          `option '--${old}' is another name for '--${own}': give one`,
        );
      }
      return [old, flags[old]];
    }
    return [own, flags[own]];
  };
  const [portName, port] = pick("port");
  const [hostName, host] = pick("host");
  if (typeof port !== "string") {
    if (host !== undefined) {
      throw new UsageError(`option '--${hostName}' needs --${portName}`);
    }
    return undefined;
  }
  return {
    host: (host as string | undefined) ?? "127.0.0.1",
    port: parsePort(port, portName),
  };
}

/**
 * `--ws-port`, `--ws-host` (default: `--host`, else 0.0.0.0) and
 * `--ws-forwarded-for`: the gateway's settings, or undefined without a port.
 */
function webSocketFlags(
  flags: Record<string, string | true>,
): WebSocketGatewaySettings | undefined {
  const port = flags["ws-port"];
  if (typeof port !== "string") {
    for (const name of ["ws-host", "ws-forwarded-for"]) {
      if (flags[name] !== undefined) {
        throw new UsageError(`option '--${name}' needs --ws-port`);
      }
    }
    return undefined;
  }
  if (flags.unix !== undefined) {
    throw new UsageError(
      "option '--ws-port' needs a TCP server: not with --unix",
    );
  }
  const host = flags["ws-host"] ?? flags.host;
  return {
    host: typeof host === "string" ? host : "0.0.0.0",
    port: parsePort(port, "ws-port"),
    forwardedFor: flags["ws-forwarded-for"] === true,
  };
}

/** Most workers `--workers` accepts. */
const MAX_WORKERS = 256;

function workersFlag(
  host: CliHost,
  flags: Record<string, string | true>,
): number {
  const text = flags.workers;
  if (typeof text !== "string") return 1;
  if (text === "auto") return Math.max(1, host.workers?.cpuCount ?? 1);
  return numberFlag(
    "workers",
    text,
    { min: 1, max: MAX_WORKERS },
    `'auto' or a number from 1 to ${MAX_WORKERS}`,
  );
}

/**
 * Runs `serve`: in this process, as the primary of `--workers` processes,
 * or as one of those workers (when started by a primary).
 */
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
  const role = host.workers?.role;
  if (role !== undefined) {
    const workerRole = parseRole(role);
    const log = eventLog(host, flags, workerRole.id);
    return await serveWorker(
      host,
      await serveSettings(host, flags, workerRole.handler),
      log,
      workerRole,
    );
  }
  const log = eventLog(host, flags);
  const settings = await serveSettings(host, flags);
  if (settings.workers > 1) {
    return await servePrimary(host, settings, log);
  }
  return await serveHere(host, settings, log);
}

/** Serves in this one process. */
async function serveHere(
  host: CliHost,
  settings: ServeSettings,
  log: EventLog,
): Promise<number> {
  const options = { ...settings.options, onError: log.connectionClosed };
  // Listen for signals before binding, so no signal can find the default action.
  const signal = shutdownSignal(host, () => {
    host.printError("Second signal: exiting without waiting for connections");
    host.exit(1);
  });
  const server = new Server(options);
  let metrics: HttpServerHandle | undefined;
  let agent: { close(): void } | undefined;
  let gateway: WebSocketGateway | undefined;
  let draining = false;
  const maxConnections = maxConnectionsOf(settings.options);
  const readiness = (): Readiness => ({
    draining,
    full: server.stats().connections >= maxConnections,
    maxConnections,
  });
  try {
    const addr = await server.listen(host.network, settings.listen);
    log.info(listeningLine(addr, settings.listen), {
      event: "listening",
      address: addr.hostname,
      port: addr.port,
    });
    metrics = await startMetrics(host, settings, log, async (path) => {
      const health = await healthResponse(path, readiness);
      if (health !== undefined) return health;
      if (path === "/metrics") {
        return {
          status: 200,
          contentType: METRICS_CONTENT_TYPE,
          body: formatMetrics(server.stats(), server.handlerTime()),
        };
      }
      if (path === "/stats") {
        const own = {
          stats: server.stats(),
          handlerTime: server.handlerTime(),
        };
        return statsDocument(own, [{ id: 1, pid: host.pid, ...own }]);
      }
      return NOT_FOUND;
    });
    agent = await startAgent(host, settings, log, readiness);
    gateway = await startWebSocketGateway(host, settings, server, log);
  } catch (error) {
    signal.unsubscribe();
    await server.close();
    await metrics?.close();
    agent?.close();
    throw error;
  }
  await signal.requested;
  draining = true;
  await drainDelay(settings, log);
  log.info(
    "Shutting down: stopped accepting; answering requests already received, closing idle connections with FIN",
    { event: "shutdown", connections: server.stats().connections },
  );
  const gatewayClosed = gateway?.close();
  await server.close();
  await gatewayClosed;
  agent?.close();
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
  signal.unsubscribe();
  return 0;
}
