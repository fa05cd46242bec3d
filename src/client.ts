/**
 * The framewire pipelining client, runtime-neutral over any
 * {@linkcode Transport}, with optional request timeouts, cancellation and
 * reconnection.
 *
 * @module
 */
import type { Framing } from "./_frame_header.ts";
import { ConnectError, ConnectionClosedError } from "./errors.ts";
import { assertFrameSize } from "./frame_encoder.ts";
import { clientSettings, closeSettings } from "./_client_settings.ts";
import { Redialer } from "./_reconnect.ts";
import type {
  ClientCloseOptions,
  ClientOptions,
  RequestOptions,
} from "./client_options.ts";
import {
  ClientConnection,
  type ClientConnectionEvents,
} from "./_client_connection.ts";
import { AbortListeners, isAbortSignal } from "./_abort_listeners.ts";
import {
  type PendingRequest,
  RequestState,
  WaitingRequests,
} from "./_pending_request.ts";
import { RequestTimer, type RequestTimerHost } from "./_request_timer.ts";
import { type StreamDuplex, streamTransport } from "./stream_transport.ts";
import type { NetAddr, Transport } from "./transport.ts";
import type { FrameFormatOption } from "./frame_format.ts";
import {
  type WebSocketLike,
  webSocketTransport,
} from "./websocket_transport.ts";

export type {
  ClientCloseOptions,
  ClientOptions,
  ReconnectOptions,
  RequestOptions,
} from "./client_options.ts";

/**
 * A client connection that pipelines: requests go out without waiting for
 * earlier answers, and responses are matched to requests in order, or by
 * request id with a format that has one (see {@linkcode ClientOptions.format}).
 *
 * All `request()` calls made in the same tick leave in one write. At most
 * `maxInFlight` requests are outstanding; more wait their turn. If the
 * connection is lost, every request sent on it rejects with a
 * {@linkcode ConnectionClosedError}; with `reconnect`, the client then redials
 * with exponential backoff, and requests not yet sent go out on the new
 * connection. With `requestTimeout`, no request waits longer than that; with
 * a `signal`, a request can be aborted.
 *
 * Each response owns its memory (unless `zeroCopy` is set): it may be
 * transferred to a worker without harming any other.
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
  #framing: Framing;
  #maxInFlight: number;
  #zeroCopy: boolean;
  #onDisconnect: ((error: ConnectionClosedError) => void) | undefined;
  #onReconnect: ((attempt: number) => void) | undefined;
  #connectionEvents: ClientConnectionEvents = {
    answered: () => this.#pump(),
    lost: (error, unwritten) => this.#lost(error, unwritten),
    late: () => this.#lateResponses++,
  };
  #connection: ClientConnection;
  #waiting = new WaitingRequests();
  #signals = new AbortListeners((requests, reason) =>
    this.#abort(requests, reason)
  );
  /** Times requests out; null without `requestTimeout`. */
  #timer: RequestTimer | null = null;
  #redialer: Redialer | null = null;
  #reconnects = 0;
  #lateResponses = 0;
  /** close() was called: its promise. */
  #closing: Promise<void> | null = null;
  /** close() closes the connection: its loss is not reported. */
  #closeSent = false;
  /** Why requests reject: the connection was lost for good, or close() is done. */
  #closedError: ConnectionClosedError | null = null;
  #idleWaiters: Array<() => void> = [];
  #forced = false;
  #forceTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  #forceAt = Infinity;

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
    this.#framing = settings.framing;
    this.#maxInFlight = settings.maxInFlight;
    if (settings.requestTimeout !== 0) {
      this.#timer = new RequestTimer(
        settings.requestTimeout,
        this.#timerHost(),
      );
    }
    this.#zeroCopy = settings.zeroCopy;
    this.#onDisconnect = settings.onDisconnect;
    this.#onReconnect = settings.onReconnect;
    this.#connection = this.#connect(transport);
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
              { cause: lastError, sent: false },
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

  /**
   * Runs a client over a WebSocket: each request goes out as one binary
   * message (the payload as the format hands it out: with `u32le-id`, the
   * id and the payload), and each binary message received is one response.
   * The same `request()` API, pipelining, request ids, errors and `close()`
   * as over TCP; `close()` ends with the WebSocket closing handshake (code
   * 1000) once every answer has come. See {@linkcode webSocketTransport}.
   *
   * @param target A `ws:` or `wss:` URL, opened with the runtime's
   * `WebSocket` (the browser's, Deno's, Bun's, Node 22's), or a
   * {@linkcode WebSocketLike} already made (such as the npm `ws` package's
   * `WebSocket` on Node 20), used as it is.
   * @param options Limits, format and callbacks; see {@linkcode ClientOptions}
   * (not `reconnect`).
   * @returns Resolves with the client once the socket is open.
   * @throws {TypeError} (rejection) `target` is not a URL or a WebSocket, the
   * runtime has no `WebSocket` for a URL, or an option has the wrong type.
   * @throws {RangeError} (rejection) An option is out of range.
   * @throws {ConnectError} (rejection) The socket closed before it opened
   * (code `"EUNKNOWN"`: a WebSocket does not say why).
   *
   * @example Pipeline over a WebSocket gateway
   * ```ts
   * import { Client } from "./client.ts";
   *
   * const client = await Client.fromWebSocket("ws://127.0.0.1:8080/", {
   *   format: "u32le-id",
   * });
   * const encoder = new TextEncoder();
   * const answers = await Promise.all(
   *   ["a", "b", "c"].map((text) => client.request(encoder.encode(`....${text}`))),
   * );
   * await client.close();
   * ```
   */
  static async fromWebSocket(
    target: string | URL | WebSocketLike,
    options: ClientOptions = {},
  ): Promise<Client> {
    const settings = clientSettings(options); // invalid options throw first
    if (settings.backoff !== null) {
      throw new TypeError(
        "Cannot use reconnect: a client given one WebSocket cannot redial",
      );
    }
    const { socket, remoteAddr } = openWebSocket(target);
    const transport = webSocketTransport(socket, {
      // Resolved already, with its maxFrameSize.
      format: settings.framing as unknown as FrameFormatOption,
      remoteAddr,
    });
    if (socket.readyState === 0) await webSocketOpened(socket, remoteAddr);
    else if (socket.readyState !== 1) {
      throw new ConnectError(addressOf(remoteAddr), "EUNKNOWN", {
        detail: "the WebSocket is closing or closed",
      });
    }
    return new Client(transport, options);
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

  /**
   * Responses that came after their request had timed out or was aborted
   * (with request ids: without, such a request closes the connection), and
   * were dropped.
   */
  get lateResponses(): number {
    return this.#lateResponses;
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
   * With `options.signal`, the request can be aborted: it then rejects with
   * `signal.reason`. If it has not been written yet (the signal was already
   * aborted, or it was waiting for a free place, for a connection or for the
   * end of this tick), it is never sent. If it has been written: with
   * request ids, it is forgotten, and its late response dropped; without,
   * the connection is closed, as for a request timeout, since responses are
   * matched by position and its late response would be taken for the next
   * one's. The other requests written on that connection then reject with a
   * {@linkcode ConnectionClosedError} whose `cause` is the reason; with
   * `reconnect`, the client redials.
   *
   * @example Give up on a request after one second
   * ```ts
   * import { connect } from "../mod.ts";
   *
   * await using client = await connect({ host: "127.0.0.1", port: 1234 });
   * const response = await client.request(new TextEncoder().encode("ping"), {
   *   signal: AbortSignal.timeout(1000),
   * });
   * ```
   *
   * @param payload The request bytes, at most `maxFrameSize`; with a request
   * id field, with room for the id (the client writes it into the copy it
   * sends, not into `payload`).
   * @param options `signal`: aborts the request; see {@linkcode RequestOptions}.
   * @returns The response payload, owned by the caller: unless `zeroCopy` is
   * set, its `buffer` holds it alone (`byteOffset` 0).
   * @throws {FrameTooLargeError} (rejection) The payload exceeds `maxFrameSize`.
   * @throws {RequestTimeoutError} (rejection) No response within `requestTimeout`.
   * @throws {ConnectionClosedError} (rejection) The connection closed first, reconnecting failed, or the client is closing or closed.
   * @throws {TypeError} (rejection) `options.signal` is not an `AbortSignal`.
   */
  request(payload: Uint8Array, options?: RequestOptions): Promise<Uint8Array> {
    const signal = options?.signal;
    if (signal !== undefined) {
      if (!isAbortSignal(signal)) {
        return Promise.reject(
          new TypeError("Cannot send request: signal is not an AbortSignal"),
        );
      }
      if (signal.aborted) return Promise.reject(signal.reason);
    }
    if (this.#closing !== null || this.#closedError !== null) {
      return Promise.reject(
        this.#closedError ??
          new ConnectionClosedError("Cannot send request: client is closing", {
            sent: false,
          }),
      );
    }
    try {
      const framing = this.#framing;
      if (framing.isDefault) assertFrameSize(payload, framing.maxFrameSize);
      else framing.checkOutgoing(payload);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      const pending: PendingRequest = {
        payload,
        deadline: Infinity,
        state: RequestState.waiting,
        id: -1,
        resolve,
        reject,
      };
      if (signal !== undefined) this.#signals.listen(pending, signal);
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
      this.#timer?.add(pending);
    });
  }

  /**
   * Closes. Gracefully by default: takes no new requests, waits for the
   * answers to those already made, then closes the connection. It stops
   * reconnecting: requests waiting for a connection reject with a
   * {@linkcode ConnectionClosedError}.
   *
   * With `force: true`, or once `timeout` ms have passed, it closes at once:
   * every request in flight or waiting rejects with a
   * {@linkcode ConnectionClosedError} ("client was destroyed"). A forced call
   * also applies to a graceful close under way. Requests made after `close()`
   * reject ("client is closing", then "client is closed").
   *
   * @example Wait up to five seconds for the answers
   * ```ts
   * import { connect } from "../mod.ts";
   *
   * const client = await connect({ host: "127.0.0.1", port: 1234 });
   * await client.close({ timeout: 5000 });
   * ```
   *
   * @param options `force`: close at once; `timeout`: ms to wait for the
   * answers before closing by force. See {@linkcode ClientCloseOptions}.
   * @returns Resolves once the connection is closed; the same promise on every call.
   * @throws {TypeError} An option has the wrong type.
   * @throws {RangeError} `timeout` is out of range.
   */
  close(options: ClientCloseOptions = {}): Promise<void> {
    const { force, timeout } = closeSettings(options);
    this.#closing ??= this.#close();
    if (force) this.#force();
    else if (timeout !== undefined) this.#forceAfter(timeout);
    return this.#closing;
  }

  /**
   * Closes at once: same as `close({ force: true })`.
   *
   * @example
   * ```ts
   * import { connect } from "../mod.ts";
   *
   * const client = await connect({ host: "127.0.0.1", port: 1234 });
   * await client.destroy();
   * ```
   *
   * @returns Resolves once the connection is closed.
   */
  destroy(): Promise<void> {
    return this.close({ force: true });
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
        { sent: false },
      ),
    );
    await stopped;
    const connection = this.#connection;
    if (connection.alive) {
      this.#closeSent = true;
      connection.closeWrite();
    }
    await connection.whenClosed;
    this.#timer?.stop();
    clearTimeout(this.#forceTimer);
    if (!this.#forced) this.#closedError = clientClosed();
  }

  /** Rejects every request, closes the connection and stops reconnecting. */
  #force(): void {
    if (this.#forced) return;
    this.#forced = true;
    this.#closeSent = true;
    this.#closedError = clientClosed();
    clearTimeout(this.#forceTimer);
    this.#redialer?.stop(); // close() waits for a dial under way
    this.#rejectWaiting(
      new ConnectionClosedError("Cannot send request: client was destroyed", {
        sent: false,
      }),
    );
    this.#connection.fail(
      new ConnectionClosedError(
        "Cannot complete request: client was destroyed",
      ),
    );
  }

  /** Forces the close in `timeout` ms, unless an earlier force is due. */
  #forceAfter(timeout: number): void {
    const at = performance.now() + timeout;
    if (this.#forced || at >= this.#forceAt) return;
    clearTimeout(this.#forceTimer);
    this.#forceAt = at;
    this.#forceTimer = setTimeout(() => this.#force(), timeout);
  }

  #connect(transport: Transport): ClientConnection {
    return new ClientConnection(
      transport,
      this.#framing,
      this.#zeroCopy,
      this.#connectionEvents,
      this.#maxInFlight,
    );
  }

  /**
   * Rejects requests whose signal aborted, in the order they were made: those
   * not written are taken out, and if one was, the connection is closed.
   */
  #abort(requests: PendingRequest[], reason: unknown): void {
    let written = false;
    for (const pending of requests) {
      if (pending.state === RequestState.waiting) this.#waiting.drop(pending);
      else if (this.#connection.drop(pending)) written = true;
      pending.reject(reason);
    }
    if (written) this.#connection.failAfter("a request was aborted", reason);
    else this.#pump();
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
      // After close(), requests reject for that reason, not for this loss.
      if (this.#closing === null) this.#closedError ??= error;
      // Never written: `sent: false` says they can be sent again (a pool does).
      const unsent = unwritten.length > 0 || this.#waiting.length > 0
        ? new ConnectionClosedError(error.message, {
          cause: error.cause,
          sent: false,
        })
        : error;
      for (const pending of unwritten) pending.reject(unsent);
      this.#rejectWaiting(unsent);
      this.#timer?.stop();
    }
    this.#wakeIfIdle();
    if (!this.#closeSent) notify(this.#onDisconnect, error);
  }

  #rejectWaiting(error: unknown): void {
    for (const pending of this.#waiting.drain()) pending.reject(error);
  }

  #timerHost(): RequestTimerHost {
    const waiting = this.#waiting;
    return {
      waiting,
      oldestSent: () => this.#connection.oldest(),
      timeOutSent: (pending, error) => {
        const closes = this.#connection.drop(pending);
        pending.reject(error);
        if (closes) this.#connection.failAfter("a request timed out", error);
      },
      expired: () => this.#pump(),
    };
  }

  #reconnected(transport: Transport, attempt: number): void {
    this.#connection = this.#connect(transport);
    this.#reconnects++;
    this.#pump();
    notify(this.#onReconnect, attempt);
  }
}

/** The WebSocket of `Client.fromWebSocket()`'s target, and the peer's address. */
function openWebSocket(
  target: string | URL | WebSocketLike,
): { socket: WebSocketLike; remoteAddr: NetAddr } {
  if (typeof target !== "string" && !(target instanceof URL)) {
    if (
      target === null || typeof target !== "object" ||
      typeof target.send !== "function" ||
      typeof target.addEventListener !== "function"
    ) {
      throw new TypeError(
        "Cannot connect: target is not a URL, a string or a WebSocket",
      );
    }
    const url = (target as { url?: unknown }).url;
    return {
      socket: target,
      remoteAddr: typeof url === "string" && URL.canParse(url)
        ? webSocketAddr(new URL(url))
        : { transport: "websocket", hostname: "", port: 0 },
    };
  }
  const url = new URL(target);
  const WebSocketClass = (globalThis as {
    WebSocket?: new (url: string) => WebSocketLike;
  }).WebSocket;
  if (typeof WebSocketClass !== "function") {
    throw new TypeError(
      "Cannot connect: this runtime has no global WebSocket (Node 20 has none: pass a WebSocket of the npm ws package)",
    );
  }
  return {
    socket: new WebSocketClass(url.href),
    remoteAddr: webSocketAddr(url),
  };
}

/** The address of a `ws:` or `wss:` URL. */
function webSocketAddr(url: URL): NetAddr {
  const port = url.port !== ""
    ? Number(url.port)
    : url.protocol === "wss:" || url.protocol === "https:"
    ? 443
    : 80;
  return {
    transport: "websocket",
    hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port,
  };
}

function addressOf(addr: NetAddr): string {
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}

/** Resolves once `socket` is open; rejects if it closes first. */
function webSocketOpened(socket: WebSocketLike, addr: NetAddr): Promise<void> {
  return new Promise((resolve, reject) => {
    let failure: unknown = undefined;
    socket.addEventListener("open", () => resolve());
    socket.addEventListener("error", (event) => {
      failure ??= event?.error ?? event;
    });
    socket.addEventListener("close", (event) => {
      reject(
        new ConnectError(addressOf(addr), "EUNKNOWN", {
          detail: `the WebSocket closed before it opened (code ${event?.code})`,
          cause: failure,
        }),
      );
    });
  });
}

/** Why requests reject once close() is done (or forced). */
const clientClosed = () =>
  new ConnectionClosedError("Cannot send request: client is closed");

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
