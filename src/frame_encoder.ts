/**
 * Encoding of length-prefixed frames.
 *
 * @module
 */
import { FRAME_HEADER_SIZE, framingOf } from "./_frame_header.ts";
import type { FrameFormatOption } from "./frame_format.ts";
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
 * Options of {@linkcode encodeFrame} and {@linkcode encodeFrames}; a number
 * alone is `maxFrameSize`.
 *
 * @example
 * ```ts
 * import type { FrameEncodeOptions } from "./frame_encoder.ts";
 *
 * const options: FrameEncodeOptions = { format: "u16be", maxFrameSize: 65535 };
 * ```
 */
export interface FrameEncodeOptions {
  /**
   * The frame format: a preset's name or a {@linkcode FrameFormat}. A
   * format that keeps its header (`initialBytesToStrip` 0) takes whole
   * frames, each checked and written as it is.
   *
   * @default {"u32le"}
   */
  format?: FrameFormatOption;
  /** Largest payload (or whole frame) accepted, in bytes. @default {33554432} */
  maxFrameSize?: number;
}

/** The resolved format of the encoders' options. */
function encoderFraming(options: number | FrameEncodeOptions | undefined) {
  if (options === undefined || typeof options === "number") {
    return framingOf(undefined, maxFrameSizeOption(options));
  }
  const framing = framingOf(
    options.format,
    maxFrameSizeOption(options.maxFrameSize),
  );
  if (framing.encodes === null) throw framing.unwritable("encode frame");
  return framing;
}

/**
 * Encodes one payload as a frame, in one newly allocated buffer: by default
 * a 4-byte little-endian length, then the payload.
 *
 * @param payload The bytes to frame (a whole frame, with a format that keeps its header).
 * @param options `maxFrameSize` (default 32 MiB) and `format` (default
 * `"u32le"`), or the `maxFrameSize` alone.
 * @returns The frame's bytes.
 * @throws {FrameTooLargeError} The payload exceeds `maxFrameSize` or what the
 * length field holds; nothing is written.
 * @throws {RangeError} The format cannot be written, or a whole frame is malformed.
 *
 * @example
 * ```ts
 * import { encodeFrame } from "./frame_encoder.ts";
 *
 * const frame = encodeFrame(new TextEncoder().encode("hi"));
 * console.log(frame); // Uint8Array(6) [2, 0, 0, 0, 104, 105]
 * const dns = encodeFrame(new Uint8Array(3), { format: "u16be" });
 * console.log(dns); // Uint8Array(5) [0, 3, 0, 0, 0]
 * ```
 */
export function encodeFrame(
  payload: Uint8Array,
  options?: number | FrameEncodeOptions,
): Uint8Array {
  return encodeFrames([payload], options);
}

/**
 * Encodes many payloads into one buffer, ready for a single write. All sizes
 * are checked first, then the buffer is allocated once and filled.
 *
 * @param payloads The payloads, in the order they go on the wire.
 * @param options `maxFrameSize` (default 32 MiB) and `format` (default
 * `"u32le"`), or the `maxFrameSize` alone.
 * @returns The frames' bytes, back to back.
 * @throws {FrameTooLargeError} A payload exceeds `maxFrameSize` or what the
 * length field holds; nothing is written.
 * @throws {RangeError} The format cannot be written, or a whole frame is malformed.
 *
 * @example
 * ```ts
 * import { encodeFrames } from "./frame_encoder.ts";
 *
 * const bytes = encodeFrames([new Uint8Array([1]), new Uint8Array(0)]);
 * console.log(bytes.length); // 9
 * const varints = encodeFrames([new Uint8Array(300)], { format: "varint" });
 * console.log(varints.length); // 302: a 2-byte varint, then 300 bytes
 * ```
 */
export function encodeFrames(
  payloads: readonly Uint8Array[],
  options?: number | FrameEncodeOptions,
): Uint8Array {
  const framing = encoderFraming(options);
  let size = 0;
  if (framing.isDefault) {
    const max = framing.maxFrameSize;
    for (const payload of payloads) {
      assertFrameSize(payload, max);
      size += FRAME_HEADER_SIZE + payload.length;
    }
    const out = new Uint8Array(size);
    writeFrames(out, 0, payloads, 0, payloads.length);
    return out;
  }
  for (const payload of payloads) {
    framing.checkOutgoing(payload);
    size += framing.frameSize(payload);
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const payload of payloads) {
    offset = framing.writeFrame(out, offset, payload);
  }
  return out;
}
