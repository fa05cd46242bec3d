// Unsigned 32-bit integers in bytes, either byte order: byte loads and
// stores, cheaper than a DataView per buffer.

/** The unsigned 32-bit integer at `at` in `bytes`. */
export function readUint32(
  bytes: Uint8Array,
  at: number,
  little: boolean,
): number {
  // The top byte is multiplied, not shifted: `<< 24` would make values of
  // 2^31 and more negative.
  return little
    ? (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16)) +
      bytes[at + 3] * 0x1000000
    : bytes[at] * 0x1000000 +
      ((bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]);
}

/** Writes `value` (0 to 2^32 - 1) at `at` in `out`. */
export function writeUint32(
  out: Uint8Array,
  at: number,
  value: number,
  little: boolean,
): void {
  for (let i = 0; i < 4; i++) {
    out[little ? at + i : at + 3 - i] = (value >>> (8 * i)) & 0xff;
  }
}
