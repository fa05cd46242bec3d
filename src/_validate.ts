/**
 * The one check of numeric settings: the library's options and the command
 * line's flags all go through {@linkcode checkNumber}; each caller words its
 * own error.
 */
import { DEFAULT_MAX_FRAME_SIZE } from "./constants.ts";
import { MAX_FRAME_SIZE_LIMIT } from "./_frame_header.ts";

/** The longest delay `setTimeout` honours, in milliseconds (2^31 - 1). */
export const MAX_TIMEOUT = 0x7fff_ffff;

/** The values a numeric setting accepts. */
export interface NumberRange {
  /** The smallest value accepted. */
  min: number;
  /** The largest value accepted. @default {Number.MAX_SAFE_INTEGER, or Infinity with `integer: false`} */
  max?: number;
  /** Whole numbers only. @default {true} */
  integer?: boolean;
}

/**
 * Returns `value` when it is a number of the kind `range` asks for (an
 * integer unless `integer: false`; never NaN) from `range.min` to
 * `range.max`; otherwise throws the error `fail` makes, told whether the
 * value is not such a number (`"kind"`) or out of range (`"range"`).
 */
export function checkNumber(
  value: unknown,
  range: NumberRange,
  fail: (problem: "kind" | "range") => Error,
): number {
  const integer = range.integer ?? true;
  if (
    typeof value !== "number" ||
    (integer ? !Number.isInteger(value) : Number.isNaN(value))
  ) {
    throw fail("kind");
  }
  const max = range.max ?? (integer ? Number.MAX_SAFE_INTEGER : Infinity);
  if (value < range.min || value > max) throw fail("range");
  return value;
}

/** Returns `value` if it is an integer in [min, max], or `fallback` when undefined; throws otherwise. */
export function integerOption(
  name: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max: number = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  return checkNumber(
    value,
    { min, max },
    (problem) =>
      problem === "kind"
        ? new TypeError(
          `Cannot use ${name}: ${String(value)} is not an integer`,
        )
        : new RangeError(
          `Cannot use ${name}: ${value} is outside the range ${min} to ${max}`,
        ),
  );
}

/** Returns `value` if it is a number in [min, max], or `fallback` when undefined; throws otherwise. */
export function numberOption(
  name: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  return checkNumber(
    value,
    { min, max, integer: false },
    (problem) =>
      problem === "kind"
        ? new TypeError(`Cannot use ${name}: ${String(value)} is not a number`)
        : new RangeError(
          `Cannot use ${name}: ${value} is outside the range ${min} to ${max}`,
        ),
  );
}

/** Validates a `maxFrameSize` option, defaulting to 32 MiB. */
export function maxFrameSizeOption(value: number | undefined): number {
  return integerOption(
    "maxFrameSize",
    value,
    DEFAULT_MAX_FRAME_SIZE,
    0,
    MAX_FRAME_SIZE_LIMIT,
  );
}

/** A value as an error message quotes it: strings in quotes. */
function quoted(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/**
 * Validates a `port` option of `action` ("listen", "connect"): an integer
 * from `min` to 65535, or `fallback` when undefined.
 *
 * @throws {TypeError} When `value` is not a number (null, a string).
 * @throws {RangeError} When it is a number that is not such an integer.
 */
export function portOption(
  action: string,
  value: unknown,
  fallback: number,
  min: 0 | 1,
): number {
  if (value === undefined) return fallback;
  const fail = (ErrorClass: typeof TypeError) =>
    new ErrorClass(
      `Cannot ${action}: port must be an integer from ${min} to 65535, got ${
        quoted(value)
      }`,
    );
  if (typeof value !== "number") throw fail(TypeError);
  return checkNumber(value, { min, max: 65535 }, () => fail(RangeError));
}
