/**
 * The frame header: the one place that knows its layout. framewire's own
 * (a 4-byte unsigned little-endian payload length) has fast paths of its
 * own; {@linkcode Framing} reads and writes the headers of every
 * {@linkcode FrameFormat}. Every encoder, decoder and writer goes through
 * it.
 *
 * @module
 */
import {
  FRAME_FORMATS,
  type FrameFormat,
  type FrameFormatName,
  type FrameFormatOption,
} from "./frame_format.ts";
import {
  DrainNoticeError,
  FrameTooLargeError,
  ProtocolError,
} from "./errors.ts";
import { RequestId } from "./_request_id.ts";
import { readUint32 } from "./_uint32.ts";

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

/** The largest value each fixed length field width holds. */
const FIELD_MAX: Readonly<Record<number, number>> = {
  1: 0xff,
  2: 0xffff,
  3: 0xff_ffff,
  4: 0xffff_ffff,
  8: Number.MAX_SAFE_INTEGER,
};

/** The options a {@linkcode FrameFormat} may have. */
const FORMAT_KEYS = new Set([
  "lengthFieldOffset",
  "lengthFieldLength",
  "byteOrder",
  "lengthAdjustment",
  "initialBytesToStrip",
  "requestId",
]);

/** Bytes of the unsigned LEB128 varint of `value`. */
export function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    size++;
  }
  return size;
}

/** `value` as an error message quotes it. */
function shown(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/** A whole-number option of a format, from `min` to `max`. */
function formatInteger(
  format: FrameFormat,
  key: keyof FrameFormat,
  fallback: number,
  min: number,
  max: number,
): number {
  const value = format[key];
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new TypeError(
      `Invalid frame format: ${key} must be an integer, got ${shown(value)}`,
    );
  }
  if (value < min || value > max) {
    throw new RangeError(
      `Invalid frame format: ${key} must be from ${min} to ${max}, got ${value}`,
    );
  }
  return value;
}

/**
 * A frame format resolved and checked, with the `maxFrameSize` it is used
 * with: the one place that reads and writes the headers of every format.
 * The default format (`u32le`, header stripped) also has the fast paths of
 * {@linkcode readFrameLength} and {@linkcode writeFrameHeader}, which code
 * on the hot path uses when {@linkcode Framing.isDefault} is true.
 */
export class Framing {
  /** The preset's name, or `"custom"`. */
  readonly name: string;
  /** framewire's own format: a u32 little-endian length, then the payload. */
  readonly isDefault: boolean;
  readonly maxFrameSize: number;
  /** Bytes before the length field. */
  readonly offset: number;
  /** The length field's width in bytes; 0 for a varint. */
  readonly width: number;
  readonly littleEndian: boolean;
  readonly adjustment: number;
  /** Bytes stripped from each frame; -1: its header, whatever its length. */
  readonly strip: number;
  /** The most header bytes a frame may need before its length is known. */
  readonly maxHeader: number;
  /** The most bytes a varint length field may take with this maxFrameSize. */
  readonly maxVarintBytes: number;
  /**
   * How frames are written: `"header"` (a header is made for each payload),
   * `"whole"` (the payload is a whole frame, checked and sent as it is) or
   * null (the format cannot be written).
   */
  readonly encodes: "header" | "whole" | null;
  /** The request id field, or null: frames are then matched by order. */
  readonly id: RequestId | null;
  /**
   * The drain notice of this format with this maxFrameSize: the header of a
   * frame whose length field holds its largest value (`lengthFieldOffset`
   * zero bytes, then the field's bytes all 0xff), which no frame within
   * maxFrameSize can have. Null where that value is a frame's (a varint, or
   * a field no wider than maxFrameSize needs).
   */
  readonly drainNotice: Uint8Array | null;
  /** The length field's value in {@linkcode drainNotice}, or -1. */
  readonly noticeValue: number;
  /** Set by {@linkcode frameEnd}: where the handed-out part of the frame starts. */
  start = 0;
  /** Set by {@linkcode frameEnd}: where the frame's header ends. */
  headerEnd = 0;

  /**
   * Resolves `format` (a preset's name or options; default `u32le`).
   *
   * @throws {TypeError} An option has the wrong type, or is unknown.
   * @throws {RangeError} An option is out of range.
   */
  constructor(format: FrameFormatOption | undefined, maxFrameSize: number) {
    let name = "custom";
    if (format === undefined) format = "u32le";
    if (typeof format === "string") {
      if (!Object.hasOwn(FRAME_FORMATS, format)) {
        throw new RangeError(
          `Invalid frame format: ${JSON.stringify(format)} is not a preset (${
            Object.keys(FRAME_FORMATS).join(", ")
          })`,
        );
      }
      name = format;
      format = FRAME_FORMATS[format as FrameFormatName];
    } else if (typeof format !== "object" || format === null) {
      throw new TypeError(
        `Invalid frame format: ${
          shown(format)
        } is not a preset's name or an object`,
      );
    }
    for (const key of Object.keys(format)) {
      if (!FORMAT_KEYS.has(key)) {
        throw new TypeError(`Invalid frame format: unknown option ${key}`);
      }
    }
    const field = format.lengthFieldLength ?? 4;
    if (field !== "varint" && !Object.hasOwn(FIELD_MAX, String(field))) {
      throw new RangeError(
        `Invalid frame format: lengthFieldLength must be 1, 2, 3, 4, 8 or "varint", got ${
          shown(field)
        }`,
      );
    }
    const order = format.byteOrder;
    if (order !== undefined && order !== "little" && order !== "big") {
      throw new RangeError(
        `Invalid frame format: byteOrder must be "little" or "big", got ${
          shown(order)
        }`,
      );
    }
    if (order === undefined && typeof field === "number" && field > 1) {
      throw new TypeError(
        `Invalid frame format: byteOrder is required with a ${field}-byte length field ("little" or "big")`,
      );
    }
    this.maxFrameSize = maxFrameSize;
    this.offset = formatInteger(format, "lengthFieldOffset", 0, 0, 0xffff);
    this.width = field === "varint" ? 0 : field;
    this.littleEndian = order !== "big";
    this.adjustment = formatInteger(
      format,
      "lengthAdjustment",
      0,
      -MAX_FRAME_SIZE_LIMIT,
      MAX_FRAME_SIZE_LIMIT,
    );
    const strip = formatInteger(
      format,
      "initialBytesToStrip",
      -1,
      0,
      MAX_FRAME_SIZE_LIMIT,
    );
    // A fixed header stripped by number is the same as stripped by default.
    this.strip = strip === this.offset + this.width && this.width > 0
      ? -1
      : strip;
    // The largest field value that can pass the maxFrameSize check.
    const largest = Math.max(
      0,
      maxFrameSize - this.adjustment + Math.max(this.strip, 0),
    );
    this.maxVarintBytes = varintSize(largest);
    this.maxHeader = this.offset +
      (this.width > 0 ? this.width : this.maxVarintBytes);
    this.encodes = this.strip === 0
      ? "whole"
      : this.strip === -1 && this.offset === 0
      ? "header"
      : null;
    this.id = format.requestId === undefined
      ? null
      : new RequestId(format.requestId);
    this.noticeValue = this.#noticeValue();
    this.drainNotice = this.noticeValue === -1
      ? null
      : new Uint8Array(this.offset + this.width).fill(0xff, this.offset);
    this.isDefault = this.width === 4 && this.littleEndian &&
      this.offset === 0 && this.adjustment === 0 && this.strip === -1 &&
      this.id === null;
    if (this.isDefault) name = "u32le";
    this.name = name;
  }

  /** The field value of the drain notice, or -1 when a frame may have it. */
  #noticeValue(): number {
    const width = this.width;
    if (width === 0) return -1;
    // An 8-byte field of all ones is above Number.MAX_SAFE_INTEGER: never a length.
    if (width === 8) return Infinity;
    const value = FIELD_MAX[width];
    const header = this.offset + width;
    const handedOut = value + this.adjustment +
      (this.strip === -1 ? 0 : header - this.strip);
    return handedOut > this.maxFrameSize ? value : -1;
  }

  /**
   * Reads the header of the frame that starts at `at` in `bytes`, whose
   * bytes end at `end`, and checks it. Returns rather than throws, so the
   * decoders' loops need no `try`.
   *
   * @returns The offset just after the frame (it may lie past `end`: the
   * frame continues in later bytes); -1 when its header is not complete
   * before `end`; -2 when the header is malformed or the frame, as handed
   * out, exceeds maxFrameSize: {@linkcode error} says why. Sets
   * {@linkcode start} and {@linkcode headerEnd}.
   */
  frameEnd(bytes: Uint8Array, at: number, end: number): number {
    const fieldAt = at + this.offset;
    const width = this.width;
    let value: number;
    let headerEnd: number;
    if (width === 0) {
      // A varint: one byte for lengths under 128, the common case.
      if (fieldAt >= end) return -1;
      value = bytes[fieldAt];
      headerEnd = fieldAt + 1;
      if (value >= 0x80) {
        headerEnd = this.#varint(bytes, fieldAt, end);
        if (headerEnd < 0) return headerEnd;
        value = this.#value;
      }
    } else {
      headerEnd = fieldAt + width;
      if (headerEnd > end) return -1;
      if (width === 2) {
        value = this.littleEndian
          ? bytes[fieldAt] | (bytes[fieldAt + 1] << 8)
          : (bytes[fieldAt] << 8) | bytes[fieldAt + 1];
      } else if (width === 4) {
        value = readUint32(bytes, fieldAt, this.littleEndian);
      } else {
        value = this.#readWide(bytes, fieldAt);
        if (value < 0) return value;
      }
    }
    const body = value + this.adjustment;
    if (body < 0) {
      return this.#fail(
        `Cannot decode frame: length field ${value} with lengthAdjustment ${this.adjustment} gives ${body} bytes`,
      );
    }
    const strip = this.strip === -1 ? headerEnd - at : this.strip;
    // Small numbers first: a body near 2^53 stays exact.
    const handedOut = headerEnd - at - strip + body;
    if (handedOut > this.maxFrameSize || handedOut < 0) {
      if (value === this.noticeValue) return this.#notice();
      return this.#refuse(handedOut, strip, headerEnd - at + body);
    }
    this.start = at + strip;
    this.headerEnd = headerEnd;
    return this.start + handedOut;
  }

  /** Set by {@linkcode frameEnd} when it returns -2: why the header was refused. */
  error: ProtocolError | null = null;
  /** The value of the varint `#varint()` read last. */
  #value = 0;

  /**
   * Reads a 1-, 3- or 8-byte field at `at` (kept out of `frameEnd()` so that
   * it stays small enough to inline), or returns -2 for an 8-byte value
   * above Number.MAX_SAFE_INTEGER.
   */
  #readWide(bytes: Uint8Array, at: number): number {
    const width = this.width;
    const little = this.littleEndian;
    if (width === 8) {
      const high = little
        ? readUint32(bytes, at + 4, true)
        : readUint32(bytes, at, false);
      if (high > 0x1f_ffff) {
        if (high === 0xffff_ffff && this.#allOnes(bytes, at)) {
          return this.#notice();
        }
        return this.#fail(
          "Cannot decode frame: 8-byte length field exceeds Number.MAX_SAFE_INTEGER",
        );
      }
      return high * 0x1_0000_0000 +
        (little
          ? readUint32(bytes, at, true)
          : readUint32(bytes, at + 4, false));
    }
    let value = 0;
    for (let i = 0; i < width; i++) {
      value = value * 0x100 + bytes[little ? at + width - 1 - i : at + i];
    }
    return value;
  }

  /** `frameEnd()`'s -2 for a frame over maxFrameSize, or one shorter than it strips. */
  #refuse(handedOut: number, strip: number, frameLength: number): number {
    if (handedOut < 0) {
      return this.#fail(
        `Cannot decode frame: initialBytesToStrip ${strip} exceeds the frame's ${frameLength} bytes`,
      );
    }
    this.error = new FrameTooLargeError("decode", handedOut, this.maxFrameSize);
    return -2;
  }

  /** Returns -2 with {@linkcode error} set to a DrainNoticeError. */
  #notice(): number {
    this.error = new DrainNoticeError();
    return -2;
  }

  /** Whether the 8-byte field at `at` is all ones. */
  #allOnes(bytes: Uint8Array, at: number): boolean {
    for (let i = at; i < at + 8; i++) if (bytes[i] !== 0xff) return false;
    return true;
  }

  /**
   * The error of a default-format header that declares `length` bytes, over
   * maxFrameSize: a FrameTooLargeError, or a DrainNoticeError.
   */
  tooLarge(length: number): ProtocolError {
    return length === this.noticeValue
      ? new DrainNoticeError()
      : new FrameTooLargeError("decode", length, this.maxFrameSize);
  }

  /** Returns -2 with {@linkcode error} set to a ProtocolError of `message`. */
  #fail(message: string): number {
    this.error = new ProtocolError(message);
    return -2;
  }

  /**
   * Reads a varint of two bytes or more at `at`: where it ends (its value
   * in `#value`), -1 when it continues past `end`, -2 when it is too long
   * or overlong.
   */
  #varint(bytes: Uint8Array, at: number, end: number): number {
    let value = 0;
    let scale = 1;
    let i = at;
    const limit = this.maxVarintBytes;
    for (let n = 0;; n++) {
      if (n === limit) {
        return this.#fail(
          `Cannot decode frame: varint length field longer than ${limit} bytes, the most maxFrameSize ${this.maxFrameSize} needs`,
        );
      }
      if (i >= end) return -1;
      const byte = bytes[i++];
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (byte === 0) {
          return this.#fail(
            "Cannot decode frame: overlong varint length field (a final 0 byte)",
          );
        }
        this.#value = value;
        return i;
      }
      scale *= 0x80;
    }
  }

  /**
   * Checks a payload about to be written with a header
   * ({@linkcode encodes} is `"header"`).
   *
   * @throws {FrameTooLargeError} It exceeds maxFrameSize or what the field holds.
   * @throws {RangeError} It is shorter than a positive lengthAdjustment.
   */
  checkPayload(length: number): void {
    if (length > this.maxFrameSize) {
      throw new FrameTooLargeError("encode", length, this.maxFrameSize);
    }
    if (this.id !== null && length < this.id.end) this.#noRoomForId(length);
    const value = length - this.adjustment;
    if (value < 0) {
      throw new RangeError(
        `Cannot encode frame: a payload of ${length} bytes is shorter than lengthAdjustment ${this.adjustment}`,
      );
    }
    const fieldMax = this.width === 0
      ? Number.MAX_SAFE_INTEGER
      : FIELD_MAX[this.width];
    if (value > fieldMax) {
      throw new FrameTooLargeError(
        "encode",
        length,
        fieldMax + this.adjustment,
        {
          cause: new RangeError(
            `A ${this.width}-byte length field holds at most ${fieldMax}`,
          ),
        },
      );
    }
  }

  /**
   * Checks a whole frame about to be written as it is ({@linkcode encodes}
   * is `"whole"`): one frame of this format, header and all.
   *
   * @throws {FrameTooLargeError} It exceeds maxFrameSize.
   * @throws {RangeError} It is not exactly one well-formed frame.
   */
  checkWhole(frame: Uint8Array): void {
    const length = frame.length;
    if (length > this.maxFrameSize) {
      throw new FrameTooLargeError("encode", length, this.maxFrameSize);
    }
    const end = this.frameEnd(frame, 0, length);
    if (end === -2) {
      const error = this.error!;
      throw new RangeError(
        `Cannot encode frame: ${error.message.replace(/^.*?: /, "")}`,
        { cause: error },
      );
    }
    if (this.id !== null && length < this.id.end) this.#noRoomForId(length);
    if (end !== length) {
      throw new RangeError(
        end === -1
          ? `Cannot encode frame: ${length} bytes hold no complete header of the format`
          : `Cannot encode frame: ${length} bytes are not one frame: its header declares ${end}`,
      );
    }
  }

  #noRoomForId(length: number): never {
    throw new RangeError(
      `Cannot encode frame: ${length} bytes leave no room for the request id (${
        this.id!.width
      } bytes at offset ${this.id!.offset})`,
    );
  }

  /**
   * Checks what a sender hands over before it is written: a payload, for a
   * format whose encoder writes headers, or a whole frame, for one that
   * keeps them (`initialBytesToStrip` 0).
   *
   * @throws {TypeError} It is not a Uint8Array.
   * @throws {RangeError} The format cannot be written, or a whole frame is malformed.
   * @throws {FrameTooLargeError} It is too long for maxFrameSize or the field.
   */
  checkOutgoing(bytes: Uint8Array): void {
    if (!(bytes instanceof Uint8Array)) {
      throw new TypeError(
        `Cannot encode frame: payload is ${typeof bytes}, not a Uint8Array`,
      );
    }
    if (this.encodes === "header") this.checkPayload(bytes.length);
    else if (this.encodes === "whole") this.checkWhole(bytes);
    else throw this.unwritable("encode frame");
  }

  /** Bytes on the wire for what {@linkcode checkOutgoing} accepted. */
  frameSize(bytes: Uint8Array): number {
    const length = bytes.length;
    return this.encodes === "whole" ? length : this.headerSize(length) + length;
  }

  /**
   * Writes what {@linkcode checkOutgoing} accepted into `out` at `offset`,
   * with its header unless it is a whole frame.
   *
   * @returns The offset after it.
   */
  writeFrame(out: Uint8Array, offset: number, bytes: Uint8Array): number {
    if (this.encodes !== "whole") {
      offset = this.writeHeader(out, offset, bytes.length);
    }
    out.set(bytes, offset);
    return offset + bytes.length;
  }

  /** The error of a format that can be decoded but not written, for `action`. */
  unwritable(action: string): RangeError {
    return new RangeError(
      `Cannot ${action}: the format can be decoded but not written (lengthFieldOffset ${this.offset}, initialBytesToStrip ${
        this.strip === -1 ? "the header" : this.strip
      }); write whole frames with initialBytesToStrip 0, or strip the whole header at lengthFieldOffset 0`,
    );
  }

  /** Header bytes written before a payload of `length` bytes. */
  headerSize(length: number): number {
    return this.width > 0 ? this.width : varintSize(length - this.adjustment);
  }

  /**
   * Writes the header of a `length`-byte payload (checked by
   * {@linkcode checkPayload}) into `out` at `offset`.
   *
   * @returns The offset after the header, where the payload goes.
   */
  writeHeader(out: Uint8Array, offset: number, length: number): number {
    let value = length - this.adjustment;
    const width = this.width;
    if (width === 0) {
      while (value >= 0x80) {
        out[offset++] = (value % 0x80) | 0x80;
        value = Math.floor(value / 0x80);
      }
      out[offset++] = value;
      return offset;
    }
    for (let i = 0; i < width; i++) {
      const byte = value % 0x100;
      value = (value - byte) / 0x100;
      out[this.littleEndian ? offset + i : offset + width - 1 - i] = byte;
    }
    return offset + width;
  }
}

const defaults = new Map<number, Framing>();

/**
 * The resolved format of an API's `format` and `maxFrameSize` options; the
 * default format's is made once per limit.
 */
export function framingOf(
  format: FrameFormatOption | Framing | undefined,
  maxFrameSize: number,
): Framing {
  // Internal callers may hand over a format already resolved, with its
  // own maxFrameSize.
  if (format instanceof Framing) return format;
  if (format !== undefined && format !== "u32le") {
    return new Framing(format, maxFrameSize);
  }
  let framing = defaults.get(maxFrameSize);
  if (framing === undefined) {
    framing = new Framing(undefined, maxFrameSize);
    if (defaults.size < 16) defaults.set(maxFrameSize, framing);
  }
  return framing;
}
