/**
 * Settings of the framewire client `Pool`: endpoints, connections per
 * endpoint, redial backoff and client options; options of one request; the
 * figures `pool.stats()` returns.
 *
 * @module
 */
import type {
  ClientOptions,
  ReconnectOptions,
  RequestOptions,
} from "./client_options.ts";
import type { ConnectOptions, Network } from "./transport.ts";
import type { PoolEndpoint } from "./_pool_endpoint.ts";

export type { PoolEndpoint } from "./_pool_endpoint.ts";

/**
 * Options of {@linkcode createPool}: the endpoints, how many connections to
 * each, how to connect, and the client options every connection uses.
 *
 * @example
 * ```ts
 * import type { PoolOptions } from "../mod.ts";
 *
 * const options: PoolOptions = {
 *   endpoints: ["127.0.0.1:1234", { host: "127.0.0.1", port: 1235 }],
 *   connectionsPerEndpoint: 4,
 *   format: "u32le-id",
 *   requestTimeout: 5000,
 * };
 * ```
 */
export interface PoolOptions
  extends Omit<ClientOptions, "reconnect" | "onDisconnect" | "onReconnect"> {
  /** The servers: `{ host, port }`, `{ path }` (Unix socket) or `"host:port"`. */
  endpoints: readonly PoolEndpoint[];
  /** Connections opened to each endpoint. @default {2} */
  connectionsPerEndpoint?: number;
  /** The backoff between redials of a refused or lost connection; `maxAttempts` is ignored (a pool redials forever). */
  reconnect?: Omit<ReconnectOptions, "maxAttempts">;
  /** TLS for every connection, as for `connect()`. */
  tls?: ConnectOptions["tls"];
  /** Milliseconds each dial may take. @default {10000} */
  connectTimeout?: number;
  /** The adapter. @default {defaultNetwork()} */
  network?: Network;
}

/**
 * Options of {@linkcode Pool.request}: the client's, and whether the request
 * may be run twice.
 *
 * @example
 * ```ts
 * import type { PoolRequestOptions } from "../mod.ts";
 *
 * const options: PoolRequestOptions = { idempotent: true, signal: AbortSignal.timeout(1000) };
 * ```
 */
export interface PoolRequestOptions extends RequestOptions {
  /**
   * The request may run twice: if its connection dies after it was written
   * and before its answer, it is sent once more on another connection.
   * @default {false}
   */
  idempotent?: boolean;
}

/**
 * One endpoint's figures in {@linkcode PoolStats}.
 *
 * @example
 * ```ts
 * import type { PoolEndpointStats } from "../mod.ts";
 *
 * const down = (e: PoolEndpointStats) => e.state !== "up";
 * ```
 */
export interface PoolEndpointStats {
  /** `host:port` or the socket path. */
  endpoint: string;
  /** `up` while a connection is; else `backoff` (waiting to redial), `connecting` or `closed`. */
  state: "up" | "backoff" | "connecting" | "closed";
  /** Connections open. */
  connected: number;
  /** Requests handed to its connections and not yet settled. */
  inFlight: number;
  /** Requests handed to its connections. */
  sent: number;
  /** Responses received. */
  answered: number;
  /** Requests that failed on it and were sent again elsewhere. */
  retried: number;
  /** Requests that failed on it and rejected. */
  failed: number;
}

/**
 * What {@linkcode Pool.stats} returns.
 *
 * @example
 * ```ts
 * import type { PoolStats } from "../mod.ts";
 *
 * const answered = (s: PoolStats) => s.endpoints.reduce((n, e) => n + e.answered, 0);
 * ```
 */
export interface PoolStats {
  /** Requests waiting in the pool for a connection with room. */
  queued: number;
  /** Per endpoint, in the order given. */
  endpoints: PoolEndpointStats[];
}
