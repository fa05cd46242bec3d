/**
 * The frame header: the one place that knows its layout (a 4-byte unsigned
 * little-endian payload length). Every encoder, decoder and writer goes
 * through it.
 *
 * @module
 */

/**
 * Bytes in a frame header: the payload length as an unsigned 32-bit
 * little-endian integer.
 *
 * @example
 * ```ts
 * import { FRAME_HEADER_SIZE } from "./constants.ts";
 *
 * const wireBytes = FRAME_HEADER_SIZE + 16; // a 16-byte payload takes 20 bytes
 * ```
 */
export const FRAME_HEADER_SIZE = 4;

/**
 * The largest length a 4-byte header can carry (2^32 - 1): no `maxFrameSize`
 * may exceed it.
 *
 * @example
 * ```ts
 * import { MAX_FRAME_SIZE_LIMIT } from "./constants.ts";
 *
 * console.log(MAX_FRAME_SIZE_LIMIT); // 4294967295
 * ```
 */
export const MAX_FRAME_SIZE_LIMIT = 0xffff_ffff;

/**
 * Writes the header of a `length`-byte payload into `out` at `offset`, which
 * must have {@linkcode FRAME_HEADER_SIZE} bytes of room. Byte stores: cheaper
 * than a DataView per batch buffer.
 *
 * @returns The offset after the header, where the payload goes.
 */
export function writeFrameHeader(
  out: Uint8Array,
  offset: number,
  length: number,
): number {
  out[offset] = length & 0xff;
  out[offset + 1] = (length >>> 8) & 0xff;
  out[offset + 2] = (length >>> 16) & 0xff;
  out[offset + 3] = (length >>> 24) & 0xff;
  return offset + FRAME_HEADER_SIZE;
}

/**
 * Reads the payload length from the header at `offset` in `bytes`, which
 * must hold {@linkcode FRAME_HEADER_SIZE} bytes from there. Small enough for
 * V8 and JavaScriptCore to inline into the decoder's loop.
 *
 * @returns The payload length, 0 to 2^32 - 1.
 */
export function readFrameLength(bytes: Uint8Array, offset: number): number {
  // The top byte is multiplied, not shifted: `<< 24` would turn lengths of
  // 2 GiB and more negative.
  return (bytes[offset] | (bytes[offset + 1] << 8) |
    (bytes[offset + 2] << 16)) + bytes[offset + 3] * 0x1000000;
}
