/**
 * A pool of pipelining clients over several servers: least-in-flight
 * routing, failover with backoff, and retries of requests that were never
 * written or never processed.
 *
 * @module
 */
import type { ClientCloseOptions } from "./client_options.ts";
import { ConnectionClosedError } from "./errors.ts";
import { clientSettings, closeSettings } from "./_client_settings.ts";
import { integerOption } from "./_validate.ts";
import { PoolConnection } from "./_pool_connection.ts";
import { type EndpointRecord, parseEndpoint } from "./_pool_endpoint.ts";
import { PoolRequests } from "./_pool_requests.ts";
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
  #requests: PoolRequests;
  #maxInFlight: number;
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
    this.#requests = new PoolRequests(
      settings.requestTimeout,
      () => this.#dispatch(),
    );
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
    return this.#requests.make(payload, options);
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
    return { queued: this.#requests.queued, endpoints };
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
    if (this.#requests.outstanding > 0) await this.#requests.idle();
    await Promise.all(this.#connections.map((c) => c.close(this.#forced)));
  }

  #force(): void {
    if (this.#forced) return;
    this.#forced = true;
    const error = new ConnectionClosedError(
      "Cannot send request: pool was destroyed",
      { sent: false },
    );
    this.#requests.destroy(error);
    for (const connection of this.#connections) connection.close(true);
  }

  /** Hands queued requests to the least busy connections that have room. */
  #dispatch(): void {
    const requests = this.#requests;
    for (
      let request = requests.next();
      request !== undefined;
      request = requests.next()
    ) {
      const connection = this.#pick(request.avoid);
      if (connection === null) return;
      requests.sendNext(connection, this.#endpoints[connection.endpoint]);
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
