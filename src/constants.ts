/**
 * Numbers of the framewire wire protocol.
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
 * The default largest payload, in bytes, a server or client accepts or sends:
 * 32 MiB.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_FRAME_SIZE } from "./constants.ts";
 *
 * console.log(DEFAULT_MAX_FRAME_SIZE); // 33554432
 * ```
 */
export const DEFAULT_MAX_FRAME_SIZE = 32 * 1024 * 1024;

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
