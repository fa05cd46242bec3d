import { DEFAULT_MAX_FRAME_SIZE } from "./constants.ts";
import { MAX_FRAME_SIZE_LIMIT } from "./_frame_header.ts";

/** Returns `value` if it is an integer in [min, max], or `fallback` when undefined; throws otherwise. */
export function integerOption(
  name: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max: number = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new TypeError(
      `Cannot use ${name}: ${String(value)} is not an integer`,
    );
  }
  if (value < min || value > max) {
    throw new RangeError(
      `Cannot use ${name}: ${value} is outside the range ${min} to ${max}`,
    );
  }
  return value;
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
