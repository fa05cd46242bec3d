/**
 * The framewire pipelining client, runtime-neutral over any
 * {@linkcode Transport}.
 *
 * @module
 */
import { ConnectionClosedError, ProtocolError } from "./errors.ts";
import { FrameDecoder } from "./frame_decoder.ts";
import { assertFrameSize } from "./frame_encoder.ts";
import { integerOption, maxFrameSizeOption } from "./_validate.ts";
import { Outbound } from "./_outbound.ts";
import { Fifo } from "./_fifo.ts";
import { type StreamDuplex, streamTransport } from "./stream_transport.ts";
import type { NetAddr, Transport, TransportEvents } from "./transport.ts";

/**
 * Settings of a {@linkcode Client}.
 *
 * @example
 * ```ts
 * import type { ClientOptions } from "./client.ts";
 *
 * const options: ClientOptions = { maxFrameSize: 1 << 20, maxInFlight: 64 };
 * ```
 */
export interface ClientOptions {
  /** Largest request or response payload, in bytes. @default {33554432} */
  maxFrameSize?: number;
  /**
   * Requests sent and not yet answered, at most. Further `request()` calls
   * wait (in order) for a free place rather than fail.
   * @default {1024}
   */
  maxInFlight?: number;
}

interface PendingRequest {
  resolve(response: Uint8Array): void;
  reject(error: unknown): void;
}

interface WaitingRequest extends PendingRequest {
  payload: Uint8Array;
}

/**
 * A client connection that pipelines: requests go out without waiting for
 * earlier answers, and responses are matched to requests in order.
 *
 * All `request()` calls made in the same tick leave in one write. At most
 * `maxInFlight` requests are outstanding; more wait their turn. If the
 * connection is lost, every unanswered request rejects with a
 * {@linkcode ConnectionClosedError}.
 *
 * @example Pipeline three requests
 * ```ts ignore
 * import { connect } from "../mod.ts";
 *
 * await using client = await connect({ host: "127.0.0.1", port: 1234 });
 * const encoder = new TextEncoder();
 * const answers = await Promise.all(
 *   ["a", "b", "c"].map((text) => client.request(encoder.encode(text))),
 * );
 * console.log(answers.length); // 3
 * ```
 */
export class Client implements AsyncDisposable {
  #transport: Transport;
  #maxFrameSize: number;
  #maxInFlight: number;
  #decoder: FrameDecoder;
  #outbound = new Outbound();
  #write: (bytes: Uint8Array) => void;
  #inFlight = new Fifo<PendingRequest>();
  #waiting = new Fifo<WaitingRequest>();
  #flushScheduled = false;
  #flushTask = () => this.#flush();
  #closing: Promise<void> | null = null;
  #closedError: ConnectionClosedError | null = null;
  #transportClosed = false;
  #closedWaiters: Array<() => void> = [];
  #idleWaiters: Array<() => void> = [];
  #chunkBuffer: ArrayBufferLike | null = null;
  #chunkRetained = false;

  /**
   * Runs a client over an open transport and starts reading from it.
   *
   * @param transport The connection, from an adapter's `connect()`.
   * @param options Limits; see {@linkcode ClientOptions}.
   */
  constructor(transport: Transport, options: ClientOptions = {}) {
    this.#maxFrameSize = maxFrameSizeOption(options.maxFrameSize);
    this.#maxInFlight = integerOption(
      "maxInFlight",
      options.maxInFlight,
      1024,
      1,
    );
    this.#decoder = new FrameDecoder((frame) => this.#onResponse(frame), {
      maxFrameSize: this.#maxFrameSize,
    });
    this.#transport = transport;
    this.#write = (bytes) => transport.write(bytes);
    const events: TransportEvents = {
      data: (chunk) => this.#data(chunk),
      end: () => this.#end(),
      drain: () => {},
      closed: (error) => this.#closed(error),
    };
    transport.start(events);
  }

  /**
   * Runs a client over a Web Streams duplex (a Workers socket, a
   * WebTransport stream, `Duplex.toWeb(socket)`, ...).
   *
   * @param duplex The connection's streams.
   * @param options Limits; see {@linkcode ClientOptions}.
   * @returns The client.
   *
   * @example
   * ```ts ignore
   * import { Client } from "./client.ts";
   *
   * declare const socket: { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> };
   * const client = Client.fromStream(socket);
   * ```
   */
  static fromStream(duplex: StreamDuplex, options?: ClientOptions): Client {
    return new Client(streamTransport(duplex), options);
  }

  /** The server's address. */
  get remoteAddr(): NetAddr {
    return this.#transport.remoteAddr;
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.#inFlight.length;
  }

  /** Whether the connection has closed. */
  get closed(): boolean {
    return this.#closedError !== null;
  }

  /**
   * Sends one request and resolves with its response.
   *
   * `payload` is written by the next flush, in this tick's batch: leave it
   * unchanged until the promise settles.
   *
   * @param payload The request bytes, at most `maxFrameSize`.
   * @returns The response payload, owned by the caller.
   * @throws {FrameTooLargeError} (rejection) The payload exceeds `maxFrameSize`.
   * @throws {ConnectionClosedError} (rejection) The connection closed first or the client is closing.
   */
  request(payload: Uint8Array): Promise<Uint8Array> {
    if (this.#closedError) return Promise.reject(this.#closedError);
    if (this.#closing) {
      return Promise.reject(
        new ConnectionClosedError("Cannot send request: client is closing"),
      );
    }
    try {
      assertFrameSize(payload, this.#maxFrameSize);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      if (
        this.#inFlight.length < this.#maxInFlight && this.#waiting.length === 0
      ) {
        this.#send(payload, { resolve, reject });
      } else {
        this.#waiting.push({ payload, resolve, reject });
      }
    });
  }

  /**
   * Closes gracefully: takes no new requests, waits for the answers to those
   * already made, then closes the connection.
   *
   * @returns Resolves once the connection is closed; the same promise on every call.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closing = (async () => {
      if (this.#inFlight.length > 0 || this.#waiting.length > 0) {
        await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
      }
      if (this.#transportClosed) return;
      this.#flush();
      const closed = new Promise<void>((resolve) =>
        this.#closedWaiters.push(resolve)
      );
      this.#transport.closeWrite();
      await closed;
    })();
    return this.#closing;
  }

  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #data(chunk: Uint8Array): boolean {
    this.#chunkBuffer = chunk.buffer;
    this.#chunkRetained = false;
    try {
      this.#decoder.push(chunk);
    } catch (error) {
      this.#fail(
        new ConnectionClosedError("Cannot read response: protocol error", {
          cause: error,
        }),
      );
    }
    this.#chunkBuffer = null;
    return !this.#chunkRetained;
  }

  #end(): void {
    const discarded = this.#decoder.end();
    const detail = discarded > 0
      ? `connection closed by peer mid-frame (${discarded} bytes discarded)`
      : "connection closed by peer";
    this.#rejectAll(
      new ConnectionClosedError(`Cannot complete request: ${detail}`),
    );
    this.#transport.closeWrite();
  }

  #closed(error?: unknown): void {
    this.#transportClosed = true;
    const closedError = new ConnectionClosedError(
      "Cannot complete request: connection closed",
      error === undefined ? undefined : { cause: error },
    );
    this.#rejectAll(closedError);
    this.#closedError ??= closedError;
    for (const resolve of this.#closedWaiters.splice(0)) resolve();
  }

  #send(payload: Uint8Array, pending: PendingRequest): void {
    this.#inFlight.push(pending);
    this.#outbound.add(payload);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(this.#flushTask);
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    this.#outbound.flush(this.#write);
  }

  #onResponse(frame: Uint8Array): void {
    const pending = this.#inFlight.shift();
    if (pending === undefined) {
      throw new ProtocolError(
        "Cannot match response: the server sent a frame no request is waiting for",
      );
    }
    if (frame.buffer === this.#chunkBuffer) this.#chunkRetained = true;
    pending.resolve(frame);
    const waiting = this.#waiting;
    if (waiting.length > 0) {
      const next = waiting.shift()!;
      this.#send(next.payload, next);
    } else if (this.#inFlight.length === 0 && this.#idleWaiters.length > 0) {
      for (const resolve of this.#idleWaiters.splice(0)) resolve();
    }
  }

  #fail(error: ConnectionClosedError): void {
    this.#rejectAll(error);
    this.#closedError ??= error;
    this.#transport.close();
  }

  #rejectAll(error: ConnectionClosedError): void {
    this.#closedError ??= error;
    for (const pending of this.#inFlight.drain()) pending.reject(error);
    for (const waiting of this.#waiting.drain()) waiting.reject(error);
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }
}
