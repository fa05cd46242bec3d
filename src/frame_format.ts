/**
 * Frame formats: where a frame's length sits, how wide it is, its byte
 * order, what it counts and what the receiver is handed. One
 * {@linkcode FrameFormat} describes most length-prefixed TCP protocols; its
 * option names follow Netty's `LengthFieldBasedFrameDecoder`, so Netty's
 * documentation and examples carry over.
 *
 * @module
 */

/**
 * The width of a length field: 1, 2, 3, 4 or 8 bytes, unsigned, or
 * `"varint"` (unsigned LEB128, as protobuf's `writeDelimitedTo` and libp2p
 * write it).
 *
 * @example
 * ```ts
 * import type { LengthFieldLength } from "./frame_format.ts";
 *
 * const widths: LengthFieldLength[] = [1, 2, 3, 4, 8, "varint"];
 * ```
 */
export type LengthFieldLength = 1 | 2 | 3 | 4 | 8 | "varint";

/**
 * How frames are laid out on the wire. Every option may be omitted:
 *
 * | option | meaning | default |
 * | --- | --- | --- |
 * | `lengthFieldOffset` | Bytes before the length field. | 0 |
 * | `lengthFieldLength` | 1, 2, 3, 4 or 8 bytes, or `"varint"`. | 4 |
 * | `byteOrder` | `"little"` or `"big"`; required for a field of 2 to 8 bytes. | |
 * | `lengthAdjustment` | Added to the field's value, gives the number of bytes that follow the length field. | 0 |
 * | `initialBytesToStrip` | Bytes removed from the front of each frame before it is handed out; 0 keeps the whole frame. | the header: `lengthFieldOffset` plus the field |
 *
 * `maxFrameSize`, an option of every API that takes a format, bounds the
 * frame as it is handed out (after stripping), computed from the header
 * before anything is allocated.
 *
 * Which formats can also be written, see `docs/framing.md`: a format that
 * strips its whole header at offset 0 (the encoder writes the header), and
 * any format with `initialBytesToStrip: 0` (the sender hands whole frames,
 * which are checked and written as they are).
 *
 * @example memcached's binary protocol: a 24-byte header kept, the body length at offset 8
 * ```ts
 * import type { FrameFormat } from "./frame_format.ts";
 *
 * const memcached: FrameFormat = {
 *   lengthFieldOffset: 8,
 *   lengthFieldLength: 4,
 *   byteOrder: "big",
 *   lengthAdjustment: 12,
 *   initialBytesToStrip: 0,
 * };
 * ```
 */
export interface FrameFormat {
  /**
   * Where each frame carries its request id, if it does: responses are then
   * matched to requests by id rather than by order (see
   * {@linkcode RequestIdField}).
   */
  readonly requestId?: RequestIdField;
  /** Bytes before the length field. @default {0} */
  readonly lengthFieldOffset?: number;
  /** The length field's width in bytes, or `"varint"`. @default {4} */
  readonly lengthFieldLength?: LengthFieldLength;
  /** The length field's byte order; required for a field of 2 to 8 bytes. */
  readonly byteOrder?: "little" | "big";
  /**
   * Added to the field's value, gives the number of bytes that follow the
   * length field (negative when the length counts the header too).
   *
   * @default {0}
   */
  readonly lengthAdjustment?: number;
  /**
   * Bytes removed from the front of each frame before it is handed out: 0
   * keeps the whole frame.
   *
   * @default {the header: lengthFieldOffset plus the length field}
   */
  readonly initialBytesToStrip?: number;
}

/**
 * A request id field: `length` bytes (2, 4 or 8, unsigned) at `offset` in
 * the frame as it is handed out (after `initialBytesToStrip`), in
 * `byteOrder`. Requests and responses both carry it, in the same place:
 *
 * - a client writes a fresh id into each request it sends (the bytes of the
 *   request passed to `request()` are left alone: the id is written into
 *   the copy sent) and matches each response to its request by the id;
 * - a server writes each request's id into its response, so a handler
 *   leaves room for it (an echo already has it), and may answer out of
 *   order (`ordering: "any"`, the default with an id).
 *
 * DNS over TCP (the 16-bit message id, RFC 7766), memcached's binary
 * protocol (the opaque field), Thrift's seqid and Kafka's correlation id
 * are such fields.
 *
 * @example memcached's binary protocol: a whole frame, the opaque field at 12
 * ```ts
 * import type { FrameFormat } from "./frame_format.ts";
 *
 * const memcached: FrameFormat = {
 *   lengthFieldOffset: 8,
 *   lengthFieldLength: 4,
 *   byteOrder: "big",
 *   lengthAdjustment: 12,
 *   initialBytesToStrip: 0,
 *   requestId: { offset: 12, length: 4, byteOrder: "big" },
 * };
 * ```
 */
export interface RequestIdField {
  /** Bytes before the id in the frame as handed out. @default {0} */
  readonly offset?: number;
  /** The id's width in bytes. */
  readonly length: 2 | 4 | 8;
  /** The id's byte order. */
  readonly byteOrder: "little" | "big";
}

/**
 * The names of the preset formats:
 *
 * - `u32le`: framewire's own protocol, the default everywhere;
 * - `u32be`: Thrift framed transport, Kafka, ZooKeeper, Java's `writeInt`;
 * - `u16be`: DNS over TCP (RFC 1035 and RFC 7766), without ids;
 * - `varint`: protobuf delimited streams, libp2p;
 * - `u32le-id`: framewire's protocol with request ids: a u32 little-endian
 *   length that counts the id and the payload, a u32 little-endian id, then
 *   the payload (frames are handed out id first);
 * - `dns`: `u16be` with the DNS message id, u16 big-endian at offset 0.
 *
 * @example
 * ```ts
 * import type { FrameFormatName } from "./frame_format.ts";
 *
 * const dns: FrameFormatName = "dns";
 * ```
 */
export type FrameFormatName =
  | "u32le"
  | "u32be"
  | "u16be"
  | "varint"
  | "u32le-id"
  | "dns";

/**
 * A frame format as the APIs take it: a preset's name or a
 * {@linkcode FrameFormat}.
 *
 * @example
 * ```ts
 * import type { FrameFormatOption } from "./frame_format.ts";
 *
 * const formats: FrameFormatOption[] = ["u16be", { lengthFieldLength: 1 }];
 * ```
 */
export type FrameFormatOption = FrameFormatName | FrameFormat;

/**
 * The preset formats, by name. Spread one to start a custom format from it.
 *
 * @example A u32 big-endian length that counts itself
 * ```ts
 * import { FRAME_FORMATS } from "./frame_format.ts";
 * import type { FrameFormat } from "./frame_format.ts";
 *
 * const format: FrameFormat = { ...FRAME_FORMATS.u32be, lengthAdjustment: -4 };
 * console.log(format.byteOrder); // "big"
 * ```
 */
export const FRAME_FORMATS: Readonly<
  Record<FrameFormatName, Readonly<FrameFormat>>
> = Object.freeze({
  u32le: Object.freeze({ lengthFieldLength: 4, byteOrder: "little" } as const),
  u32be: Object.freeze({ lengthFieldLength: 4, byteOrder: "big" } as const),
  u16be: Object.freeze({ lengthFieldLength: 2, byteOrder: "big" } as const),
  varint: Object.freeze({ lengthFieldLength: "varint" } as const),
  "u32le-id": Object.freeze(
    {
      lengthFieldLength: 4,
      byteOrder: "little",
      requestId: Object.freeze({ offset: 0, length: 4, byteOrder: "little" }),
    } as const,
  ),
  dns: Object.freeze(
    {
      lengthFieldLength: 2,
      byteOrder: "big",
      requestId: Object.freeze({ offset: 0, length: 2, byteOrder: "big" }),
    } as const,
  ),
});

/** The presets' names, as error messages list them. */
const FRAME_FORMAT_NAMES = Object.keys(FRAME_FORMATS).join(", ");

/**
 * Reads a frame format as the command line's `--framing` takes it: a
 * preset's name, or a {@linkcode FrameFormat} as JSON. The result is
 * checked when an API is given it.
 *
 * @param text A preset's name (`u32le`, `u32be`, `u16be`, `varint`, `u32le-id`, `dns`) or a JSON object.
 * @returns The preset's name or the parsed object.
 * @throws {TypeError} `text` is neither a preset's name nor a JSON object.
 *
 * @example
 * ```ts
 * import { parseFrameFormat } from "./frame_format.ts";
 *
 * console.log(parseFrameFormat("u16be")); // "u16be"
 * console.log(parseFrameFormat('{"lengthFieldLength":2,"byteOrder":"big"}'));
 * // { lengthFieldLength: 2, byteOrder: "big" }
 * ```
 */
export function parseFrameFormat(text: string): FrameFormatOption {
  const trimmed = text.trim();
  if (Object.hasOwn(FRAME_FORMATS, trimmed)) {
    return trimmed as FrameFormatName;
  }
  if (!trimmed.startsWith("{")) {
    throw new TypeError(
      `Invalid frame format: ${
        JSON.stringify(text)
      } is not a preset (${FRAME_FORMAT_NAMES}) or a JSON object`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch (error) {
    throw new TypeError(
      `Invalid frame format: not valid JSON (${(error as Error).message})`,
      { cause: error },
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new TypeError("Invalid frame format: the JSON is not an object");
  }
  return parsed as FrameFormat;
}
