/**
 * The Bun adapter's connection: a {@linkcode Transport} over a Bun socket,
 * and the socket handlers every framewire socket on Bun shares.
 *
 * One handler object serves every socket; each socket's state lives in
 * `socket.data`. Bun's `socket.write()` is unbuffered: it returns the bytes
 * the kernel took, and the rest is queued here and written again, in order,
 * from the `drain` handler. Nagle's algorithm is off.
 *
 * @module
 */
import { ConnectionClosedError } from "../errors.ts";
import type { NetAddr, Transport, TransportEvents } from "../transport.ts";

/** The part of a Bun socket (TCP, TLS or Unix) this adapter uses. */
export interface BunSocket<Data> {
  data: Data;
  readonly remoteAddress?: string;
  readonly remotePort?: number;
  readonly localAddress?: string;
  readonly localPort: number;
  write(data: Uint8Array): number;
  shutdown(halfClose?: boolean): void;
  end(): void;
  terminate(): void;
  pause(): void;
  resume(): void;
  setNoDelay(noDelay?: boolean): boolean | void;
}

/** Bun's per-listener socket handlers: one object shared by all sockets. */
export interface BunSocketHandler<Data> {
  open?(socket: BunSocket<Data>): void;
  data?(socket: BunSocket<Data>, data: Uint8Array): void;
  drain?(socket: BunSocket<Data>): void;
  end?(socket: BunSocket<Data>): void;
  close?(socket: BunSocket<Data>, error?: Error): void;
  error?(socket: BunSocket<Data>, error: Error): void;
  connectError?(socket: BunSocket<Data>, error: Error): void;
  /** TLS: the handshake finished; `error` is set when the peer was not verified. */
  handshake?(
    socket: BunSocket<Data>,
    success: boolean,
    error: Error | null,
  ): void;
}

/** What a listening socket's `data` holds until `open` replaces it. */
export interface AcceptContext {
  onConnection(transport: Transport): void;
  /** For a Unix socket, the connection's addresses (Bun reports none). */
  unix?: { local: NetAddr; remote: NetAddr };
  /** The connection is a TLS client's: `handshakeDone()` tells how its handshake went. */
  tlsClient?: boolean;
  /**
   * Read a TCP socket's addresses on first use rather than when it opens (a
   * server's sockets: their contexts are made while they are open).
   */
  lazyAddresses?: boolean;
}

/** What a socket's `data` holds. */
export type SocketState = BunTransport | AcceptContext | null;

// BunTransport's flags, one bit each.
/** The peer's FIN came before start(). */
const EARLY_END = 1;
const CLOSE_WRITE_REQUESTED = 2;
const WRITE_ENDED = 4;
const READ_ENDED = 8;
const CLOSED = 16;

/**
 * A Bun socket as a {@linkcode Transport}. An open connection holds little
 * besides the socket: its flags share one field, its write queue is made
 * when the kernel first leaves bytes unsent, and a server socket's addresses
 * are read the first time someone asks for them.
 */
export class BunTransport implements Transport {
  bufferedAmount = 0;
  #socket: BunSocket<SocketState>;
  #events: TransportEvents | null = null;
  /** The addresses: a Unix socket's from its listener; a TCP socket's, maybe on first use. */
  #addrs: { local: NetAddr; remote: NetAddr } | null;
  /** Chunks that arrived before start(). */
  #early: Uint8Array[] | null = null;
  /** Bytes the kernel has not taken yet, in order; null until there are some. */
  #queue: Uint8Array[] | null = null;
  #queueHead = 0;
  #flags = 0;
  #error: unknown = undefined;

  /** A TLS client's handshake, until it has succeeded or failed. */
  #handshake: {
    promise: Promise<void>;
    resolve(): void;
    reject(error: unknown): void;
  } | null = null;

  /**
   * Wraps an open socket.
   *
   * @param socket The socket.
   * @param context The unix addresses, whether the socket is a TLS client's,
   * and whether its addresses may be read lazily.
   */
  constructor(
    socket: BunSocket<SocketState>,
    context: Omit<AcceptContext, "onConnection"> = {},
  ) {
    this.#socket = socket;
    if (context.tlsClient) {
      let resolve!: () => void;
      let reject!: (error: unknown) => void;
      const promise = new Promise<void>((yes, no) => {
        resolve = yes;
        reject = no;
      });
      promise.catch(() => {}); // connect() may have given up on it already
      this.#handshake = { promise, resolve, reject };
    }
    this.#addrs = context.unix ?? null;
    if (context.unix !== undefined) return;
    socket.setNoDelay(true);
    if (!context.lazyAddresses) this.#addresses();
  }

  /** The local end's address. */
  get localAddr(): NetAddr {
    return this.#addresses().local;
  }

  /** The peer's address. */
  get remoteAddr(): NetAddr {
    return this.#addresses().remote;
  }

  /** Bun hands each data callback a fresh buffer. */
  get readViewsWritable(): boolean {
    return true;
  }

  #addresses(): { local: NetAddr; remote: NetAddr } {
    if (this.#addrs !== null) return this.#addrs;
    const socket = this.#socket;
    return this.#addrs = {
      local: {
        transport: "tcp",
        hostname: socket.localAddress ?? "",
        port: socket.localPort,
      },
      remote: {
        transport: "tcp",
        hostname: socket.remoteAddress ?? "",
        port: socket.remotePort ?? 0,
      },
    };
  }

  /**
   * Resolves once a TLS client's handshake has verified the server; rejects
   * when it failed or the connection closed first.
   */
  handshakeDone(): Promise<void> {
    return this.#handshake?.promise ?? Promise.resolve();
  }

  onHandshake(success: boolean, error: Error | null): void {
    const handshake = this.#handshake;
    if (handshake === null) return; // a server's socket: no client certificates asked
    this.#handshake = null;
    if (success && error === null) handshake.resolve();
    else {
      handshake.reject(
        error ?? new Error("Cannot connect: the TLS handshake failed"),
      );
    }
  }

  start(events: TransportEvents): void {
    this.#events = events;
    const early = this.#early;
    this.#early = null;
    if (early !== null) { for (const chunk of early) events.data(chunk); }
    if ((this.#flags & EARLY_END) !== 0) this.onEnd();
  }

  write(bytes: Uint8Array): void {
    if ((this.#flags & (CLOSED | CLOSE_WRITE_REQUESTED)) !== 0) return;
    if (bytes.length === 0) return;
    if (this.bufferedAmount === 0) {
      const written = this.#socket.write(bytes);
      if (written === bytes.length) return;
      if (written < 0) return; // closing: the close handler reports it
      bytes = bytes.subarray(written);
    }
    (this.#queue ??= []).push(bytes);
    this.bufferedAmount += bytes.length;
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  closeWrite(): void {
    if ((this.#flags & (CLOSED | CLOSE_WRITE_REQUESTED)) !== 0) return;
    this.#flags |= CLOSE_WRITE_REQUESTED;
    if (this.bufferedAmount === 0) this.#endWrite();
  }

  close(): void {
    if ((this.#flags & CLOSED) !== 0) return;
    this.#flags |= CLOSED;
    this.#queue = null;
    this.#queueHead = 0;
    this.bufferedAmount = 0;
    this.#socket.terminate();
    this.#events?.closed(undefined);
  }

  onData(chunk: Uint8Array): void {
    if (this.#events === null) (this.#early ??= []).push(chunk);
    else this.#events.data(chunk); // Bun hands over a fresh buffer per read
  }

  onDrain(): void {
    const queue = this.#queue;
    if (queue !== null) {
      while (this.#queueHead < queue.length) {
        const bytes = queue[this.#queueHead];
        const written = this.#socket.write(bytes);
        if (written < 0) return;
        this.bufferedAmount -= written;
        if (written < bytes.length) {
          queue[this.#queueHead] = bytes.subarray(written);
          return;
        }
        this.#queueHead++;
      }
      this.#queue = null;
      this.#queueHead = 0;
    }
    if ((this.#flags & CLOSE_WRITE_REQUESTED) !== 0) this.#endWrite();
    else this.#events?.drain();
  }

  onEnd(): void {
    if (this.#events === null) {
      this.#flags |= EARLY_END;
      return;
    }
    if ((this.#flags & READ_ENDED) !== 0) return;
    this.#flags |= READ_ENDED;
    this.#events.end();
  }

  onError(error: unknown): void {
    this.#error ??= error;
  }

  onClose(error: unknown): void {
    this.#handshake?.reject(
      new ConnectionClosedError(
        "Cannot connect: connection closed during the TLS handshake",
        { cause: error ?? this.#error },
      ),
    );
    this.#handshake = null;
    if ((this.#flags & CLOSED) !== 0) return;
    // Bun may close a socket whose write side already ended without an
    // `end` call for the peer's FIN: report that end first.
    if (error === undefined && this.#error === undefined) this.onEnd();
    this.#flags |= CLOSED;
    this.#queue = null;
    this.#queueHead = 0;
    this.bufferedAmount = 0;
    this.#events?.closed(error ?? this.#error);
  }

  #endWrite(): void {
    if ((this.#flags & WRITE_ENDED) !== 0) return;
    this.#flags |= WRITE_ENDED;
    // shutdown() half-closes; Bun's end() closes both directions. Once the
    // peer's FIN has come too, Bun closes the socket and calls `close`. When
    // it has come already (a client that sent its requests and FIN), end()
    // sends the FIN by closing, one system call instead of two.
    if ((this.#flags & READ_ENDED) !== 0) this.#socket.end();
    else this.#socket.shutdown();
  }
}

/** The socket's transport, once `open` has made it. */
export function transportOf(
  socket: BunSocket<SocketState>,
): BunTransport | null {
  return socket.data instanceof BunTransport ? socket.data : null;
}

/** The handlers every framewire socket on Bun shares. */
export const handlers: BunSocketHandler<SocketState> = {
  open(socket) {
    const context = socket.data;
    if (context instanceof BunTransport || context === null) return;
    const transport = new BunTransport(socket, context);
    socket.data = transport;
    context.onConnection(transport);
  },
  data: (socket, data) => transportOf(socket)?.onData(data),
  drain: (socket) => transportOf(socket)?.onDrain(),
  end: (socket) => transportOf(socket)?.onEnd(),
  error: (socket, error) => transportOf(socket)?.onError(error),
  close: (socket, error) => transportOf(socket)?.onClose(error),
  handshake: (socket, success, error) =>
    transportOf(socket)?.onHandshake(success, error),
  connectError() {
    // Bun.connect() rejects with the same error.
  },
};
