/**
 * Settings of the framewire `Client`: limits, request timeout, reconnection
 * and response memory; options of one request and of closing.
 *
 * @module
 */
import type { ConnectionClosedError } from "./errors.ts";
import type { FrameFormatOption } from "./frame_format.ts";

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
  /**
   * The frame format of requests and responses: a preset's name
   * (`"u32le"`, `"u32be"`, `"u16be"`, `"varint"`, `"u32le-id"`, `"dns"`) or
   * a {@linkcode FrameFormat}. With `initialBytesToStrip: 0` requests and
   * responses are whole frames, header included; each request is checked to
   * be one well-formed frame and written as it is. A format that can be
   * decoded but not written is refused (see `docs/framing.md`).
   *
   * With a `requestId` field (`"u32le-id"`, `"dns"`), the client gives each
   * request an id unique among those in flight, written into the copy it
   * sends (a request must have room for it: with `"u32le-id"`, 4 bytes
   * before the payload, whatever they hold), and matches each response to
   * its request by id, in whatever order the server answers. A timed-out
   * or aborted request then costs only itself.
   *
   * @default {"u32le"}
   */
  format?: FrameFormatOption;
  /**
   * Largest request or response, in bytes: the payload, or the whole frame
   * with a format that keeps its header.
   *
   * @default {33554432}
   */
  maxFrameSize?: number;
  /**
   * Resolve responses with views of the bytes read instead of copies. Off,
   * every response owns its memory exactly (`byteOffset` 0, `byteLength`
   * equal to `buffer.byteLength`), so transferring its `buffer`
   * (`postMessage`, `structuredClone` with `transfer`) harms no other
   * response, and nothing framewire does later changes it; a response is
   * copied only when it lay in the bytes read (one spread over several reads
   * is already assembled in a buffer of its own). On, a response may share
   * its `ArrayBuffer` with other responses and with frame headers:
   * transferring it empties them all. framewire still never overwrites a
   * view it handed out (the transport reads into other memory). The copies
   * cost an allocation per response, which shows with many small responses,
   * most on Deno, where a small typed array costs far more to allocate than
   * on Node or Bun.
   * @default {false}
   */
  zeroCopy?: boolean;
  /**
   * Requests sent and not yet answered, at most. Further `request()` calls
   * wait (in order) for a free place rather than fail. With a request id
   * field, at most half the ids the field holds (32,768 for a 2-byte id):
   * ids of requests abandoned (timed out, aborted) stay taken until their
   * late responses come, and more than `maxInFlight` such requests close
   * the connection.
   * @default {1024}
   */
  maxInFlight?: number;
  /**
   * Milliseconds a request may take, from the tick of its `request()` call
   * to its response; 0 for no limit. A request that runs out of time rejects
   * with a `RequestTimeoutError` (never early; one timer serves all
   * requests).
   *
   * With a request id field, that is all: the connection and the other
   * requests go on, and the late response, when it comes, is dropped and
   * counted in `lateResponses`. Without ids, if the request had been sent,
   * the connection is closed, since its late response would be matched to
   * the next request: the other requests sent on it reject with a
   * {@linkcode ConnectionClosedError} whose `cause` is the timeout. With
   * `reconnect`, requests not yet sent go out on the next connection;
   * without, the client is closed.
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

/**
 * Options of one `Client.request()`.
 *
 * @example Abort a request after one second
 * ```ts
 * import type { RequestOptions } from "./client_options.ts";
 *
 * const options: RequestOptions = { signal: AbortSignal.timeout(1000) };
 * ```
 */
export interface RequestOptions {
  /**
   * Aborts the request: it rejects with `signal.reason`. A request not
   * written yet (waiting for a free place or a connection, or for the end of
   * the tick) is never sent. With a request id field, a request already
   * written is forgotten and its late response dropped (counted in
   * `lateResponses`). Without ids, aborting a request already written
   * closes the connection, as a request timeout does: responses are matched
   * to requests by position, so its late response would be taken for the
   * next request's. The other requests written on that connection reject
   * with a {@linkcode ConnectionClosedError} whose `cause` is the reason;
   * with `reconnect`, the client redials.
   */
  signal?: AbortSignal;
}

/**
 * How `Client.close()` closes.
 *
 * @example
 * ```ts
 * import type { ClientCloseOptions } from "./client_options.ts";
 *
 * const now: ClientCloseOptions = { force: true };
 * const patient: ClientCloseOptions = { timeout: 5000 };
 * ```
 */
export interface ClientCloseOptions {
  /**
   * Close at once: requests in flight or waiting reject with a
   * {@linkcode ConnectionClosedError}.
   * @default {false}
   */
  force?: boolean;
  /**
   * Milliseconds to wait for the answers to the requests already made
   * before closing by force; none by default (wait for every answer).
   */
  timeout?: number;
}
