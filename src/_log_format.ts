/**
 * The one formatter of framewire's log lines: the server's default `onError`
 * and the command line's text and JSON event lines all go through it.
 *
 * @module
 */
import { ConnectionTimeoutError, FramewireError } from "./errors.ts";
import type { RequestContext } from "./handler.ts";

/**
 * Log levels, from most to least verbose.
 *
 * @example
 * ```ts
 * import { LOG_LEVELS } from "./_log_format.ts";
 *
 * console.log(LOG_LEVELS.indexOf("warn") > LOG_LEVELS.indexOf("info")); // true
 * ```
 */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;

/** One of {@linkcode LOG_LEVELS}: `"debug"`, `"info"`, `"warn"` or `"error"`. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Extra fields of a log event. */
export type LogFields = Record<string, string | number | boolean | undefined>;

/** One event to log. */
export interface LogEvent {
  /** How much it matters: lines below the log's level are dropped. */
  level: LogLevel;
  /** What happened, in a few words: the `msg` of a JSON line. */
  msg: string;
  /** The text line, when it says more than `msg`. */
  text?: string;
  /** Details: the fields of a JSON line, after `time`, `level` and `msg`. */
  fields?: LogFields;
}

/**
 * The event of a connection the server closed because of `error`: `warn`
 * for timeouts and protocol errors (the peer's doing), `error` for handler
 * failures. Its text line is
 * `framewire: closing connection 7 from 127.0.0.1:5000: Name: message`,
 * followed for a handler failure by the error's stack (also the `stack`
 * field).
 *
 * @example
 * ```ts
 * import { connectionClosed, formatText } from "./_log_format.ts";
 *
 * const line = formatText(connectionClosed(new Error("boom"), {
 *   connectionId: 7,
 *   remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 5000 },
 *   localAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1234 },
 *   state: {},
 * }));
 * console.log(line.split("\n")[0]); // "framewire: closing connection 7 from 127.0.0.1:5000: Error: boom"
 * ```
 */
export function connectionClosed(
  error: unknown,
  context: RequestContext<unknown>,
): LogEvent {
  const reason = error instanceof ConnectionTimeoutError
    ? `${error.reason}_timeout`
    : error instanceof FramewireError
    ? "protocol_error"
    : "handler_error";
  const peer = peerOf(context);
  const text = errorText(error);
  const line =
    `framewire: closing connection ${context.connectionId} from ${peer}: ${text}`;
  const fields: LogFields = {
    reason,
    connection: context.connectionId,
    peer,
    error: text,
  };
  // A handler's failure is the application's bug: where it happened matters.
  const stack = reason === "handler_error" ? stackOf(error) : "";
  if (stack !== "") fields.stack = stack;
  return {
    level: reason === "handler_error" ? "error" : "warn",
    msg: "connection closed",
    text: stack === "" ? line : `${line}\n${stack}`,
    fields,
  };
}

/** The text line of `event`: its text, or its message. */
export function formatText(event: LogEvent): string {
  return event.text ?? event.msg;
}

/**
 * The JSON line of `event`: one object with `time`, `level`, `msg`, then
 * `fields` (given to every line, such as `{ worker: 2 }`), then the event's
 * own fields.
 */
export function formatJson(
  event: LogEvent,
  time: Date,
  fields?: LogFields,
): string {
  return JSON.stringify({
    time: time.toISOString(),
    level: event.level,
    msg: event.msg,
    ...fields,
    ...event.fields,
  });
}

function peerOf(context: RequestContext<unknown>): string {
  const addr = context.remoteAddr;
  if (addr.transport === "unix") return `unix:${addr.hostname || "(unnamed)"}`;
  return `${formatHost(addr.hostname)}:${addr.port}`;
}

/** A host as it stands before `:port`: an IPv6 address in brackets. */
export function formatHost(hostname: string): string {
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}

/** The frames of an error's stack (the lines after its message), or "". */
function stackOf(error: unknown): string {
  if (!(error instanceof Error) || typeof error.stack !== "string") return "";
  const lines = error.stack.split("\n");
  const first = lines.findIndex((line) => /^\s+at /.test(line));
  return first === -1 ? "" : lines.slice(first).join("\n");
}

function errorText(error: unknown): string {
  return error instanceof Error
    ? `${error.name}: ${error.message}`
    : String(error);
}
