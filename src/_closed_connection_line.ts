/**
 * The one-line text of a connection the server closed because of an error:
 * the server's default `onError` and the command line's connection logs
 * share it.
 *
 * @module
 */
import type { RequestContext } from "./handler.ts";

/**
 * The one-line text for a connection the server closed because of `error`:
 * `framewire: closing connection 7 from 127.0.0.1:5000: Name: message`.
 *
 * @example
 * ```ts
 * import { closedConnectionLine } from "./_closed_connection_line.ts";
 *
 * const line = closedConnectionLine(new Error("boom"), {
 *   connectionId: 7,
 *   remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 5000 },
 *   localAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1234 },
 * });
 * console.log(line); // "framewire: closing connection 7 from 127.0.0.1:5000: Error: boom"
 * ```
 */
export function closedConnectionLine(
  error: unknown,
  context: RequestContext,
): string {
  return `framewire: closing connection ${context.connectionId} from ${
    peerOf(context)
  }: ${errorText(error)}`;
}

export function peerOf(context: RequestContext): string {
  const addr = context.remoteAddr;
  if (addr.transport === "unix") return `unix:${addr.hostname || "(unnamed)"}`;
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}

export function errorText(error: unknown): string {
  return error instanceof Error
    ? `${error.name}: ${error.message}`
    : String(error);
}
