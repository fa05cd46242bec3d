import { DEFAULT_MAX_FRAME_SIZE, MAX_FRAME_SIZE_LIMIT } from "../constants.ts";
import { checkNumber, type NumberRange } from "../_validate.ts";
import { type FrameFormatOption, parseFrameFormat } from "../frame_format.ts";
import { type Framing, framingOf } from "../_frame_header.ts";

/**
 * A command-line usage error: printed, with the hint to run `--help` unless
 * `options.hint` is false; exit code 2.
 */
export class UsageError extends Error {
  /** Whether the `--help` hint follows the message. */
  readonly hint: boolean;

  constructor(message: string, options?: ErrorOptions & { hint?: boolean }) {
    super(message, options);
    this.name = "UsageError";
    this.hint = options?.hint ?? true;
  }
}

/** Flags a subcommand accepts: name to whether it takes a value. */
export type FlagSpec = Record<string, "value" | "boolean">;

/** Parsed arguments: flag values by name, and positional arguments. */
export interface ParsedArgs {
  flags: Record<string, string | true>;
  positional: string[];
}

/**
 * Parses `--name value`, `--name=value`, one-letter aliases from `short`
 * (`-c 50` for `--connections 50`), `-h` and positional arguments; `--` ends
 * flags.
 */
export function parseArgs(
  args: readonly string[],
  spec: FlagSpec,
  short: Record<string, string> = {},
): ParsedArgs {
  const flags: Record<string, string | true> = {};
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    let arg = args[i];
    if (/^-[A-Za-z]$/.test(arg) && short[arg[1]] !== undefined) {
      arg = `--${short[arg[1]]}`;
    }
    if (arg === "--") {
      positional.push(...args.slice(i + 1));
      break;
    }
    if (arg === "-h") {
      flags.help = true;
      continue;
    }
    if (!arg.startsWith("--") || arg.length === 2) {
      if (arg.startsWith("-") && arg.length > 1) {
        throw new UsageError(`unknown option '${arg}'`);
      }
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const kind = name === "help" ? "boolean" : spec[name];
    if (kind === undefined) throw new UsageError(`unknown option '--${name}'`);
    if (kind === "boolean") {
      if (eq !== -1) throw new UsageError(`option '--${name}' takes no value`);
      flags[name] = true;
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else value = args[++i];
    if (value === undefined || value === "") {
      throw new UsageError(`option '--${name}' needs a value`);
    }
    flags[name] = value;
  }
  return { flags, positional };
}

const SIZE_SUFFIX: Record<string, number> = {
  "": 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
};

/** Parses a non-negative integer with an optional k/m/g (binary) suffix. */
export function parseSize(name: string, text: string, max: number): number {
  const match = /^(\d+)([kmg]?)(?:i?b)?$/i.exec(text.trim());
  if (!match) {
    throw new UsageError(
      `option '--${name}' expects a size in bytes, got '${text}'`,
    );
  }
  const value = Number(match[1]) * SIZE_SUFFIX[match[2].toLowerCase()];
  return checkNumber(
    value,
    { min: 0, max },
    () =>
      new UsageError(`option '--${name}' must be at most ${max}, got ${value}`),
  );
}

/**
 * A numeric flag's value: `text` as a whole number (digits only) or, with
 * `integer: false`, any decimal number, checked against `range` by the
 * library's one numeric check.
 *
 * @param expects What the flag takes, for the usage error ("a port from 0
 * to 65535").
 */
export function numberFlag(
  name: string,
  text: string,
  range: NumberRange,
  expects: string,
): number {
  const value = range.integer === false
    ? (text.trim() === "" ? NaN : Number(text))
    : (/^\d+$/.test(text) ? Number(text) : NaN);
  return checkNumber(
    value,
    range,
    () =>
      new UsageError(`option '--${name}' expects ${expects}, got '${text}'`),
  );
}

/** Parses a port number, 0 to 65535. */
export function parsePort(text: string, name = "port"): number {
  return numberFlag(
    name,
    text,
    { min: 0, max: 65535 },
    "a port from 0 to 65535",
  );
}

/** The `--port` flag's value, or 1234. */
export function portFlag(flags: ParsedArgs["flags"]): number {
  return typeof flags.port === "string" ? parsePort(flags.port) : 1234;
}

/** The `--max-frame-size` flag's value, or 32 MiB. */
export function maxFrameSizeFlag(flags: ParsedArgs["flags"]): number {
  const text = flags["max-frame-size"];
  return typeof text === "string"
    ? parseSize("max-frame-size", text, MAX_FRAME_SIZE_LIMIT)
    : DEFAULT_MAX_FRAME_SIZE;
}

const DURATION_UNIT: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
};

/**
 * Parses `--name`'s duration: a number of milliseconds, or with an ms/s/m
 * suffix.
 *
 * @throws {UsageError} Naming the option and what it expects.
 */
export function parseDuration(name: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!match) {
    throw new UsageError(
      `option '--${name}' expects a duration such as 500ms, 30s or 0, got '${text}'`,
    );
  }
  return Math.round(Number(match[1]) * DURATION_UNIT[match[2] ?? "ms"]);
}

/** A duration flag's value in milliseconds, or undefined when absent. */
export function durationFlag(
  flags: ParsedArgs["flags"],
  name: string,
): number | undefined {
  const text = flags[name];
  return typeof text === "string" ? parseDuration(name, text) : undefined;
}

/** Flags of every subcommand that talks to an address. */
export const ADDRESS_FLAGS: FlagSpec = {
  host: "value",
  port: "value",
  "max-frame-size": "value",
};

/** The `--framing` flag of every subcommand that reads and writes frames. */
export const FRAMING_FLAGS: FlagSpec = { framing: "value" };

/**
 * The `--framing` flag's frame format (a preset's name or a JSON
 * `FrameFormat`), or undefined when absent: checked with `maxFrameSize`, and
 * that frames of it can be written, as the server, the client and the load
 * tester all do.
 *
 * @throws {UsageError} Naming `--framing` and what is wrong.
 */
export function framingFlag(
  flags: ParsedArgs["flags"],
  maxFrameSize: number,
): FrameFormatOption | undefined {
  const text = flags.framing;
  if (typeof text !== "string") return undefined;
  let format: FrameFormatOption;
  let framing: Framing;
  try {
    format = parseFrameFormat(text);
    framing = framingOf(format, maxFrameSize);
  } catch (error) {
    throw new UsageError(`option '--framing': ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (framing.encodes === null) {
    // Framing's own reason, without its "Cannot <action>: ".
    const reason = framing.unwritable("use it").message.replace(/^.*?: /, "");
    throw new UsageError(`option '--framing': Invalid frame format: ${reason}`);
  }
  return format;
}
