/**
 * The contract between framewire's runtime-neutral core and a runtime's
 * sockets. An adapter (`src/adapters/*.ts`) implements {@linkcode Transport}
 * for one connection and {@linkcode Network} for listening and connecting;
 * the core only ever calls these interfaces.
 *
 * @module
 */

/**
 * An address a connection or listener is bound to.
 *
 * @example
 * ```ts
 * import type { NetAddr } from "./transport.ts";
 *
 * const addr: NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 1234 };
 * ```
 */
export interface NetAddr {
  /**
   * `"tcp"` for TCP sockets (with or without TLS), `"unix"` for Unix domain
   * sockets, `"websocket"` for WebSockets, or a short name of another
   * carrier (`"stream"`).
   */
  transport: string;
  /**
   * Host name or IP address; for `"unix"`, the socket's path (`""` for an
   * unnamed socket, such as a client's end).
   */
  hostname: string;
  /** Port number (0 where the carrier has none). */
  port: number;
}

/**
 * What a transport reports to the core. The transport calls these in order:
 * any number of `data` and `drain`, at most one `end`, then exactly one
 * `closed`.
 *
 * @example
 * ```ts
 * import type { TransportEvents } from "./transport.ts";
 *
 * const events: TransportEvents = {
 *   data: (chunk) => { console.log(chunk.length); return true; },
 *   end: () => {},
 *   drain: () => {},
 *   closed: () => {},
 * };
 * ```
 */
export interface TransportEvents {
  /**
   * Bytes received. Returns true when the core keeps no reference to
   * `chunk`'s memory, so the transport may reuse that memory for its next
   * read; false when it must not.
   */
  data(chunk: Uint8Array): boolean;
  /** The peer half-closed: no more data will arrive. */
  end(): void;
  /** Every byte queued by `write()` has been handed to the operating system. */
  drain(): void;
  /** The connection is fully closed; `error` is set when it failed. */
  closed(error?: unknown): void;
}

/**
 * One bidirectional byte connection, as the core sees it.
 *
 * @example A transport that discards what it is sent
 * ```ts
 * import type { Transport, TransportEvents } from "./transport.ts";
 *
 * class NullTransport implements Transport {
 *   readonly localAddr = { transport: "null", hostname: "", port: 0 };
 *   readonly remoteAddr = { transport: "null", hostname: "", port: 0 };
 *   readonly bufferedAmount = 0;
 *   #events?: TransportEvents;
 *   start(events: TransportEvents) { this.#events = events; }
 *   write(_bytes: Uint8Array) {}
 *   pause() {}
 *   resume() {}
 *   closeWrite() { this.#events?.closed(); }
 *   close() { this.#events?.closed(); }
 * }
 * ```
 */
export interface Transport {
  /** The local end's address. */
  readonly localAddr: NetAddr;
  /** The peer's address. */
  readonly remoteAddr: NetAddr;
  /** Bytes accepted by `write()` and not yet handed to the operating system. */
  readonly bufferedAmount: number;
  /**
   * True when `write()` may be handed views of memory received through
   * `data()` even when `data()` returned true: the transport then does not
   * reuse that memory until those writes are done (Node and Bun read into a
   * fresh buffer each time; Deno sets such a buffer aside). The core then
   * writes echoed frames by reference instead of copying them.
   */
  readonly readViewsWritable?: boolean;
  /** Starts reading and reporting to `events`. Called once. */
  start(events: TransportEvents): void;
  /**
   * Queues bytes to send, in order. Never throws for I/O errors: those close
   * the transport. The core does not touch `bytes` again.
   */
  write(bytes: Uint8Array): void;
  /** Stops reading until `resume()` (backpressure towards the peer). */
  pause(): void;
  /** Resumes reading after `pause()`. */
  resume(): void;
  /**
   * Sends every queued byte, then half-closes (FIN). Reading goes on; the
   * transport closes fully once the peer's end has arrived too.
   */
  closeWrite(): void;
  /** Closes at once, dropping queued bytes. Idempotent. */
  close(): void;
}

/**
 * A TLS server's certificate and private key, as PEM text (the contents of
 * the files, not their paths).
 *
 * @example
 * ```ts
 * import type { TlsListenOptions } from "./transport.ts";
 *
 * const tls: TlsListenOptions = {
 *   cert: await Deno.readTextFile("server.pem"),
 *   key: await Deno.readTextFile("server.key"),
 * };
 * ```
 */
export interface TlsListenOptions {
  /** The certificate chain in PEM format: the server's certificate first. */
  cert: string;
  /** The certificate's private key in PEM format. */
  key: string;
}

/**
 * How a client checks a TLS server.
 *
 * @example
 * ```ts
 * import type { TlsConnectOptions } from "./transport.ts";
 *
 * const tls: TlsConnectOptions = {
 *   ca: await Deno.readTextFile("ca.pem"),
 *   serverName: "localhost",
 * };
 * ```
 */
export interface TlsConnectOptions {
  /**
   * Certificate authorities to trust, in PEM format (one text may hold
   * several). Without it, the runtime's default roots. On Node and Bun these
   * replace the default roots; on Deno they are added to them.
   */
  ca?: string | readonly string[];
  /**
   * The name sent for SNI and checked against the server's certificate.
   * @default {the host connected to}
   */
  serverName?: string;
}

/**
 * Where to listen: a TCP host and port, optionally with TLS, or the path of
 * a Unix domain socket.
 *
 * @example
 * ```ts
 * import type { ListenOptions } from "./transport.ts";
 *
 * const tcp: ListenOptions = { host: "127.0.0.1", port: 0 };
 * const unix: ListenOptions = { path: "/tmp/framewire.sock" };
 * ```
 */
export interface ListenOptions {
  /** Interface to bind: a non-empty host name or IP address. @default {"0.0.0.0"} */
  host?: string;
  /**
   * Port to bind, an integer from 0 to 65535; 0 picks a free one. Another
   * type throws a `TypeError`, another number a `RangeError`, before any
   * socket is opened.
   * @default {1234}
   */
  port?: number;
  /**
   * Listen on a Unix domain socket at this path instead of TCP (not with
   * `host`, `port` or `tls`). A stale socket file left there by a server
   * that is gone is replaced; a path where a server answers, or that is not
   * a socket, is refused with an `AddressInUseError` (code `"EADDRINUSE"`).
   * The file is removed when the listener closes.
   */
  path?: string;
  /** Serve TLS with this certificate and key (TCP only). */
  tls?: TlsListenOptions;
  /**
   * Let several listeners, in this process or others of the same user, bind
   * the same TCP port, the kernel spreading new connections among them
   * (`SO_REUSEPORT`, Linux and the BSDs). This is how `serve --workers`
   * shares a port on Deno and Bun. TCP only. Deno needs `--unstable-net`;
   * `nodeNetwork` needs Node 22.12 or later. Where it is missing, `listen()`
   * fails with a `FramewireError` instead of binding without it.
   * @default {false}
   */
  reusePort?: boolean;
}

/**
 * Where to connect: a TCP host and port, optionally with TLS, or the path of
 * a Unix domain socket.
 *
 * @example
 * ```ts
 * import type { ConnectOptions } from "./transport.ts";
 *
 * const tcp: ConnectOptions = { host: "127.0.0.1", port: 1234 };
 * const tls: ConnectOptions = { host: "127.0.0.1", port: 1234, tls: { serverName: "localhost" } };
 * const unix: ConnectOptions = { path: "/tmp/framewire.sock" };
 * const patient: ConnectOptions = {
 *   host: "127.0.0.1",
 *   port: 1234,
 *   connectTimeout: 30000,
 *   signal: AbortSignal.timeout(60000),
 * };
 * ```
 */
export interface ConnectOptions {
  /** Host to connect to: a non-empty host name or IP address. @default {"127.0.0.1"} */
  host?: string;
  /**
   * Port to connect to, an integer from 1 to 65535. Another type throws a
   * `TypeError`, another number a `RangeError`, before any socket is opened.
   * @default {1234}
   */
  port?: number;
  /** Connect to the Unix domain socket at this path instead (not with `host`, `port` or `tls`). */
  path?: string;
  /**
   * Speak TLS: `true` checks the server against the runtime's default roots
   * and the host name; an object sets the CA certificates and the name to
   * check. The promise of `connect()` settles once the handshake is done, so
   * a server the client does not trust makes it reject (a `ConnectError`
   * with code `"ETLS"`).
   */
  tls?: boolean | TlsConnectOptions;
  /**
   * Milliseconds the connection (with TLS, the connection and its handshake)
   * may take; 0 for no limit but the system's. Past it, the half-open socket
   * is closed and `connect()` rejects with a `ConnectError` with code
   * `"ETIMEDOUT"`.
   * @default {10000}
   */
  connectTimeout?: number;
  /**
   * Cancels the attempt: once aborted, the half-open socket is closed and
   * `connect()` rejects with `signal.reason`. A signal aborted already
   * rejects before any socket is opened. A connection already made is not
   * affected. (On `denoNetwork`, a socket in the middle of its TLS handshake
   * closes only once the handshake ends: Deno 2.9.6 cannot cut it short.)
   */
  signal?: AbortSignal;
}

/**
 * A bound, accepting socket.
 *
 * @example
 * ```ts
 * import type { Listener } from "./transport.ts";
 *
 * function describe(listener: Listener): string {
 *   return `${listener.addr.hostname}:${listener.addr.port}`;
 * }
 * ```
 */
export interface Listener {
  /**
   * The bound address (with the real port when 0 was asked for; for a Unix
   * socket, `{ transport: "unix", hostname: path, port: 0 }`).
   */
  readonly addr: NetAddr;
  /** Stops accepting; connections already accepted are unaffected. */
  close(): void;
}

/**
 * A runtime's way to listen and connect: what an adapter provides.
 *
 * @example
 * ```ts
 * import type { Network } from "./transport.ts";
 *
 * async function ping(network: Network) {
 *   const transport = await network.connect({ host: "127.0.0.1", port: 1234 });
 *   transport.close();
 * }
 * ```
 */
export interface Network {
  /**
   * Binds and starts accepting, handing each new connection to
   * `onConnection`; resolves once bound. Malformed options throw a
   * `TypeError` or `RangeError` before any socket is opened; a failure to
   * bind rejects with a `ListenError` (an `AddressInUseError` for
   * `"EADDRINUSE"`) whose `code` is the same on every runtime.
   */
  listen(
    options: ListenOptions,
    onConnection: (transport: Transport) => void,
  ): Promise<Listener>;
  /**
   * Opens a connection; resolves once established (with TLS, once the
   * handshake has succeeded). Malformed options throw a `TypeError` or
   * `RangeError` before any socket is opened; a failure rejects with a
   * `ConnectError` whose `code` is the same on every runtime, a cancelled
   * attempt with its signal's reason.
   */
  connect(options: ConnectOptions): Promise<Transport>;
}
