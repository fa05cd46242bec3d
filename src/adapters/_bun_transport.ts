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
}

/** What a socket's `data` holds. */
export type SocketState = BunTransport | AcceptContext | null;

/** A Bun socket as a {@linkcode Transport}. */
export class BunTransport implements Transport {
  readonly localAddr: NetAddr;
  readonly remoteAddr: NetAddr;
  bufferedAmount = 0;
  /** Bun hands each data callback a fresh buffer. */
  readonly readViewsWritable = true;
  #socket: BunSocket<SocketState>;
  #events: TransportEvents | null = null;
  /** Chunks that arrived before start(). */
  #early: Uint8Array[] | null = null;
  #earlyEnd = false;
  /** Bytes the kernel has not taken yet, in order. */
  #queue: Uint8Array[] = [];
  #queueHead = 0;
  #closeWriteRequested = false;
  #writeEnded = false;
  #readEnded = false;
  #closed = false;
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
   * @param context The unix addresses and whether the socket is a TLS client's.
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
    if (context.unix !== undefined) {
      this.localAddr = context.unix.local;
      this.remoteAddr = context.unix.remote;
      return;
    }
    socket.setNoDelay(true);
    this.localAddr = {
      transport: "tcp",
      hostname: socket.localAddress ?? "",
      port: socket.localPort,
    };
    this.remoteAddr = {
      transport: "tcp",
      hostname: socket.remoteAddress ?? "",
      port: socket.remotePort ?? 0,
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
    if (this.#earlyEnd) this.onEnd();
  }

  write(bytes: Uint8Array): void {
    if (this.#closed || this.#closeWriteRequested || bytes.length === 0) return;
    if (this.bufferedAmount === 0) {
      const written = this.#socket.write(bytes);
      if (written === bytes.length) return;
      if (written < 0) return; // closing: the close handler reports it
      bytes = bytes.subarray(written);
    }
    this.#queue.push(bytes);
    this.bufferedAmount += bytes.length;
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  closeWrite(): void {
    if (this.#closed || this.#closeWriteRequested) return;
    this.#closeWriteRequested = true;
    if (this.bufferedAmount === 0) this.#endWrite();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.length = 0;
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
    queue.length = 0;
    this.#queueHead = 0;
    if (this.#closeWriteRequested) this.#endWrite();
    else this.#events?.drain();
  }

  onEnd(): void {
    if (this.#events === null) {
      this.#earlyEnd = true;
      return;
    }
    if (this.#readEnded) return;
    this.#readEnded = true;
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
    if (this.#closed) return;
    // Bun may close a socket whose write side already ended without an
    // `end` call for the peer's FIN: report that end first.
    if (error === undefined && this.#error === undefined) this.onEnd();
    this.#closed = true;
    this.#queue.length = 0;
    this.bufferedAmount = 0;
    this.#events?.closed(error ?? this.#error);
  }

  #endWrite(): void {
    if (this.#writeEnded) return;
    this.#writeEnded = true;
    // shutdown() half-closes; Bun's end() closes both directions. Once the
    // peer's FIN has come too, Bun closes the socket and calls `close`.
    this.#socket.shutdown();
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
