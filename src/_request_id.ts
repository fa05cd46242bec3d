/**
 * The request id field of a frame format, resolved and checked: where it
 * lies in the frame as handed out, how it is read and written. Servers copy
 * ids exactly (an 8-byte id as its two 32-bit halves); clients assign ids
 * below {@linkcode RequestId.space} and handle them as numbers.
 *
 * @module
 */
import type { RequestIdField } from "./frame_format.ts";
import { ProtocolError } from "./errors.ts";
import { readUint32, writeUint32 } from "./_uint32.ts";

/** The options a {@linkcode RequestIdField} may have. */
const ID_KEYS = new Set(["offset", "length", "byteOrder"]);

const TWO_32 = 0x1_0000_0000;

/** A frame format's request id field. */
export class RequestId {
  /** Bytes before the id in the frame as handed out. */
  readonly offset: number;
  /** 2, 4 or 8. */
  readonly width: 2 | 4 | 8;
  readonly littleEndian: boolean;
  /** The offset just after the id: no frame handed out may be shorter. */
  readonly end: number;
  /**
   * How many ids a client may assign, 0 to `space - 1`: every value of a 2-
   * or 4-byte field, up to 2^53 for an 8-byte one (JavaScript numbers).
   */
  readonly space: number;

  /**
   * @throws {TypeError} `field` is not an object, an option has the wrong type or is unknown.
   * @throws {RangeError} An option is out of range.
   */
  constructor(field: RequestIdField) {
    if (typeof field !== "object" || field === null || Array.isArray(field)) {
      throw new TypeError(
        `Invalid frame format: requestId must be an object, got ${
          field === null ? "null" : typeof field
        }`,
      );
    }
    for (const key of Object.keys(field)) {
      if (!ID_KEYS.has(key)) {
        throw new TypeError(
          `Invalid frame format: unknown option requestId.${key}`,
        );
      }
    }
    const offset = field.offset === undefined ? 0 : field.offset;
    if (typeof offset !== "number" || !Number.isInteger(offset)) {
      throw new TypeError(
        `Invalid frame format: requestId.offset must be an integer, got ${
          String(offset)
        }`,
      );
    }
    if (offset < 0 || offset > 0xffff) {
      throw new RangeError(
        `Invalid frame format: requestId.offset must be from 0 to 65535, got ${offset}`,
      );
    }
    const width = field.length;
    if (width !== 2 && width !== 4 && width !== 8) {
      throw new RangeError(
        `Invalid frame format: requestId.length must be 2, 4 or 8, got ${
          JSON.stringify(width) ?? String(width)
        }`,
      );
    }
    const order = field.byteOrder;
    if (order !== "little" && order !== "big") {
      throw new RangeError(
        `Invalid frame format: requestId.byteOrder must be "little" or "big", got ${
          JSON.stringify(order) ?? String(order)
        }`,
      );
    }
    this.offset = offset;
    this.width = width;
    this.littleEndian = order === "little";
    this.end = offset + width;
    this.space = width === 2
      ? 0x1_0000
      : width === 4
      ? TWO_32
      : Number.MAX_SAFE_INTEGER + 1;
  }

  /**
   * The error for a frame of `length` bytes, as handed out, too short to
   * hold the id; `action` says what could not be done ("read request id").
   */
  tooShort(action: string, length: number): ProtocolError {
    return new ProtocolError(
      `Cannot ${action}: a frame of ${length} bytes ends before its id field (${this.width} bytes at offset ${this.offset})`,
    );
  }

  /** The id of the frame handed out at `at` in `bytes` (the whole id, or the low 32 bits of an 8-byte one). */
  low(bytes: Uint8Array, at: number): number {
    const i = at + this.offset;
    if (this.width === 2) {
      return this.littleEndian
        ? bytes[i] | (bytes[i + 1] << 8)
        : (bytes[i] << 8) | bytes[i + 1];
    }
    return this.littleEndian
      ? readUint32(bytes, i, true)
      : readUint32(bytes, this.width === 8 ? i + 4 : i, false);
  }

  /** The high 32 bits of an 8-byte id of the frame handed out at `at`; 0 for a narrower one. */
  high(bytes: Uint8Array, at: number): number {
    if (this.width !== 8) return 0;
    const i = at + this.offset;
    return this.littleEndian
      ? readUint32(bytes, i + 4, true)
      : readUint32(bytes, i, false);
  }

  /**
   * The id of the frame handed out at `at` as one number: exact below 2^53,
   * which every id a client assigns is.
   */
  read(bytes: Uint8Array, at: number): number {
    const low = this.low(bytes, at);
    return this.width === 8 ? this.high(bytes, at) * TWO_32 + low : low;
  }

  /** Writes an id as its halves into the frame handed out at `at` in `out`. */
  writeHalves(out: Uint8Array, at: number, low: number, high: number): void {
    const i = at + this.offset;
    const little = this.littleEndian;
    if (this.width === 2) {
      out[little ? i : i + 1] = low & 0xff;
      out[little ? i + 1 : i] = (low >>> 8) & 0xff;
    } else if (this.width === 4) {
      writeUint32(out, i, low, little);
    } else {
      writeUint32(out, little ? i : i + 4, low, little);
      writeUint32(out, little ? i + 4 : i, high, little);
    }
  }

  /** Writes `id` (below {@linkcode space}) into the frame handed out at `at` in `out`. */
  write(out: Uint8Array, at: number, id: number): void {
    this.writeHalves(out, at, idLow(id), idHigh(id));
  }
}

// Ids of 2 and 4 bytes are below 2^32: no division for them.

/** The low 32 bits of an id a client assigned (below 2^53). */
export function idLow(id: number): number {
  return id < TWO_32 ? id : id % TWO_32;
}

/** The high bits of an id a client assigned (below 2^53), above the low 32. */
export function idHigh(id: number): number {
  return id < TWO_32 ? 0 : Math.floor(id / TWO_32);
}
