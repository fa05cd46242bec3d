/**
 * A pool of pipelining clients over several servers: least-in-flight
 * routing, failover with backoff, and retries of requests that were never
 * written or never processed.
 *
 * @module
 */
import type { ClientCloseOptions } from "./client_options.ts";
import { ConnectionClosedError, RequestTimeoutError } from "./errors.ts";
import { clientSettings, closeSettings } from "./_client_settings.ts";
import { integerOption } from "./_validate.ts";
import { Fifo } from "./_fifo.ts";
import { PoolConnection } from "./_pool_connection.ts";
import { type EndpointRecord, parseEndpoint } from "./_pool_endpoint.ts";
import type {
  PoolEndpointStats,
  PoolOptions,
  PoolRequestOptions,
  PoolStats,
} from "./pool_options.ts";
import type { Network } from "./transport.ts";

export type {
  PoolEndpoint,
  PoolEndpointStats,
  PoolOptions,
  PoolRequestOptions,
  PoolStats,
} from "./pool_options.ts";

/** A pool request until it settles. */
interface PoolRequest {
  payload: Uint8Array;
  signal: AbortSignal | undefined;
  idempotent: boolean;
  /** Already sent once more after its written copy was lost. */
  replayed: boolean;
  /** The endpoint it failed on: another is preferred. */
  avoid: number;
  settled: boolean;
  /** In the pool's queue. */
  queued: boolean;
  onAbort: (() => void) | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
  resolve(response: Uint8Array): void;
  reject(error: unknown): void;
}

/**
 * Pipelining clients to several endpoints, `connectionsPerEndpoint` each.
 * A request goes to the connected connection with the fewest requests in
 * flight; it waits in the pool while none has room (`maxInFlight`). A
 * connection that is refused or closed (a draining server closes it) is
 * skipped and redialed with exponential backoff. A request lost before it
 * was written, or that a draining server's drain notice says it never
 * processed, is sent again on another connection; one lost after it was
 * written rejects with a {@linkcode ConnectionClosedError}, unless it is
 * `idempotent`: then it is sent once more.
 *
 * @example Two servers, one pool
 * ```ts
 * import { createPool } from "../mod.ts";
 *
 * await using pool = await createPool({
 *   endpoints: ["127.0.0.1:1234", "127.0.0.1:1235"],
 * });
 * const response = await pool.request(new TextEncoder().encode("ping"));
 * console.log(pool.stats().endpoints.map((e) => e.state));
 * ```
 */
export class Pool implements AsyncDisposable {
  #endpoints: EndpointRecord[];
  #connections: PoolConnection[] = [];
  #queue = new Fifo<PoolRequest>();
  /** Requests in #queue not settled. */
  #queued = 0;
  #maxInFlight: number;
  #requestTimeout: number;
  /** Requests made and not settled, queued or handed out. */
  #outstanding = 0;
  #idleWaiters: Array<() => void> = [];
  #closing: Promise<void> | null = null;
  #forced = false;
  #firstDials: Promise<void>;

  /**
   * Opens the pool's connections with `options.network` (required here;
   * {@linkcode createPool} picks the runtime's).
   *
   * @param options Endpoints, connections, adapter and client options.
   * @throws {TypeError} An endpoint or option is invalid.
   * @throws {RangeError} An option is out of range.
   */
  constructor(options: PoolOptions & { network: Network }) {
    const { endpoints, network } = options;
    if (!Array.isArray(endpoints) || endpoints.length === 0) {
      throw new TypeError(
        "Cannot create pool: endpoints is not a non-empty array",
      );
    }
    this.#endpoints = endpoints.map(parseEndpoint);
    const perEndpoint = integerOption(
      "connectionsPerEndpoint",
      options.connectionsPerEndpoint,
      2,
      1,
    );
    const { endpoints: _, network: __, connectionsPerEndpoint: ___, ...rest } =
      options;
    const { tls, connectTimeout, reconnect, ...clientOptions } = rest;
    const settings = clientSettings({
      ...clientOptions,
      reconnect: { ...reconnect, maxAttempts: Infinity },
    });
    this.#maxInFlight = settings.maxInFlight;
    this.#requestTimeout = settings.requestTimeout;
    const host = { up: () => this.#dispatch() };
    const dials: Promise<void>[] = [];
    this.#endpoints.forEach((endpoint, index) => {
      const target = { ...endpoint.target, tls, connectTimeout };
      for (let i = 0; i < perEndpoint; i++) {
        const connection = new PoolConnection(
          index,
          () => network.connect(target),
          clientOptions,
          settings.backoff!,
          host,
        );
        this.#connections.push(connection);
        dials.push(connection.dial());
      }
    });
    this.#firstDials = Promise.all(dials).then(() => {});
  }

  /** Resolves once every connection's first dial has succeeded or failed. */
  ready(): Promise<void> {
    return this.#firstDials;
  }

  /**
   * Sends one request on the least busy connection and resolves with its
   * response. Leave `payload` unchanged until the promise settles.
   *
   * @example Mark a request safe to run twice
   * ```ts
   * import { createPool } from "../mod.ts";
   *
   * await using pool = await createPool({ endpoints: ["127.0.0.1:1234"] });
   * const value = await pool.request(new TextEncoder().encode("GET a"), { idempotent: true });
   * ```
   *
   * @param payload The request bytes, as for {@linkcode Client.request}.
   * @param options `signal`, and `idempotent`: the request may be sent again
   * after its connection died with it unanswered.
   * @returns The response payload.
   * @throws {ConnectionClosedError} (rejection) Its connection died after it was written (twice, if idempotent), or the pool is closing.
   * @throws {RequestTimeoutError} (rejection) It waited `requestTimeout` ms in the pool, or as long on its connection.
   */
  request(
    payload: Uint8Array,
    options?: PoolRequestOptions,
  ): Promise<Uint8Array> {
    if (this.#closing !== null) {
      return Promise.reject(
        new ConnectionClosedError("Cannot send request: pool is closing", {
          sent: false,
        }),
      );
    }
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    this.#outstanding++;
    return new Promise<Uint8Array>((resolve, reject) => {
      const request: PoolRequest = {
        payload,
        signal,
        idempotent: options?.idempotent === true,
        replayed: false,
        avoid: -1,
        settled: false,
        queued: false,
        onAbort: undefined,
        timer: undefined,
        resolve,
        reject,
      };
      this.#enqueue(request, false);
      this.#dispatch();
      if (request.settled) return;
      if (this.#requestTimeout > 0 && request.queued) this.#arm(request);
      if (signal !== undefined) {
        request.onAbort = () => {
          if (request.queued) this.#settle(request, signal.reason);
        };
        signal.addEventListener("abort", request.onAbort, { once: true });
      }
    }).finally(() => {
      this.#outstanding--;
      this.#wakeIfIdle();
    });
  }

  /**
   * Figures per endpoint.
   *
   * @example
   * ```ts
   * import { createPool } from "../mod.ts";
   *
   * await using pool = await createPool({ endpoints: ["127.0.0.1:1234"] });
   * for (const e of pool.stats().endpoints) console.log(e.endpoint, e.state, e.inFlight);
   * ```
   *
   * @returns The queue length and each endpoint's state and counters.
   */
  stats(): PoolStats {
    const endpoints = this.#endpoints.map((e): PoolEndpointStats => ({
      endpoint: e.name,
      state: "closed",
      connected: 0,
      inFlight: 0,
      sent: e.sent,
      answered: e.answered,
      retried: e.retried,
      failed: e.failed,
    }));
    const rank = { closed: 0, connecting: 1, backoff: 2, up: 3 } as const;
    for (const connection of this.#connections) {
      const e = endpoints[connection.endpoint];
      if (connection.usable) e.connected++;
      e.inFlight += connection.inFlight;
      if (rank[connection.state] > rank[e.state]) e.state = connection.state;
    }
    return { queued: this.#queued, endpoints };
  }

  /**
   * Closes: takes no new requests, waits for the answers to those made (a
   * queued request still waits for a connection), then closes every
   * connection. With `force`, or after `timeout` ms, at once: what is left
   * rejects with a {@linkcode ConnectionClosedError}.
   *
   * @example
   * ```ts
   * import { createPool } from "../mod.ts";
   *
   * const pool = await createPool({ endpoints: ["127.0.0.1:1234"] });
   * await pool.close({ timeout: 5000 });
   * ```
   *
   * @param options `force` and `timeout`, as for {@linkcode Client.close}.
   * @returns Resolves once every connection is closed.
   */
  close(options: ClientCloseOptions = {}): Promise<void> {
    const { force, timeout } = closeSettings(options);
    this.#closing ??= this.#close();
    if (force) this.#force();
    else if (timeout !== undefined) {
      const timer = setTimeout(() => this.#force(), timeout);
      this.#closing.finally(() => clearTimeout(timer));
    }
    return this.#closing;
  }

  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    if (this.#outstanding > 0) {
      await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    }
    await Promise.all(this.#connections.map((c) => c.close(this.#forced)));
  }

  #force(): void {
    if (this.#forced) return;
    this.#forced = true;
    const error = new ConnectionClosedError(
      "Cannot send request: pool was destroyed",
      { sent: false },
    );
    for (const request of this.#queue.drain()) this.#settle(request, error);
    for (const connection of this.#connections) connection.close(true);
  }

  #wakeIfIdle(): void {
    if (this.#outstanding === 0 && this.#idleWaiters.length > 0) {
      for (const resolve of this.#idleWaiters.splice(0)) resolve();
    }
  }

  #enqueue(request: PoolRequest, first: boolean): void {
    request.queued = true;
    this.#queued++;
    if (first) this.#queue.prepend([request]);
    else this.#queue.push(request);
  }

  /** Rejects a queued request after requestTimeout ms in the pool. */
  #arm(request: PoolRequest): void {
    const timeout = this.#requestTimeout;
    request.timer = setTimeout(() => {
      request.timer = undefined;
      this.#settle(request, new RequestTimeoutError("send", timeout));
    }, timeout);
  }

  /** Hands queued requests to the least busy connections that have room. */
  #dispatch(): void {
    const queue = this.#queue;
    while (queue.length > 0) {
      const request = queue.peek()!;
      if (request.settled) {
        queue.shift();
        continue;
      }
      if (request.signal?.aborted) {
        this.#settle(request, request.signal.reason);
        queue.shift();
        continue;
      }
      const connection = this.#pick(request.avoid);
      if (connection === null) return;
      queue.shift();
      request.queued = false;
      this.#queued--;
      // From here the client's own requestTimeout applies.
      clearTimeout(request.timer);
      request.timer = undefined;
      this.#send(connection, request);
    }
  }

  /** The usable connection with the fewest in flight, off `avoid` if can be. */
  #pick(avoid: number): PoolConnection | null {
    let best: PoolConnection | null = null;
    let bestLoad = Infinity;
    for (const connection of this.#connections) {
      if (!connection.usable) continue;
      const inFlight = connection.inFlight;
      if (inFlight >= this.#maxInFlight) continue;
      const load = inFlight + (connection.endpoint === avoid ? 1e9 : 0);
      if (load < bestLoad) {
        best = connection;
        bestLoad = load;
      }
    }
    return best;
  }

  #send(connection: PoolConnection, request: PoolRequest): void {
    const endpoint = this.#endpoints[connection.endpoint];
    endpoint.sent++;
    const signal = request.signal;
    connection.client!.request(
      request.payload,
      signal === undefined ? undefined : { signal },
    ).then(
      (response) => {
        endpoint.answered++;
        this.#settle(request, null, response);
        this.#dispatch();
      },
      (error) => {
        if (this.#retries(request, error)) {
          endpoint.retried++;
          request.avoid = connection.endpoint;
          this.#enqueue(request, true);
          if (this.#requestTimeout > 0) this.#arm(request);
        } else {
          endpoint.failed++;
          this.#settle(request, error);
        }
        this.#dispatch();
      },
    );
  }

  /** Whether a rejected request is sent again. */
  #retries(request: PoolRequest, error: unknown): boolean {
    if (request.settled || this.#forced) return false;
    if (!(error instanceof ConnectionClosedError)) return false;
    if (!error.sent) return true;
    if (!request.idempotent || request.replayed) return false;
    request.replayed = true;
    return true;
  }

  #settle(request: PoolRequest, error: unknown, response?: Uint8Array): void {
    if (request.settled) return;
    request.settled = true;
    if (request.queued) {
      request.queued = false;
      this.#queued--;
    }
    clearTimeout(request.timer);
    if (request.onAbort !== undefined) {
      request.signal!.removeEventListener("abort", request.onAbort);
    }
    if (response !== undefined) request.resolve(response);
    else request.reject(error);
  }
}

/**
 * Creates a {@linkcode Pool} with the runtime's adapter (or `network`) and
 * waits for every connection's first dial: endpoints that refuse are
 * skipped, and redialed with backoff until they answer.
 *
 * @param options Endpoints, `connectionsPerEndpoint`, `network`, `tls`,
 * `connectTimeout`, the redial backoff and the client options.
 * @returns The pool.
 *
 * @example
 * ```ts
 * import { createPool } from "../mod.ts";
 *
 * const pool = await createPool({
 *   endpoints: [{ host: "127.0.0.1", port: 1234 }, { path: "/tmp/fw.sock" }],
 *   connectionsPerEndpoint: 2,
 *   reconnect: { initialDelay: 50, maxDelay: 2000 },
 * });
 * await pool.close();
 * ```
 */
export async function createPool(options: PoolOptions): Promise<Pool> {
  // The runtime's adapter, loaded as connect() loads it (not a static import:
  // the library imports no adapter).
  const network = options.network ??
    await (await import("./adapters/auto.ts")).defaultNetwork();
  const pool = new Pool({ ...options, network });
  await pool.ready();
  return pool;
}
