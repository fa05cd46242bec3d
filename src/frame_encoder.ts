/**
 * Encoding of length-prefixed frames.
 *
 * @module
 */
import { DEFAULT_MAX_FRAME_SIZE } from "./constants.ts";
import { FRAME_HEADER_SIZE } from "./_frame_header.ts";
import { FrameTooLargeError } from "./errors.ts";
import { maxFrameSizeOption } from "./_validate.ts";
import { writeFrames } from "./_outbound.ts";

/**
 * Checks a payload against a frame size limit.
 *
 * @param payload The payload about to be framed.
 * @param maxFrameSize The limit in force, at most 2^32 - 1.
 * @throws {TypeError} `payload` is not a Uint8Array.
 * @throws {FrameTooLargeError} The payload is longer than `maxFrameSize`.
 *
 * @example
 * ```ts
 * import { assertFrameSize } from "./frame_encoder.ts";
 *
 * assertFrameSize(new Uint8Array(16), 1024); // fine
 * ```
 */
export function assertFrameSize(
  payload: Uint8Array,
  maxFrameSize: number,
): void {
  if (!(payload instanceof Uint8Array)) {
    throw new TypeError(
      `Cannot encode frame: payload is ${typeof payload}, not a Uint8Array`,
    );
  }
  if (payload.length > maxFrameSize) {
    throw new FrameTooLargeError("encode", payload.length, maxFrameSize);
  }
}

/**
 * Encodes one payload as a frame: a 4-byte little-endian length, then the
 * payload, in one newly allocated buffer.
 *
 * @param payload The bytes to frame.
 * @param maxFrameSize The largest payload allowed (default 32 MiB).
 * @returns The frame's bytes.
 * @throws {FrameTooLargeError} The payload exceeds `maxFrameSize`; nothing is written.
 *
 * @example
 * ```ts
 * import { encodeFrame } from "./frame_encoder.ts";
 *
 * const frame = encodeFrame(new TextEncoder().encode("hi"));
 * console.log(frame); // Uint8Array(6) [2, 0, 0, 0, 104, 105]
 * ```
 */
export function encodeFrame(
  payload: Uint8Array,
  maxFrameSize: number = DEFAULT_MAX_FRAME_SIZE,
): Uint8Array {
  return encodeFrames([payload], maxFrameSize);
}

/**
 * Encodes many payloads into one buffer, ready for a single write. All sizes
 * are checked first, then the buffer is allocated once and filled.
 *
 * @param payloads The payloads, in the order they go on the wire.
 * @param maxFrameSize The largest payload allowed (default 32 MiB).
 * @returns The frames' bytes, back to back.
 * @throws {FrameTooLargeError} A payload exceeds `maxFrameSize`; nothing is written.
 *
 * @example
 * ```ts
 * import { encodeFrames } from "./frame_encoder.ts";
 *
 * const bytes = encodeFrames([new Uint8Array([1]), new Uint8Array(0)]);
 * console.log(bytes.length); // 9
 * ```
 */
export function encodeFrames(
  payloads: readonly Uint8Array[],
  maxFrameSize: number = DEFAULT_MAX_FRAME_SIZE,
): Uint8Array {
  const max = maxFrameSizeOption(maxFrameSize);
  let size = 0;
  for (const payload of payloads) {
    assertFrameSize(payload, max);
    size += FRAME_HEADER_SIZE + payload.length;
  }
  const out = new Uint8Array(size);
  writeFrames(out, 0, payloads, 0, payloads.length);
  return out;
}
