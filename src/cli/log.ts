/**
 * One-line event logs for the command line server: text or JSON, filtered
 * by level.
 *
 * @module
 */
import { ConnectionTimeoutError, FramewireError } from "../errors.ts";
import { errorText, peerOf } from "../_closed_connection_line.ts";
import type { RequestContext } from "../handler.ts";

/** Log levels, from most to least verbose. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;

/** One of {@linkcode LOG_LEVELS}. */
export type LogLevel = typeof LOG_LEVELS[number];

/** `"text"`: `LEVEL message key=value ...`; `"json"`: one JSON object per line. */
export type LogFormat = "text" | "json";

/** Extra fields of a log event. */
export type LogFields = Record<string, string | number | boolean | undefined>;

/**
 * Writes one line per event at or above its level.
 *
 * @example
 * ```ts
 * import { Logger } from "./log.ts";
 *
 * const lines: string[] = [];
 * const log = new Logger((line) => lines.push(line), { level: "info", format: "json" });
 * log.info("listening", { port: 1234 });
 * log.debug("not written");
 * console.log(JSON.parse(lines[0]).msg); // "listening"
 * ```
 */
export class Logger {
  #write: (line: string) => void;
  #min: number;
  #format: LogFormat;
  #now: () => Date;
  #fields: LogFields;

  /**
   * @param write Receives each line, without a newline.
   * @param options `level` (default `"info"`), `format` (default `"text"`),
   * `now` (the clock, for tests) and `fields` (added to every line, such as
   * `{ worker: 2 }`).
   */
  constructor(
    write: (line: string) => void,
    options: {
      level?: LogLevel;
      format?: LogFormat;
      now?: () => Date;
      fields?: LogFields;
    } = {},
  ) {
    const level = options.level ?? "info";
    if (!LOG_LEVELS.includes(level)) {
      throw new RangeError(
        `Cannot create logger: level '${level}' is not one of ${
          LOG_LEVELS.join(", ")
        }`,
      );
    }
    const format = options.format ?? "text";
    if (format !== "text" && format !== "json") {
      throw new RangeError(
        `Cannot create logger: format '${format}' is not text or json`,
      );
    }
    this.#write = write;
    this.#min = LOG_LEVELS.indexOf(level);
    this.#format = format;
    this.#now = options.now ?? (() => new Date());
    this.#fields = options.fields ?? {};
  }

  /** Logs at `debug`. */
  debug(msg: string, fields?: LogFields): void {
    this.log("debug", msg, fields);
  }

  /** Logs at `info`. */
  info(msg: string, fields?: LogFields): void {
    this.log("info", msg, fields);
  }

  /** Logs at `warn`. */
  warn(msg: string, fields?: LogFields): void {
    this.log("warn", msg, fields);
  }

  /** Logs at `error`. */
  error(msg: string, fields?: LogFields): void {
    this.log("error", msg, fields);
  }

  /** Logs `msg` with `fields` if `level` is enabled. */
  log(level: LogLevel, msg: string, eventFields: LogFields = {}): void {
    if (LOG_LEVELS.indexOf(level) < this.#min) return;
    const fields = { ...this.#fields, ...eventFields };
    const time = this.#now().toISOString();
    if (this.#format === "json") {
      this.#write(JSON.stringify({ time, level, msg, ...fields }));
      return;
    }
    let line = `${time} ${level.toUpperCase()} ${msg}`;
    for (const [key, value] of Object.entries(fields)) {
      if (value === undefined) continue;
      const text = String(value);
      line += ` ${key}=${/[\s"=]/.test(text) ? JSON.stringify(text) : text}`;
    }
    this.#write(line);
  }

  /**
   * A server `onError` that logs each closed connection with its reason:
   * `warn` for timeouts and protocol errors (the peer's doing), `error` for
   * handler failures.
   *
   * @returns A function to pass as `ServerOptions.onError`.
   */
  connectionErrors(): (error: unknown, context: RequestContext) => void {
    return (error, context) => {
      const reason = error instanceof ConnectionTimeoutError
        ? `${error.reason}_timeout`
        : error instanceof FramewireError
        ? "protocol_error"
        : "handler_error";
      this.log(
        reason === "handler_error" ? "error" : "warn",
        "connection closed",
        {
          reason,
          connection: context.connectionId,
          peer: peerOf(context),
          error: errorText(error),
        },
      );
    };
  }
}
