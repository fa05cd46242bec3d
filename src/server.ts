/**
 * The framewire server: runtime-neutral connection handling over any
 * {@linkcode Network} or {@linkcode Transport}.
 *
 * @module
 */
import { integerOption, maxFrameSizeOption } from "./_validate.ts";
import {
  type ConnectionHost,
  readOutboundsFor,
  ServerConnection,
} from "./_server_connection.ts";
import { framingOf } from "./_frame_header.ts";
import type { FrameFormatOption } from "./frame_format.ts";
import { BufferPool } from "./_buffer_pool.ts";
import { ServerLimits } from "./_server_limits.ts";
import { ConnectionList } from "./_connection_list.ts";
import { LatencyHistogram } from "./latency_histogram.ts";
import type { Application, Handler, RequestContext } from "./handler.ts";
import {
  type HandlerTimeStats,
  handlerTimeStats,
  type ServerStats,
} from "./server_stats.ts";
import { connectionClosed, formatText } from "./_log_format.ts";
import { type StreamDuplex, streamTransport } from "./stream_transport.ts";
import {
  type WebSocketLike,
  webSocketTransport,
} from "./websocket_transport.ts";
// PROXY protocol (begin)
import { proxyProtocolOption, ServerProxyProtocol } from "./_server_proxy.ts";
import type { ProxyHeaderOptions } from "./proxy_transport.ts";
// PROXY protocol (end)
import type {
  Listener,
  ListenOptions,
  NetAddr,
  Network,
  Transport,
} from "./transport.ts";

/**
 * Settings of a {@linkcode Server}.
 *
 * @example
 * ```ts
 * import type { ServerOptions } from "./server.ts";
 *
 * const options: ServerOptions = { maxFrameSize: 1024 * 1024, highWaterMark: 256 * 1024 };
 * ```
 */
export interface ServerOptions<State = Record<string, unknown>>
  extends Omit<Application<State>, "handler"> {
  /** Computes each response. @default {echo: the request itself} */
  handler?: Handler<State>;
  /**
   * The frame format of requests and responses: a preset's name (`"u32le"`,
   * `"u32be"`, `"u16be"`, `"varint"`) or a {@linkcode FrameFormat}. With
   * `initialBytesToStrip: 0` the handler gets and returns whole frames,
   * header included; each response is checked to be one well-formed frame
   * and written as it is. A format that can be decoded but not written is
   * refused (see `docs/framing.md`).
   *
   * @default {"u32le"}
   */
  format?: FrameFormatOption;
  /**
   * Largest request or response, in bytes: the payload, or the whole frame
   * with a format that keeps its header.
   *
   * @default {33554432}
   */
  maxFrameSize?: number;
  /**
   * Unsent response bytes per connection above which the server stops
   * reading from that peer until they drain.
   * @default {1048576}
   */
  highWaterMark?: number;
  /**
   * The order of responses on a connection:
   *
   * - `"fifo"`: in request order; a slow handler holds back the answers
   *   behind it.
   * - `"any"`: each response is written as soon as its handler settles
   *   (those that settle in the same turn go out in one write), and carries
   *   its request's id. Only with a format that has a `requestId`, whose
   *   clients match responses by id. A handler that exceeds
   *   `handlerTimeout` then costs only its own request (see
   *   `handlerTimeout`).
   *
   * With a request id field, either way, the server writes each request's
   * id into its response's id field (into the bytes sent, not the
   * handler's): a response must have room for it.
   *
   * @default {"any" with a format that has a requestId, else "fifo"}
   */
  ordering?: "fifo" | "any";
  /**
   * Unsettled async handler calls per connection at which the server stops
   * reading from that peer until some settle (counting those that timed
   * out with `ordering: "any"` and still run).
   * @default {1024}
   */
  maxPendingRequests?: number;
  /**
   * Milliseconds a closing connection (server close, protocol or handler
   * error) may take to answer and be closed by its peer before it is closed
   * by force.
   * @default {10000}
   */
  closeTimeout?: number;
  /**
   * End each connection the server closes with every request it read
   * answered (on `close()`, or an idle or frame timeout) with a drain
   * notice: a frame header whose length field holds its largest value,
   * which no frame within `maxFrameSize` can have. framewire's client then
   * knows the requests it had written and that got no answer were never
   * processed, and sends them again (on its next connection, or a pool's
   * other ones), so a draining server loses none. Other clients see a frame
   * too large. Needs a format whose length field can hold more than
   * maxFrameSize (not a varint, nor `dns` at its full 65535).
   *
   * @default {false}
   */
  drainNotice?: boolean;
  /**
   * Connections served at once; one accepted past it is closed at once and
   * counted in `rejectedConnections`. @default {10000}
   */
  maxConnections?: number;
  /**
   * Server-wide budget, in bytes, for frames being received (a frame spread
   * over reads holds its whole declared length) and responses not yet
   * sent. Over it, a frame that needs memory waits, its connection not read
   * from, until memory frees (first come, first served), and connections
   * with unsent responses stop being read until those drain. Must be at
   * least `maxFrameSize`. @default {max(268435456, maxFrameSize)}
   */
  maxBufferedBytes?: number;
  /**
   * Milliseconds a connection may send nothing while owed nothing before it
   * is closed (0: never). @default {120000}
   */
  idleTimeout?: number;
  /**
   * Milliseconds one frame may take to arrive in full, from its first byte
   * or the previous frame's end; a stalled or trickling sender is closed
   * after its earlier requests are answered (0: no limit). @default {30000}
   */
  frameTimeout?: number;
  /**
   * Milliseconds a peer may leave its responses unread (no write completes
   * while bytes wait) before its connection is closed at once (0: no
   * limit). @default {30000}
   */
  writeTimeout?: number;
  /**
   * Milliseconds an async handler may take to settle (0: no limit; a
   * synchronous handler cannot be interrupted). It is checked every 250
   * ms, so a call may run up to that much longer. What a call that
   * takes longer costs depends on `ordering`:
   *
   * - `"fifo"`: it is a handler error: the answers before it are sent and
   *   the connection is closed, since every answer after it waits for it.
   * - `"any"`: only that request is given up, as a DNS or memcached server
   *   gives up one query: `onHandlerError` is called with the
   *   `ConnectionTimeoutError` and may answer it (a SERVFAIL, an error
   *   status), with the request's id; otherwise the request gets no answer
   *   and the error goes to `onError`. The connection and its other
   *   requests go on; what the handler settles with later is discarded. It
   *   is counted in `handlerTimeouts`, either way.
   * @default {0}
   */
  handlerTimeout?: number;
  /**
   * Receives the errors that close a connection (protocol, handler,
   * timeout, a failing `onConnection`), one call each.
   * @default {logs one line to console.error, with the stack of handler errors}
   */
  onError?: (error: unknown, context: RequestContext<State>) => void;
  // PROXY protocol (begin)
  /**
   * Expect every connection to start with a PROXY protocol header (version
   * 1 or 2), as sent by HAProxy (`send-proxy-v2`), nginx `stream`
   * (`proxy_protocol on`) or Envoy; handlers then see the real client in
   * `context.remoteAddr`. Enable it only behind such a proxy: anyone who can
   * connect directly can claim any address. A connection without a valid
   * header within `timeout` ms (default 5000; 0: no limit) is closed
   * unserved, counted in `proxyProtocolErrors` and reported to `onError`
   * with a `ProxyProtocolError`. A version 2 `LOCAL` header (health checks)
   * and `UNKNOWN` keep the socket's own addresses. @default {false}
   */
  proxyProtocol?: boolean | ProxyHeaderOptions;
  // PROXY protocol (end)
}

/**
 * How {@linkcode Server.close} closes.
 *
 * @example
 * ```ts
 * import type { ServerCloseOptions } from "framewire";
 *
 * const now: ServerCloseOptions = { force: true };
 * const drain: ServerCloseOptions = { timeout: 30_000 };
 * ```
 */
export interface ServerCloseOptions {
  /** Close every connection at once. @default {false} */
  force?: boolean;
  /**
   * Milliseconds each connection may take to drain before it is closed by
   * force. @default {the server's closeTimeout}
   */
  timeout?: number;
}

const echo: Handler<unknown> = (request) => request;

function logError(error: unknown, context: RequestContext<unknown>): void {
  console.error(formatText(connectionClosed(error, context)));
}

/**
 * A framewire server. It answers every request frame with one response frame,
 * in order (or, with request ids, as each is ready: see
 * {@linkcode ServerOptions.ordering}), on any number of connections: sockets from a {@linkcode Network}
 * adapter, single {@linkcode Transport}s, or Web Streams duplexes.
 *
 * Synchronous handlers take a fast path with no promise per frame; all
 * responses ready after one read go out in one write; a peer whose responses
 * pile up past `highWaterMark` is not read from until they drain.
 *
 * @example An echo server on Deno
 * ```ts
 * import { Server } from "./server.ts";
 * import { denoNetwork } from "./adapters/deno.ts";
 *
 * const server = new Server();
 * const addr = await server.listen(denoNetwork, { host: "127.0.0.1", port: 0 });
 * console.log(`listening on ${addr.port}`);
 * await server.close();
 * ```
 */
export class Server<State = Record<string, unknown>>
  implements AsyncDisposable {
  #host: ConnectionHost;
  #connections = new ConnectionList<ServerConnection>();
  /** The connections of `serveWebSocket()`, for their own counts. */
  #webSockets = new Set<ServerConnection>();
  #listeners: Listener[] = [];
  #nextId = 1;
  #closing: Promise<void> | null = null;
  #limits: ServerLimits;
  #maxConnections: number;
  #proxy: ServerProxyProtocol | null = null; // PROXY protocol

  /**
   * Creates a server; it serves nothing until `listen()` or `serveConnection()`.
   *
   * @param options Handler and limits; see {@linkcode ServerOptions}.
   */
  constructor(options: ServerOptions<State> = {}) {
    const app = options as unknown as ServerOptions<unknown>;
    const handler = app.handler ?? echo;
    if (typeof handler !== "function") {
      throw new TypeError("Cannot create server: handler is not a function");
    }
    const hook = <K extends "onConnection" | "onClose" | "onHandlerError">(
      name: K,
    ): ServerOptions<unknown>[K] => {
      const value = app[name];
      if (value !== undefined && typeof value !== "function") {
        throw new TypeError(`Cannot create server: ${name} is not a function`);
      }
      return value;
    };
    const zeroCopy = app.zeroCopy ?? app.handler === undefined;
    if (typeof zeroCopy !== "boolean") {
      throw new TypeError("Cannot create server: zeroCopy is not a boolean");
    }
    const connections = this.#connections;
    const webSockets = this.#webSockets;
    const maxFrameSize = maxFrameSizeOption(options.maxFrameSize);
    const framing = framingOf(options.format, maxFrameSize);
    if (framing.encodes === null) throw framing.unwritable("create server");
    const ordering = options.ordering ?? (framing.id === null ? "fifo" : "any");
    if (ordering !== "fifo" && ordering !== "any") {
      throw new RangeError(
        `Cannot create server: ordering must be "fifo" or "any", got ${
          JSON.stringify(ordering) ?? String(ordering)
        }`,
      );
    }
    const drainNotice = options.drainNotice ?? false;
    if (typeof drainNotice !== "boolean") {
      throw new TypeError(
        "Cannot create server: drainNotice is not a boolean",
      );
    }
    if (drainNotice && framing.drainNotice === null) {
      throw new RangeError(
        `Cannot create server: drainNotice needs a length field that can hold more than maxFrameSize ${maxFrameSize} (format ${framing.name})`,
      );
    }
    if (ordering === "any" && framing.id === null) {
      throw new RangeError(
        'Cannot create server: ordering "any" needs a format with a requestId, by which clients match responses',
      );
    }
    const maxBufferedBytes = integerOption(
      "maxBufferedBytes",
      options.maxBufferedBytes,
      Math.max(256 * 1024 * 1024, maxFrameSize),
      maxFrameSize,
    );
    const timeout = (name: keyof ServerOptions, fallback: number) =>
      integerOption(name, options[name] as number | undefined, fallback, 0);
    const limits = new ServerLimits(
      {
        idleTimeout: timeout("idleTimeout", 120_000),
        frameTimeout: timeout("frameTimeout", 30_000),
        writeTimeout: timeout("writeTimeout", 30_000),
        handlerTimeout: timeout("handlerTimeout", 0),
      },
      maxBufferedBytes,
      connections,
    );
    this.#maxConnections = integerOption(
      "maxConnections",
      options.maxConnections,
      10_000,
      1,
    );
    this.#limits = limits;
    this.#host = {
      handler,
      echo: handler === echo,
      zeroCopy,
      onConnection: hook("onConnection"),
      onClose: hook("onClose"),
      onHandlerError: hook("onHandlerError"),
      maxFrameSize,
      framing,
      anyOrder: ordering === "any",
      readOutbounds: readOutboundsFor(framing),
      limits,
      handlerTime: new LatencyHistogram(),
      highWaterMark: integerOption(
        "highWaterMark",
        options.highWaterMark,
        1 << 20,
        0,
      ),
      maxPendingRequests: integerOption(
        "maxPendingRequests",
        options.maxPendingRequests,
        1024,
        1,
      ),
      closeTimeout: integerOption(
        "closeTimeout",
        options.closeTimeout,
        10_000,
        0,
      ),
      drainNotice: drainNotice ? framing.drainNotice : null,
      stats: {
        connections: 0,
        totalConnections: 0,
        webSocketConnections: 0,
        totalWebSocketConnections: 0,
        framesIn: 0,
        framesOut: 0,
        bytesIn: 0,
        bytesOut: 0,
        protocolErrors: 0,
        handlerErrors: 0,
        truncatedFrames: 0,
        truncatedBytes: 0,
        backpressurePauses: 0,
        rejectedConnections: 0,
        memoryDeferrals: 0,
        idleTimeouts: 0,
        frameTimeouts: 0,
        writeTimeouts: 0,
        handlerTimeouts: 0,
        bufferedBytes: 0,
        proxyProtocolErrors: 0,
      },
      // Two 32 MiB frames' worth of memory kept for reuse between frames.
      pool: new BufferPool(64 * 1024 * 1024),
      report: app.onError ?? logError,
      removed(connection) {
        if (connections.delete(connection)) {
          this.stats.connections--;
          if (webSockets.delete(connection)) this.stats.webSocketConnections--;
        }
        limits.update(connections.size);
      },
    };
    // PROXY protocol (begin)
    const proxyOptions = proxyProtocolOption(options.proxyProtocol);
    if (proxyOptions !== null) {
      this.#proxy = new ServerProxyProtocol(proxyOptions, {
        accept: (transport) => this.#serve(transport),
        reject: (error, transport) => {
          this.#host.stats.proxyProtocolErrors++;
          this.#host.report(error, {
            connectionId: this.#nextId++,
            remoteAddr: transport.remoteAddr,
            localAddr: transport.localAddr,
            state: {},
          });
        },
      });
    }
    // PROXY protocol (end)
  }

  /** The address of the first listener, or null before `listen()`. */
  get addr(): NetAddr | null {
    return this.#listeners[0]?.addr ?? null;
  }

  /** Whether `close()` has been called. */
  get closing(): boolean {
    return this.#closing !== null;
  }

  /**
   * A snapshot of the server's counters.
   *
   * @returns A fresh object; later traffic does not change it.
   */
  stats(): ServerStats {
    return { ...this.#host.stats, bufferedBytes: this.#limits.bufferedBytes };
  }

  /**
   * A snapshot of the handler-time histogram (see {@linkcode HandlerTimeStats}).
   *
   * @returns Sample count, sum, percentiles and maximum in microseconds.
   */
  handlerTime(): HandlerTimeStats {
    return handlerTimeStats(this.#host.handlerTime);
  }

  /**
   * A copy of the handler-time histogram itself, in microseconds, for
   * merging with other servers' (such as other workers') before taking
   * percentiles.
   *
   * @returns A new histogram; later calls do not change it.
   */
  handlerTimeHistogram(): LatencyHistogram {
    const copy = new LatencyHistogram();
    copy.merge(this.#host.handlerTime);
    return copy;
  }

  /**
   * Binds with `network` and serves every connection it accepts.
   *
   * @param network The runtime adapter, such as `denoNetwork`.
   * @param options Host name and port; port 0 picks a free port.
   * @returns The bound address, with the real port.
   */
  async listen(
    network: Network,
    options: ListenOptions = {},
  ): Promise<NetAddr> {
    if (this.#closing) throw new Error("Cannot listen: server is closed");
    const listener = await network.listen(
      options,
      (transport) => this.serveConnection(transport),
    );
    if (this.#closing) {
      listener.close();
      throw new Error("Cannot listen: server closed while binding");
    }
    this.#listeners.push(listener);
    return listener.addr;
  }

  /**
   * Serves one already-open connection. With `proxyProtocol`, its PROXY
   * header is read first and handlers see the addresses it announces.
   *
   * @param transport The connection; the server starts it and closes it.
   */
  serveConnection(transport: Transport): void {
    // PROXY protocol (begin): read the header first, then #serve().
    const proxy = this.#proxy;
    if (proxy !== null && !this.#closing) {
      // Connections waiting for their header count towards maxConnections.
      if (this.#connections.size + proxy.size >= this.#maxConnections) {
        this.#host.stats.rejectedConnections++;
        transport.close();
      } else {
        proxy.accept(transport);
      }
      return;
    }
    this.#serve(transport);
  }

  /** `webSocket`: served by `serveWebSocket()`, counted apart in the stats. */
  #serve(transport: Transport, webSocket = false): void {
    // PROXY protocol (end)
    if (this.#closing) {
      transport.close();
      return;
    }
    if (this.#connections.size >= this.#maxConnections) {
      this.#host.stats.rejectedConnections++;
      transport.close();
      return;
    }
    const connection = new ServerConnection(
      this.#host,
      transport,
      this.#nextId++,
    );
    this.#connections.add(connection);
    const stats = this.#host.stats;
    stats.connections++;
    stats.totalConnections++;
    if (webSocket) {
      this.#webSockets.add(connection);
      stats.webSocketConnections++;
      stats.totalWebSocketConnections++;
    }
    this.#limits.update(this.#connections.size);
    const opened = connection.opening();
    transport.start(connection);
    if (!opened) connection.abort();
  }

  /**
   * Serves a Web Streams duplex, such as a Deno `Conn`, a Workers socket,
   * a WebTransport bidirectional stream or `Duplex.toWeb(socket)`.
   *
   * @param duplex Its `readable` carries requests in, `writable` responses out.
   * @param remoteAddr What handlers see as the peer's address.
   */
  serveStream(duplex: StreamDuplex, remoteAddr?: NetAddr): void {
    this.serveConnection(streamTransport(duplex, { remoteAddr }));
  }

  /**
   * Serves one accepted WebSocket: each binary message is one request (the
   * frame as the format hands it out, with no length prefix) and each
   * response goes back as one binary message, with the server's handler,
   * format, ordering, limits and timeouts. A text message closes it with
   * code 1003, a message over `maxFrameSize` with 1009 (see
   * {@linkcode webSocketTransport}).
   *
   * A WebSocket cannot half-close, so a graceful `close()` answers every
   * request already received, then starts the closing handshake with code
   * 1001 ("going away"); requests the client sent after that are not
   * answered (with `drainNotice`, the close says so: framewire's client
   * hands them back as never processed). A client's own close ends the
   * connection at once: answers not yet sent are dropped, so a client
   * closes once it has its answers (framewire's does). The PROXY protocol
   * does not apply (it belongs to the HTTP connection the socket was
   * upgraded from): pass the client's address as `remoteAddr`.
   *
   * @param socket The server side of the WebSocket: Deno's from
   * `Deno.upgradeWebSocket`, the npm `ws` package's from its server, or an
   * object that forwards Bun's `websocket` handlers.
   * @param remoteAddr What handlers see as the peer's address.
   *
   * @example With Deno.serve
   * ```ts
   * import { Server } from "./server.ts";
   *
   * const server = new Server({ format: "u32le-id" });
   * Deno.serve({ port: 8080 }, (request) => {
   *   const { socket, response } = Deno.upgradeWebSocket(request);
   *   server.serveWebSocket(socket);
   *   return response;
   * });
   * ```
   */
  serveWebSocket(socket: WebSocketLike, remoteAddr?: NetAddr): void {
    const host = this.#host;
    const transport = webSocketTransport(socket, {
      // Resolved already, with its maxFrameSize.
      format: host.framing as unknown as FrameFormatOption,
      closeCode: () => this.#closing === null ? 1000 : 1001,
      // Messages kept while reading is paused: two frames' worth.
      maxPausedBytes: Math.max(2 * host.maxFrameSize, host.highWaterMark),
      remoteAddr,
    });
    this.#serve(transport, true); // no PROXY header inside a WebSocket
  }

  /**
   * Closes: stops accepting, then, gracefully, answers every request already
   * received and closes each connection once the client has closed its
   * side, or by force after `timeout` ms. With `force: true` every
   * connection is closed at once, unanswered requests included. Calling it
   * again returns the same promise; a forced or shorter call applies to the
   * connections still open.
   *
   * @example Graceful, then forced
   * ```ts
   * import { serve } from "framewire";
   *
   * const server = await serve({ host: "127.0.0.1", port: 0 });
   * const closed = server.close({ timeout: 5000 }); // drain for up to 5 s
   * await server.close({ force: true }); // changed our mind: now
   * await closed;
   * ```
   *
   * @param options `force`: close at once; `timeout`: ms to wait for each
   * connection to drain before closing it by force (default: the server's
   * `closeTimeout`).
   * @returns Resolves once every connection has closed.
   */
  close(options: ServerCloseOptions = {}): Promise<void> {
    const force = options.force ?? false;
    if (typeof force !== "boolean") {
      throw new TypeError("Cannot close server: force is not a boolean");
    }
    const timeout = integerOption(
      "timeout",
      options.timeout,
      this.#host.closeTimeout,
      0,
    );
    // Closing one connection may remove it (and others) from the list.
    const connections = this.#connections.toArray();
    if (this.#closing === null) {
      for (const listener of this.#listeners) listener.close();
      this.#proxy?.closeAll(); // PROXY protocol
      const waits: Promise<void>[] = [];
      for (const connection of connections) {
        waits.push(connection.waitClosed());
      }
      this.#closing = Promise.all(waits).then(() => {});
    }
    for (const connection of connections) {
      if (force) connection.abort();
      else connection.shutdown(timeout);
    }
    return this.#closing;
  }

  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
