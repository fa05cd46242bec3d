/**
 * How the Deno adapter reads Deno's errors: `Deno.errors` classes, the
 * `code` of OS errors, and the plain `Error` of a failed name lookup.
 *
 * @module
 */
import { codeProperty } from "../_socket_failures.ts";

/** An error's class name (`"ConnectionRefused"`), or "". */
export const errorName = (error: unknown): string =>
  error instanceof Error ? error.name : "";

/** The system error code of each `Deno.errors` class that has one. */
const CODE_OF_ERROR_CLASS: Readonly<Record<string, string>> = {
  AddrInUse: "EADDRINUSE",
  AddrNotAvailable: "EADDRNOTAVAIL",
  ConnectionAborted: "ECONNABORTED",
  ConnectionRefused: "ECONNREFUSED",
  ConnectionReset: "ECONNRESET",
  NetworkUnreachable: "ENETUNREACH",
  NotCapable: "EACCES", // refused by Deno's permissions (no --allow-net)
  NotFound: "ENOENT",
  PermissionDenied: "EACCES",
  TimedOut: "ETIMEDOUT",
};

/**
 * A Deno error's system code: its `code` (OS errors have one), its class,
 * or, for a failed name lookup (a plain `Error`, Deno 2.9.6), its message.
 */
export function denoErrorCode(error: unknown): string | null {
  const code = codeProperty(error) ?? CODE_OF_ERROR_CLASS[errorName(error)];
  if (code !== undefined) return code;
  const message = error instanceof Error ? error.message : "";
  if (!message.startsWith("failed to lookup address information")) return null;
  return /temporary failure/i.test(message) ? "EAI_AGAIN" : "ENOTFOUND";
}
