/**
 * The framewire pipelining client, runtime-neutral over any
 * {@linkcode Transport}, with optional request timeouts and reconnection.
 *
 * @module
 */
import { ConnectionClosedError, RequestTimeoutError } from "./errors.ts";
import { assertFrameSize } from "./frame_encoder.ts";
import { clientSettings } from "./_client_settings.ts";
import { Redialer } from "./_reconnect.ts";
import type { ClientOptions } from "./client_options.ts";
import {
  ClientConnection,
  type ClientConnectionEvents,
  type PendingRequest,
} from "./_client_connection.ts";
import { Fifo } from "./_fifo.ts";
import { type StreamDuplex, streamTransport } from "./stream_transport.ts";
import type { NetAddr, Transport } from "./transport.ts";

export type { ClientOptions, ReconnectOptions } from "./client_options.ts";

/**
 * A client connection that pipelines: requests go out without waiting for
 * earlier answers, and responses are matched to requests in order.
 *
 * All `request()` calls made in the same tick leave in one write. At most
 * `maxInFlight` requests are outstanding; more wait their turn. If the
 * connection is lost, every request sent on it rejects with a
 * {@linkcode ConnectionClosedError}; with `reconnect`, the client then redials
 * with exponential backoff, and requests not yet sent go out on the new
 * connection. With `requestTimeout`, no request waits longer than that.
 *
 * @example Pipeline three requests
 * ```ts
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
  #maxFrameSize: number;
  #maxInFlight: number;
  #requestTimeout: number;
  #onDisconnect: ((error: ConnectionClosedError) => void) | undefined;
  #onReconnect: ((attempt: number) => void) | undefined;
  #connectionEvents: ClientConnectionEvents = {
    answered: () => this.#pump(),
    lost: (error, unwritten) => this.#lost(error, unwritten),
  };
  #connection: ClientConnection;
  #waiting = new Fifo<PendingRequest>();
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** Requests of this tick, given their deadline by one clock read at its end. */
  #unstamped: PendingRequest[] = [];
  #stampTask = () => this.#stamp();
  #redialer: Redialer | null = null;
  #reconnects = 0;
  #closing: Promise<void> | null = null;
  #closeSent = false;
  #closedError: ConnectionClosedError | null = null;
  #idleWaiters: Array<() => void> = [];

  /**
   * Runs a client over an open transport and starts reading from it. Such a
   * client cannot redial; use {@linkcode Client.dial} for `reconnect`.
   *
   * @param transport The connection, from an adapter's `connect()`.
   * @param options Limits, timeout and callbacks; see {@linkcode ClientOptions}.
   * @throws {TypeError} `options.reconnect` is set, or an option has the wrong type.
   * @throws {RangeError} An option is out of range.
   */
  constructor(transport: Transport, options: ClientOptions = {}) {
    const settings = clientSettings(options);
    if (settings.backoff !== null) {
      throw new TypeError(
        "Cannot use reconnect: a client given one transport cannot redial; use Client.dial()",
      );
    }
    this.#maxFrameSize = settings.maxFrameSize;
    this.#maxInFlight = settings.maxInFlight;
    this.#requestTimeout = settings.requestTimeout;
    this.#onDisconnect = settings.onDisconnect;
    this.#onReconnect = settings.onReconnect;
    this.#connection = new ClientConnection(
      transport,
      this.#maxFrameSize,
      this.#connectionEvents,
    );
  }

  /**
   * Connects with `dial` and runs a client over the connection. With
   * `options.reconnect`, the client calls `dial` again after losing the
   * connection. The first connection must succeed: its error rejects here.
   *
   * @param dial Opens a connection, e.g. `() => network.connect({ host, port })`.
   * @param options Limits, timeout, reconnection and callbacks; see {@linkcode ClientOptions}.
   * @returns The connected client.
   *
   * @example A client that survives server restarts
   * ```ts
   * import { Client, defaultNetwork } from "../mod.ts";
   *
   * const network = await defaultNetwork();
   * const client = await Client.dial(
   *   () => network.connect({ host: "127.0.0.1", port: 1234 }),
   *   { reconnect: { initialDelay: 50, maxAttempts: Infinity }, requestTimeout: 5000 },
   * );
   * ```
   */
  static async dial(
    dial: () => Promise<Transport>,
    options: ClientOptions = {},
  ): Promise<Client> {
    if (typeof dial !== "function") {
      throw new TypeError("Cannot dial: dial is not a function");
    }
    const { backoff } = clientSettings(options); // invalid options throw before dialing
    const client = new Client(await dial(), { ...options, reconnect: false });
    if (backoff !== null) {
      client.#redialer = new Redialer(dial, backoff, {
        connected: (transport, attempt) =>
          client.#reconnected(transport, attempt),
        failed: (attempts, lastError) =>
          client.#rejectWaiting(
            new ConnectionClosedError(
              `Cannot send request: reconnect failed after ${attempts} attempts`,
              { cause: lastError },
            ),
          ),
      });
    }
    return client;
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
   * ```ts
   * import { Client } from "./client.ts";
   *
   * declare const socket: { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> };
   * const client = Client.fromStream(socket);
   * ```
   */
  static fromStream(duplex: StreamDuplex, options?: ClientOptions): Client {
    return new Client(streamTransport(duplex), options);
  }

  /** The server's address (of the latest connection). */
  get remoteAddr(): NetAddr {
    return this.#connection.remoteAddr;
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.#connection.inFlight;
  }

  /** Requests waiting for a free place or for a connection. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Whether a connection is open to send requests on. */
  get connected(): boolean {
    return this.#connection.alive;
  }

  /** Whether the client is closed for good: its requests reject. */
  get closed(): boolean {
    return this.#closedError !== null;
  }

  /** Connections re-established after a loss. */
  get reconnects(): number {
    return this.#reconnects;
  }

  /** Redials made after a loss, successful or not. */
  get reconnectAttempts(): number {
    return this.#redialer?.attempts ?? 0;
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
   * @throws {RequestTimeoutError} (rejection) No response within `requestTimeout`.
   * @throws {ConnectionClosedError} (rejection) The connection closed first, reconnecting failed, or the client is closing.
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
      const pending: PendingRequest = {
        payload,
        deadline: Infinity,
        resolve,
        reject,
      };
      const connection = this.#connection;
      if (
        connection.alive && connection.inFlight < this.#maxInFlight &&
        this.#waiting.length === 0
      ) {
        connection.send(pending);
      } else {
        this.#waiting.push(pending);
        if (!connection.alive) this.#redialer?.start();
      }
      if (this.#requestTimeout !== 0 && this.#unstamped.push(pending) === 1) {
        queueMicrotask(this.#stampTask);
      }
    });
  }

  /**
   * Closes gracefully: takes no new requests, waits for the answers to those
   * already sent, then closes the connection. It stops reconnecting: requests
   * waiting for a connection reject with a {@linkcode ConnectionClosedError}.
   *
   * @returns Resolves once the connection is closed; the same promise on every call.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    if (this.#connection.alive && !this.#idle()) {
      await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    }
    const stopped = this.#redialer?.stop();
    this.#rejectWaiting(
      new ConnectionClosedError(
        "Cannot send request: client closed before reconnecting",
      ),
    );
    await stopped;
    const connection = this.#connection;
    if (connection.alive) {
      this.#closeSent = true;
      connection.closeWrite();
    }
    await connection.whenClosed;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#closedError ??= new ConnectionClosedError(
      "Cannot send request: client is closed",
    );
  }

  #idle(): boolean {
    return this.#connection.inFlight === 0 && this.#waiting.length === 0;
  }

  /** Lets close() go on once nothing is in flight or waiting. */
  #wakeIfIdle(): void {
    if (this.#idleWaiters.length > 0 && this.#idle()) {
      for (const resolve of this.#idleWaiters.splice(0)) resolve();
    }
  }

  /** Sends waiting requests while there is room; wakes close() when idle. */
  #pump(): void {
    const connection = this.#connection;
    const waiting = this.#waiting;
    while (
      waiting.length > 0 && connection.alive &&
      connection.inFlight < this.#maxInFlight
    ) {
      connection.send(waiting.shift()!);
    }
    this.#wakeIfIdle();
  }

  #lost(error: ConnectionClosedError, unwritten: PendingRequest[]): void {
    if (this.#redialer !== null && this.#closing === null) {
      this.#waiting.prepend(unwritten);
      this.#redialer.start();
    } else {
      this.#closedError ??= error;
      for (const pending of unwritten) pending.reject(error);
      this.#rejectWaiting(error);
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#wakeIfIdle();
    if (!this.#closeSent) notify(this.#onDisconnect, error);
  }

  #rejectWaiting(error: unknown): void {
    for (const pending of this.#waiting.drain()) pending.reject(error);
  }

  /**
   * Sets the deadline of the requests made in this tick. The clock is read
   * once, after they were all made, so a deadline is never early.
   */
  #stamp(): void {
    const deadline = performance.now() + this.#requestTimeout;
    for (const pending of this.#unstamped) pending.deadline = deadline;
    this.#unstamped.length = 0;
    if (this.#timer === undefined && this.#closedError === null) {
      this.#armTimer(deadline);
    }
  }

  #armTimer(deadline: number): void {
    const wait = Math.max(0, Math.ceil(deadline - performance.now()));
    this.#timer = setTimeout(this.#onTimer, wait);
  }

  /** Times out the oldest requests whose deadline has passed; re-arms for the next. */
  #onTimer = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    const timeout = this.#requestTimeout;
    const connection = this.#connection;
    const oldest = connection.oldest();
    if (oldest !== undefined && oldest.deadline <= now) {
      connection.timeOut(new RequestTimeoutError("complete", timeout));
    }
    const waiting = this.#waiting;
    while (waiting.length > 0 && waiting.peek()!.deadline <= now) {
      waiting.shift()!.reject(new RequestTimeoutError("send", timeout));
    }
    this.#wakeIfIdle();
    const next = connection.oldest() ?? waiting.peek();
    // A request made during this call gets its deadline (and the timer) from #stamp().
    if (next !== undefined && next.deadline !== Infinity) {
      this.#armTimer(next.deadline);
    }
  };

  #reconnected(transport: Transport, attempt: number): void {
    this.#connection = new ClientConnection(
      transport,
      this.#maxFrameSize,
      this.#connectionEvents,
    );
    this.#reconnects++;
    this.#pump();
    notify(this.#onReconnect, attempt);
  }
}

/** Calls a user callback; what it throws is reported, not let into the client. */
function notify<T>(callback: ((value: T) => void) | undefined, value: T) {
  if (callback === undefined) return;
  try {
    callback(value);
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}
