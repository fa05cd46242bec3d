/**
 * Numbers of the framewire wire protocol.
 *
 * @module
 */

export { FRAME_HEADER_SIZE, MAX_FRAME_SIZE_LIMIT } from "./_frame_header.ts";

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
