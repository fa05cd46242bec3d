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
  /** `"tcp"` for sockets, or a short name of another carrier (`"stream"`). */
  transport: string;
  /** Host name or IP address. */
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
 * Where to listen.
 *
 * @example
 * ```ts
 * import type { ListenOptions } from "./transport.ts";
 *
 * const options: ListenOptions = { host: "127.0.0.1", port: 0 };
 * ```
 */
export interface ListenOptions {
  /** Interface to bind. @default {"0.0.0.0"} */
  host?: string;
  /** Port to bind; 0 picks a free one. @default {1234} */
  port?: number;
}

/**
 * Where to connect.
 *
 * @example
 * ```ts
 * import type { ConnectOptions } from "./transport.ts";
 *
 * const options: ConnectOptions = { host: "127.0.0.1", port: 1234 };
 * ```
 */
export interface ConnectOptions {
  /** Host to connect to. @default {"127.0.0.1"} */
  host?: string;
  /** Port to connect to. @default {1234} */
  port?: number;
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
  /** The bound address (with the real port when 0 was asked for). */
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
   * `onConnection`; resolves once bound.
   */
  listen(
    options: ListenOptions,
    onConnection: (transport: Transport) => void,
  ): Promise<Listener>;
  /** Opens a connection; resolves once established. */
  connect(options: ConnectOptions): Promise<Transport>;
}
