/**
 * Settings of the framewire `Client`: limits, request timeout and
 * reconnection.
 *
 * @module
 */
import type { ConnectionClosedError } from "./errors.ts";

/**
 * How a client made with `Client.dial()` (or `connect()`) redials
 * after losing its connection. Attempt `n` of a round waits
 * `min(maxDelay, initialDelay * factor ** (n - 1))` milliseconds, less a
 * random part of up to `jitter` of that.
 *
 * @example
 * ```ts
 * import type { ReconnectOptions } from "./client_options.ts";
 *
 * const reconnect: ReconnectOptions = { initialDelay: 50, maxDelay: 2000, maxAttempts: Infinity };
 * ```
 */
export interface ReconnectOptions {
  /** Milliseconds before the first attempt of a round. @default {100} */
  initialDelay?: number;
  /** Longest wait before an attempt, in milliseconds. @default {5000} */
  maxDelay?: number;
  /** How much the wait grows from one attempt to the next (at least 1). @default {2} */
  factor?: number;
  /**
   * Fraction (0 to 1) of each wait taken off at random, so that clients that
   * lost the same server do not redial in step.
   * @default {0.5}
   */
  jitter?: number;
  /**
   * Attempts in one round before the requests waiting for a connection are
   * rejected; `Infinity` for no limit. The next request starts a new round.
   * @default {10}
   */
  maxAttempts?: number;
}

/**
 * Settings of a `Client`.
 *
 * @example
 * ```ts
 * import type { ClientOptions } from "./client_options.ts";
 *
 * const options: ClientOptions = {
 *   maxFrameSize: 1 << 20,
 *   maxInFlight: 64,
 *   requestTimeout: 5000,
 *   reconnect: true,
 * };
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
  /**
   * Milliseconds a request may take, from the tick of its `request()` call
   * to its response; 0 for no limit. A request that runs out of time rejects
   * with a `RequestTimeoutError` (never early; one timer serves all
   * requests). If it had been sent, the connection is closed, since a late
   * response would be matched to the next request: the other requests sent
   * on it reject with a {@linkcode ConnectionClosedError} whose `cause` is
   * the timeout. With `reconnect`, requests not yet sent go out on the next
   * connection; without, the client is closed.
   * @default {0}
   */
  requestTimeout?: number;
  /**
   * Redial after a lost connection: `true` for the defaults of
   * {@linkcode ReconnectOptions}, or those options. Only for clients made with
   * `Client.dial()` or `connect()`. Requests sent on the lost connection are
   * rejected, never sent again (the protocol cannot tell whether the server
   * got them); requests not yet sent, and requests made meanwhile, wait for
   * the new connection. `close()` stops reconnecting.
   * @default {false}
   */
  reconnect?: boolean | ReconnectOptions;
  /**
   * Called when the connection is lost (not when `close()` closes it), with
   * the error the requests sent on it were rejected with.
   */
  onDisconnect?: (error: ConnectionClosedError) => void;
  /** Called when a redial succeeds, with its attempt number in the round. */
  onReconnect?: (attempt: number) => void;
}
