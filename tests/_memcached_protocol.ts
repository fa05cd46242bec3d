// memcached's binary protocol, as much of it as the tests and
// bench/memcached.ts use: its frame format for framewire (a 24-byte header
// kept whole, the body length at offset 8), request packets built by hand
// and responses read back. Each packet is one whole frame: a 24-byte header
// (magic, opcode, key length, extras length, data type, vbucket or status,
// total body length, opaque, CAS), then extras, key and value.
import type { FrameFormat } from "../src/frame_format.ts";

/**
 * memcached's binary protocol as a framewire format: the body length (a
 * big-endian u32 at offset 8) counts what follows the 24-byte header, which
 * is 12 bytes past the field; the header is kept (whole frames both ways).
 */
export const MEMCACHED_FORMAT: FrameFormat = {
  lengthFieldOffset: 8,
  lengthFieldLength: 4,
  byteOrder: "big",
  lengthAdjustment: 12,
  initialBytesToStrip: 0,
};

/** Bytes in a request or response header. */
export const HEADER_SIZE = 24;
/** First byte of a request. */
export const REQUEST_MAGIC = 0x80;
/** First byte of a response. */
export const RESPONSE_MAGIC = 0x81;

/** The opcodes used here. */
export const Opcode = { get: 0x00, set: 0x01 } as const;

/** The response statuses used here. */
export const Status = {
  ok: 0x0000,
  keyNotFound: 0x0001,
  unknownCommand: 0x0081,
} as const;

/** The parts of a packet after its header. */
export interface PacketBody {
  extras?: Uint8Array;
  key?: Uint8Array;
  value?: Uint8Array;
}

/**
 * One packet: a header with `magic`, `opcode`, `status` (the vbucket in a
 * request), `opaque` and `cas`, then extras, key and value.
 */
export function packet(
  magic: number,
  opcode: number,
  status: number,
  opaque: number,
  body: PacketBody = {},
  cas = 0n,
): Uint8Array {
  const extras = body.extras ?? new Uint8Array(0);
  const key = body.key ?? new Uint8Array(0);
  const value = body.value ?? new Uint8Array(0);
  const bodyLength = extras.length + key.length + value.length;
  const out = new Uint8Array(HEADER_SIZE + bodyLength);
  const view = new DataView(out.buffer);
  out[0] = magic;
  out[1] = opcode;
  view.setUint16(2, key.length);
  out[4] = extras.length;
  out[5] = 0; // data type: raw bytes
  view.setUint16(6, status);
  view.setUint32(8, bodyLength);
  view.setUint32(12, opaque);
  view.setBigUint64(16, cas);
  out.set(extras, HEADER_SIZE);
  out.set(key, HEADER_SIZE + extras.length);
  out.set(value, HEADER_SIZE + extras.length + key.length);
  return out;
}

/** A SET request: extras are the item's flags and expiry (0: never). */
export function setRequest(
  key: Uint8Array,
  value: Uint8Array,
  opaque: number,
  flags = 0,
  expiry = 0,
): Uint8Array {
  const extras = new Uint8Array(8);
  const view = new DataView(extras.buffer);
  view.setUint32(0, flags);
  view.setUint32(4, expiry);
  return packet(REQUEST_MAGIC, Opcode.set, 0, opaque, { extras, key, value });
}

/** A GET request. */
export function getRequest(key: Uint8Array, opaque: number): Uint8Array {
  return packet(REQUEST_MAGIC, Opcode.get, 0, opaque, { key });
}

/** A packet read back: its header's fields and views of its parts. */
export interface Packet {
  magic: number;
  opcode: number;
  /** The status of a response, the vbucket of a request. */
  status: number;
  opaque: number;
  cas: bigint;
  extras: Uint8Array;
  key: Uint8Array;
  value: Uint8Array;
}

/** Reads one whole packet (a frame of {@linkcode MEMCACHED_FORMAT}). */
export function parsePacket(frame: Uint8Array): Packet {
  if (frame.length < HEADER_SIZE) {
    throw new RangeError(
      `Cannot parse memcached packet: ${frame.length} bytes, under ${HEADER_SIZE}`,
    );
  }
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const keyLength = view.getUint16(2);
  const extrasLength = frame[4];
  const bodyLength = view.getUint32(8);
  if (HEADER_SIZE + bodyLength !== frame.length) {
    throw new RangeError(
      `Cannot parse memcached packet: ${frame.length} bytes, header says ${
        HEADER_SIZE + bodyLength
      }`,
    );
  }
  const keyAt = HEADER_SIZE + extrasLength;
  return {
    magic: frame[0],
    opcode: frame[1],
    status: view.getUint16(6),
    opaque: view.getUint32(12),
    cas: view.getBigUint64(16),
    extras: frame.subarray(HEADER_SIZE, keyAt),
    key: frame.subarray(keyAt, keyAt + keyLength),
    value: frame.subarray(keyAt + keyLength),
  };
}
