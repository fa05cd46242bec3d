/**
 * The Bun adapter: TCP listening and connecting with `Bun.listen` and
 * `Bun.connect`.
 *
 * One handler object serves every socket; each socket's state lives in
 * `socket.data`. Bun's `socket.write()` is unbuffered: it returns the bytes
 * the kernel took, and the rest is queued here and written again, in order,
 * from the `drain` handler. Nagle's algorithm is off.
 *
 * @module
 */
import type {
  ConnectOptions,
  Listener,
  ListenOptions,
  NetAddr,
  Network,
  Transport,
  TransportEvents,
} from "../transport.ts";

/** The part of a Bun TCP socket this adapter uses. */
interface BunSocket<Data> {
  data: Data;
  readonly remoteAddress: string;
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
interface BunSocketHandler<Data> {
  open?(socket: BunSocket<Data>): void;
  data?(socket: BunSocket<Data>, data: Uint8Array): void;
  drain?(socket: BunSocket<Data>): void;
  end?(socket: BunSocket<Data>): void;
  close?(socket: BunSocket<Data>, error?: Error): void;
  error?(socket: BunSocket<Data>, error: Error): void;
  connectError?(socket: BunSocket<Data>, error: Error): void;
}

interface BunTcpListener {
  readonly hostname: string;
  readonly port: number;
  stop(closeActiveConnections?: boolean): void;
}

interface BunNamespace {
  listen<Data>(options: {
    hostname: string;
    port: number;
    allowHalfOpen?: boolean;
    data?: Data;
    socket: BunSocketHandler<Data>;
  }): BunTcpListener;
  connect<Data>(options: {
    hostname: string;
    port: number;
    allowHalfOpen?: boolean;
    data?: Data;
    socket: BunSocketHandler<Data>;
  }): Promise<BunSocket<Data>>;
}

function bun(): BunNamespace {
  const runtime = (globalThis as { Bun?: BunNamespace }).Bun;
  if (runtime === undefined) {
    throw new Error("Cannot use the Bun adapter: this runtime is not Bun");
  }
  return runtime;
}

/** What a listening socket's `data` holds until `open` replaces it. */
interface AcceptContext {
  onConnection(transport: Transport): void;
}

type SocketState = BunTransport | AcceptContext | null;

class BunTransport implements Transport {
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

  constructor(socket: BunSocket<SocketState>) {
    this.#socket = socket;
    socket.setNoDelay(true);
    this.localAddr = {
      transport: "tcp",
      hostname: socket.localAddress ?? "",
      port: socket.localPort,
    };
    this.remoteAddr = {
      transport: "tcp",
      hostname: socket.remoteAddress,
      port: socket.remotePort ?? 0,
    };
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

function transportOf(socket: BunSocket<SocketState>): BunTransport | null {
  return socket.data instanceof BunTransport ? socket.data : null;
}

/** The handlers every framewire socket on Bun shares. */
const handlers: BunSocketHandler<SocketState> = {
  open(socket) {
    const context = socket.data;
    if (context instanceof BunTransport || context === null) return;
    const transport = new BunTransport(socket);
    socket.data = transport;
    context.onConnection(transport);
  },
  data: (socket, data) => transportOf(socket)?.onData(data),
  drain: (socket) => transportOf(socket)?.onDrain(),
  end: (socket) => transportOf(socket)?.onEnd(),
  error: (socket, error) => transportOf(socket)?.onError(error),
  close: (socket, error) => transportOf(socket)?.onClose(error),
  connectError() {
    // Bun.connect() rejects with the same error.
  },
};

/**
 * The Bun implementation of {@linkcode Network}: TCP with `Bun.listen` and
 * `Bun.connect`, half-open connections allowed (a client's FIN still gets its
 * answers).
 *
 * @example
 * ```ts ignore
 * import { Server } from "../server.ts";
 * import { bunNetwork } from "./bun.ts";
 *
 * const server = new Server();
 * await server.listen(bunNetwork, { host: "127.0.0.1", port: 0 });
 * await server.close();
 * ```
 */
export const bunNetwork: Network = {
  listen(
    options: ListenOptions,
    onConnection: (transport: Transport) => void,
  ): Promise<Listener> {
    const context: AcceptContext = { onConnection };
    let listener: BunTcpListener;
    try {
      listener = bun().listen<SocketState>({
        hostname: options.host ?? "0.0.0.0",
        port: options.port ?? 1234,
        allowHalfOpen: true,
        data: context,
        socket: handlers,
      });
    } catch (error) {
      return Promise.reject(error);
    }
    let closed = false;
    return Promise.resolve({
      addr: {
        transport: "tcp",
        hostname: listener.hostname,
        port: listener.port,
      },
      close() {
        if (closed) return;
        closed = true;
        listener.stop(false);
      },
    });
  },

  async connect(options: ConnectOptions): Promise<Transport> {
    let transport: BunTransport | null = null;
    const socket = await bun().connect<SocketState>({
      hostname: options.host ?? "127.0.0.1",
      port: options.port ?? 1234,
      allowHalfOpen: true,
      data: {
        onConnection(t) {
          transport = t as BunTransport;
        },
      },
      socket: handlers,
    });
    return transport ?? transportOf(socket) ?? new BunTransport(socket);
  },
};
