/**
 * The command line's event log: one line per event, as text (the default)
 * or JSON, filtered by level. Lines are formatted by the library's one
 * formatter (src/_log_format.ts), which the server's default `onError` uses
 * too.
 *
 * @module
 */
import {
  connectionClosed,
  formatJson,
  formatText,
  LOG_LEVELS,
  type LogEvent,
  type LogFields,
  type LogLevel,
} from "../_log_format.ts";
import type { RequestContext } from "../handler.ts";
import type { CliHost } from "./host.ts";

/** `"text"`: the event's text line; `"json"`: one JSON object per line. */
export type LogFormat = "text" | "json";

/**
 * Writes one line per event at or above its level. JSON lines all go to
 * standard output; text lines of info to standard output, of warnings and
 * errors to standard error. A worker's
 * lines say which worker wrote them: a `worker` field in JSON, a
 * `[worker N]` prefix in text.
 *
 * @example
 * ```ts
 * import { EventLog } from "./log.ts";
 *
 * const lines: string[] = [];
 * const print = (line: string) => lines.push(line);
 * const log = new EventLog({ print, printError: print }, { format: "json" });
 * log.info("listening", { port: 1234 });
 * console.log(JSON.parse(lines[0]).msg); // "listening"
 * ```
 */
export class EventLog {
  #host: Pick<CliHost, "print" | "printError">;
  #min: number;
  #json: boolean;
  #now: () => Date;
  #fields: LogFields | undefined;
  #prefix: string;

  /**
   * Creates a log that writes through `host`.
   *
   * @param host Prints each line (without a newline) on standard output or
   * standard error.
   * @param options `level` (default `"info"`), `format` (default `"text"`),
   * `now` (the clock, for tests) and `worker` (the worker writing).
   */
  constructor(
    host: Pick<CliHost, "print" | "printError">,
    options: {
      level?: LogLevel;
      format?: LogFormat;
      now?: () => Date;
      worker?: number;
    } = {},
  ) {
    this.#host = host;
    this.#min = LOG_LEVELS.indexOf(options.level ?? "info");
    this.#json = options.format === "json";
    this.#now = options.now ?? (() => new Date());
    const worker = options.worker;
    this.#fields = worker === undefined ? undefined : { worker };
    this.#prefix = worker === undefined ? "" : `[worker ${worker}] `;
  }

  /** Logs at `info`. */
  info(msg: string, fields?: LogFields): void {
    this.log({ level: "info", msg, fields });
  }

  /** Logs at `warn`. */
  warn(msg: string, fields?: LogFields): void {
    this.log({ level: "warn", msg, fields });
  }

  /**
   * A server `onError` that logs each closed connection with its reason
   * (see `connectionClosed` in src/_log_format.ts).
   */
  readonly connectionClosed = (
    error: unknown,
    context: RequestContext,
  ): void => this.log(connectionClosed(error, context));

  /** Logs `event` if its level is enabled. */
  log(event: LogEvent): void {
    if (LOG_LEVELS.indexOf(event.level) < this.#min) return;
    if (this.#json) {
      this.#host.print(formatJson(event, this.#now(), this.#fields));
      return;
    }
    const toStdout = event.level === "debug" || event.level === "info";
    const line = this.#prefix + formatText(event);
    if (toStdout) this.#host.print(line);
    else this.#host.printError(line);
  }
}
