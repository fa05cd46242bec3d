/**
 * A {@linkcode Transport} over any Web Streams duplex, so framewire can serve
 * and connect over connections of runtimes and APIs without an adapter of
 * their own.
 *
 * @module
 */
import type { NetAddr, Transport, TransportEvents } from "./transport.ts";
import { Gate } from "./_gate.ts";

/**
 * A bidirectional byte stream: a Deno `Conn`, a Cloudflare Workers socket
 * from `connect()`, a WebTransport bidirectional stream, or
 * `Duplex.toWeb(socket)` on Node.
 *
 * @example
 * ```ts
 * import type { StreamDuplex } from "./stream_transport.ts";
 *
 * const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
 * const loopback: StreamDuplex = { readable, writable };
 * ```
 */
export interface StreamDuplex {
  /** Bytes from the peer. */
  readable: ReadableStream<Uint8Array>;
  /** Bytes to the peer; closing it half-closes the connection. */
  writable: WritableStream<Uint8Array>;
}

/**
 * Addresses reported for a stream connection.
 *
 * @example
 * ```ts
 * import type { StreamTransportOptions } from "./stream_transport.ts";
 *
 * const options: StreamTransportOptions = {
 *   remoteAddr: { transport: "tcp", hostname: "10.0.0.7", port: 5000 },
 * };
 * ```
 */
export interface StreamTransportOptions {
  /** The local address. @default {transport "stream", empty host name, port 0} */
  localAddr?: NetAddr;
  /** The peer's address. @default {transport "stream", empty host name, port 0} */
  remoteAddr?: NetAddr;
}

const STREAM_ADDR: NetAddr = { transport: "stream", hostname: "", port: 0 };

/**
 * Wraps a Web Streams duplex as a {@linkcode Transport}: reads with a
 * default reader (pausing reads while paused), writes each batch with one
 * `writer.write()`, and half-closes by closing the writable.
 *
 * @param duplex The connection's two streams; the transport locks both.
 * @param options The addresses to report.
 * @returns A transport for `Server.serveConnection()` or `new Client()`.
 *
 * @example Serve a stream pair
 * ```ts
 * import { Server } from "../mod.ts";
 * import { streamTransport } from "./stream_transport.ts";
 *
 * declare const duplex: { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> };
 * new Server().serveConnection(streamTransport(duplex));
 * ```
 */
export function streamTransport(
  duplex: StreamDuplex,
  options: StreamTransportOptions = {},
): Transport {
  return new StreamTransport(duplex, options);
}

class StreamTransport implements Transport {
  readonly localAddr: NetAddr;
  readonly remoteAddr: NetAddr;
  bufferedAmount = 0;
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #events: TransportEvents | null = null;
  #paused: Gate | null = null;
  #readEnded = false;
  #writeEnded = false;
  #closed = false;

  constructor(duplex: StreamDuplex, options: StreamTransportOptions) {
    this.#reader = duplex.readable.getReader();
    this.#writer = duplex.writable.getWriter();
    this.localAddr = options.localAddr ?? STREAM_ADDR;
    this.remoteAddr = options.remoteAddr ?? STREAM_ADDR;
  }

  start(events: TransportEvents): void {
    this.#events = events;
    this.#readLoop();
  }

  async #readLoop(): Promise<void> {
    const reader = this.#reader;
    const events = this.#events!;
    try {
      while (!this.#closed) {
        if (this.#paused) await this.#paused.promise;
        if (this.#closed) return;
        const { value, done } = await reader.read();
        if (this.#closed) return;
        if (done) break;
        events.data(value);
      }
    } catch (error) {
      this.#fail(error);
      return;
    }
    this.#readEnded = true;
    events.end();
    this.#closeIfDone();
  }

  write(bytes: Uint8Array): void {
    if (this.#closed || this.#writeEnded) return;
    const length = bytes.length;
    this.bufferedAmount += length;
    this.#writer.write(bytes).then(() => {
      this.bufferedAmount -= length;
      if (this.bufferedAmount === 0 && !this.#closed) this.#events!.drain();
    }, (error) => this.#fail(error));
  }

  pause(): void {
    this.#paused ??= new Gate();
  }

  resume(): void {
    const paused = this.#paused;
    this.#paused = null;
    paused?.open();
  }

  closeWrite(): void {
    if (this.#closed || this.#writeEnded) return;
    this.#writeEnded = true;
    this.#writer.close().then(
      () => this.#closeIfDone(),
      (error) => this.#fail(error),
    );
  }

  close(): void {
    this.#finish(undefined, true);
  }

  #closeIfDone(): void {
    if (this.#readEnded && this.#writeEnded) this.#finish(undefined, false);
  }

  #fail(error: unknown): void {
    this.#finish(error, true);
  }

  #finish(error: unknown, abort: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    this.resume();
    if (abort) {
      this.#reader.cancel(error).catch(() => {});
      this.#writer.abort(error).catch(() => {});
    } else {
      this.#reader.releaseLock();
      this.#writer.releaseLock();
    }
    this.#events?.closed(error);
  }
}
