/**
 * The application's side of a server: the handler that turns each request
 * into its response, and what it knows of the request's connection.
 *
 * @module
 */
import type { NetAddr } from "./transport.ts";

/**
 * What a handler knows about the request's connection. One object per
 * connection, shared by all its requests.
 *
 * @example
 * ```ts
 * import type { RequestContext } from "./handler.ts";
 *
 * function who(context: RequestContext): string {
 *   return `${context.remoteAddr.hostname}:${context.remoteAddr.port}`;
 * }
 * ```
 */
export interface RequestContext {
  /** A number unique to this connection within its server. */
  readonly connectionId: number;
  /** The client's address. */
  readonly remoteAddr: NetAddr;
  /** The server's end of the connection. */
  readonly localAddr: NetAddr;
}

/**
 * Turns a request payload into its response payload. It may return the
 * response or a promise of it; responses always go out in request order.
 *
 * `request` is valid while the handler runs and, for an async handler, until
 * its promise settles; copy it (`request.slice()`) to keep it longer. The
 * returned bytes must stay unchanged until they are written.
 *
 * @example An upper-casing handler
 * ```ts
 * import type { Handler } from "./handler.ts";
 *
 * const upper: Handler = (request) =>
 *   new TextEncoder().encode(new TextDecoder().decode(request).toUpperCase());
 * ```
 */
export type Handler = (
  request: Uint8Array,
  context: RequestContext,
) => Uint8Array | Promise<Uint8Array>;
