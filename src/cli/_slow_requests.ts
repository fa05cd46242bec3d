/**
 * `serve --slow FRACTION:DURATION` and `bench --slow FRACTION`: which
 * requests the demo echo answers late. The choice is made by a hash of the
 * request's bytes, in {@linkcode isSlowRequest} alone, so that the server
 * and a load tester that knows FRACTION agree on it without talking: each
 * distinct request is slow with probability FRACTION, and identical
 * requests share their fate.
 *
 * @module
 */
import type { Handler } from "../handler.ts";
import { MAX_TIMEOUT } from "../_validate.ts";
import { numberFlag, parseDuration, UsageError } from "./args.ts";

/** 2^32: a 32-bit hash is below `fraction * TWO_32` with probability `fraction`. */
const TWO_32 = 0x1_0000_0000;

/**
 * Whether the demo echo of `serve --slow FRACTION:...` answers this request
 * late: the FNV-1a hash of `bytes[start..end)` (the request as handed to the
 * handler), mixed by murmur3's 32-bit finalizer, is below
 * `fraction * 2^32`.
 */
export function isSlowRequest(
  bytes: Uint8Array,
  fraction: number,
  start = 0,
  end: number = bytes.length,
): boolean {
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    hash = Math.imul(hash ^ bytes[i], 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return (hash >>> 0) < fraction * TWO_32;
}

/** What `serve --slow` asks for. */
export interface SlowEcho {
  /** The share of distinct requests answered late, 0 to 1. */
  fraction: number;
  /** How long each of them waits, in milliseconds. */
  delay: number;
}

/** A fraction from 0 to 1, as `--name` takes it. */
export function fractionFlag(name: string, text: string): number {
  return numberFlag(
    name,
    text,
    { min: 0, max: 1, integer: false },
    "a fraction from 0 to 1 (0.01 is one request in 100)",
  );
}

/**
 * Parses `serve --slow FRACTION:DURATION`, such as `0.01:20ms`: DURATION is
 * milliseconds, or a number with ms or s (as every duration flag takes it).
 *
 * @throws {UsageError} Naming `--slow` and what it expects.
 */
export function parseSlowFlag(text: string): SlowEcho {
  const colon = text.indexOf(":");
  if (colon === -1) {
    throw new UsageError(
      `option '--slow' expects FRACTION:DURATION, such as 0.01:20ms, got '${text}'`,
    );
  }
  const fraction = fractionFlag("slow", text.slice(0, colon));
  const duration = text.slice(colon + 1);
  const delay = parseDuration("slow", duration);
  if (delay > MAX_TIMEOUT) {
    throw new UsageError(
      `option '--slow' expects a DURATION of at most ${MAX_TIMEOUT} ms, got '${duration}'`,
    );
  }
  return { fraction, delay };
}

/**
 * The demo echo of `serve --slow`: a request {@linkcode isSlowRequest}
 * picks is answered with a copy of itself after `delay` ms, every other one
 * at once with itself. It keeps no view of a request (so it may be served
 * with `zeroCopy: true`), and its promises let a server that answers out of
 * order send the rest first.
 */
export function slowEchoHandler({ fraction, delay }: SlowEcho): Handler {
  return (request) => {
    if (!isSlowRequest(request, fraction)) return request;
    const copy = request.slice();
    return new Promise((resolve) => setTimeout(() => resolve(copy), delay));
  };
}
