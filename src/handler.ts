/**
 * The application's side of a server: the handler that turns each request
 * into its response, the hooks around it, and what they know of the
 * request's connection.
 *
 * @module
 */
import type { NetAddr } from "./transport.ts";

/**
 * What a handler knows about the request's connection. One object per
 * connection, shared by all its requests and hooks.
 *
 * `state` is the connection's own data, typed by the server's `State`
 * parameter: it starts as an empty object, and `onConnection` or a handler
 * may fill it.
 *
 * @example Per-connection state
 * ```ts
 * import { serve } from "framewire";
 *
 * interface Session { requests: number }
 * await using server = await serve<Session>({
 *   port: 0,
 *   onConnection: (context) => {
 *     context.state.requests = 0;
 *   },
 *   handler: (request, context) => {
 *     context.state.requests++;
 *     return request;
 *   },
 * });
 * ```
 */
export interface RequestContext<State = Record<string, unknown>> {
  /** A number unique to this connection within its server. */
  readonly connectionId: number;
  /** The client's address. */
  readonly remoteAddr: NetAddr;
  /** The server's end of the connection. */
  readonly localAddr: NetAddr;
  /** This connection's data: an empty object at first. */
  state: State;
}

/**
 * Turns a request payload into its response payload. It may return the
 * response or a promise of it; responses go out in request order, or, with
 * a request id format and `ordering: "any"`, as each is ready. With a
 * request id field, `request` holds its id (where the format puts it), and
 * the response must have room for one there: the server writes the
 * request's id into the bytes it sends.
 *
 * The handler owns `request`: it may keep it, and nothing framewire does
 * later changes its bytes. (A server created with `zeroCopy: true` lends
 * the request instead; see {@linkcode Application.zeroCopy}.) The returned
 * bytes must stay unchanged until they are written.
 *
 * @example An upper-casing handler
 * ```ts
 * import type { Handler } from "framewire";
 *
 * const upper: Handler = (request) =>
 *   new TextEncoder().encode(new TextDecoder().decode(request).toUpperCase());
 * ```
 */
export type Handler<State = Record<string, unknown>> = (
  request: Uint8Array,
  context: RequestContext<State>,
) => Uint8Array | Promise<Uint8Array>;

/**
 * Why a server connection closed, as `onClose` is told:
 *
 * - `"peer"`: the client closed its side, and every request it sent was
 *   answered;
 * - `"shutdown"`: the server closed (`server.close()`);
 * - `"timeout"`: an idle, frame, write or handler timeout expired;
 * - `"protocol"`: the client broke the protocol (a frame over
 *   `maxFrameSize`);
 * - `"handler"`: a handler failed and `onHandlerError` gave no response;
 * - `"error"`: the connection failed (for example, reset by the peer).
 *
 * @example
 * ```ts
 * import type { CloseReason } from "framewire";
 *
 * const expected = (reason: CloseReason) =>
 *   reason === "peer" || reason === "shutdown";
 * ```
 */
export type CloseReason =
  | "peer"
  | "shutdown"
  | "timeout"
  | "protocol"
  | "handler"
  | "error";

/**
 * An application served by a server: its handler and the hooks around it.
 * `serve()` and `new Server()` take these fields among their options, and
 * the command line serves a module whose default export is one
 * (`serve --handler FILE`).
 *
 * @example A key-value store that answers errors instead of closing
 * ```ts
 * import type { Application } from "framewire";
 *
 * const store = new Map<string, Uint8Array>();
 * const text = new TextDecoder();
 *
 * const app: Application = {
 *   // "key=value" sets, "key" gets. Requests are kept without a copy.
 *   handler: (request) => {
 *     const eq = request.indexOf(61); // "="
 *     if (eq === -1) {
 *       const value = store.get(text.decode(request));
 *       if (value === undefined) throw new Error("no such key");
 *       return value;
 *     }
 *     store.set(text.decode(request.subarray(0, eq)), request.subarray(eq + 1));
 *     return new Uint8Array(0);
 *   },
 *   onHandlerError: (error) =>
 *     new TextEncoder().encode(`error: ${(error as Error).message}`),
 * };
 * ```
 */
export interface Application<State = Record<string, unknown>> {
  /** Computes each response. */
  handler: Handler<State>;
  /**
   * Lends requests instead of giving them: the handler promises not to
   * keep `request`, or any view of its memory, past its return or the
   * settling of its promise. Requests are then views of the connection's
   * read buffer, or pooled memory for frames of 1 MiB and more, which
   * framewire reuses afterwards; a kept view would later read other bytes.
   * Saves an allocation per read (on Deno) and per large frame.
   *
   * @default {false (true for the built-in echo handler)}
   */
  zeroCopy?: boolean;
  /**
   * Called once a connection is accepted, before its first request: set
   * `context.state` here. If it throws, the connection is closed and the
   * error is reported (`onError`).
   */
  onConnection?: (context: RequestContext<State>) => void;
  /**
   * Called once when a connection has closed, with why, and the error that
   * closed it if any. Not called for connections refused before they
   * started (over `maxConnections`, a bad PROXY header).
   */
  onClose?: (
    context: RequestContext<State>,
    reason: CloseReason,
    error?: unknown,
  ) => void;
  /**
   * Called when the handler throws, rejects or returns something that is
   * not a `Uint8Array`. Returns the response to send for that request (or a
   * promise of it): the connection then stays open and later requests are
   * answered in order. Returning `undefined` closes the connection after
   * the answers before it, which is also what happens without this hook;
   * the error is then reported (`onError`). Handler timeouts
   * (`handlerTimeout`) always close.
   */
  onHandlerError?: (
    error: unknown,
    request: Uint8Array,
    context: RequestContext<State>,
  ) => Uint8Array | Promise<Uint8Array> | undefined;
}
