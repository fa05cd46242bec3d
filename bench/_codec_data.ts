/**
 * Inputs of the codec microbenchmarks (bench/codec.ts): payload sets, their
 * wire bytes in each library's framing, and the 64 KiB chunks they are fed in.
 *
 * The wire bytes are built here, independently of every library under test,
 * so that each encoder's output can be checked against them and each decoder
 * is fed valid input of its own format.
 *
 * @module
 */
import { Buffer } from "node:buffer";

/** Bytes per chunk pushed into a decoder: a typical socket read. */
export const CHUNK_SIZE = 64 * 1024;

/** Largest payload every decoder under test is told to accept: 32 MiB. */
export const MAX_FRAME_SIZE = 32 * 1024 * 1024;

/** One frame size to measure, and how many frames one iteration handles. */
export interface FrameSize {
  /** Short label used in tables, such as "16 B". */
  label: string;
  /** Payload bytes per frame. */
  size: number;
  /** Frames per iteration. */
  frames: number;
}

const MiB = 1024 * 1024;

/**
 * The frame sizes measured. Small frames come 4 MiB of payload per
 * iteration; 8 MiB and 32 MiB frames one per iteration, so that their ns per
 * byte shows whether time grows linearly with the frame size.
 */
export const FRAME_SIZES: readonly FrameSize[] = [
  { label: "16 B", size: 16, frames: (4 * MiB) / 16 },
  { label: "1 KiB", size: 1024, frames: (4 * MiB) / 1024 },
  { label: "64 KiB", size: 64 * 1024, frames: 64 },
  { label: "8 MiB", size: 8 * MiB, frames: 1 },
  { label: "32 MiB", size: 32 * MiB, frames: 1 },
];

/** The length prefixes in use: framewire's, the varint of it-length-prefixed and length-prefixed-stream, frame-stream's. */
export type Prefix = "u32le" | "varint" | "u32be" | "u16be";

/** Bytes `length` takes as a prefix of the given kind. */
export function prefixSize(prefix: Prefix, length: number): number {
  if (prefix === "u16be") return 2;
  if (prefix !== "varint") return 4;
  let bytes = 1;
  while (length >= 0x80) {
    length = Math.floor(length / 0x80);
    bytes++;
  }
  return bytes;
}

function writePrefix(
  prefix: Prefix,
  out: Uint8Array,
  offset: number,
  length: number,
): number {
  if (prefix === "varint") {
    while (length >= 0x80) {
      out[offset++] = (length & 0x7f) | 0x80;
      length = Math.floor(length / 0x80);
    }
    out[offset++] = length;
    return offset;
  }
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  if (prefix === "u16be") {
    view.setUint16(offset, length, false);
    return offset + 2;
  }
  view.setUint32(offset, length, prefix === "u32le");
  return offset + 4;
}

/** The frames of one size, ready to be encoded or, as wire bytes, decoded. */
export interface FrameSet {
  size: FrameSize;
  /** The payloads, views of one buffer with varied bytes. */
  payloads: Uint8Array[];
  /** The same payloads as Node `Buffer` views (no copy), for Node streams. */
  payloadBuffers: Buffer[];
  /** Payload bytes in the set. */
  payloadBytes: number;
  /** Wire bytes per prefix kind. */
  wire: Record<Prefix, Uint8Array>;
}

/** Builds the payloads and wire bytes of one frame size. */
export function buildFrameSet(size: FrameSize): FrameSet {
  const payloadBytes = size.size * size.frames;
  const backing = new Uint8Array(payloadBytes);
  for (let i = 0; i < payloadBytes; i++) {
    backing[i] = (i ^ (i >>> 8) ^ (i >>> 17)) & 0xff;
  }
  const payloads: Uint8Array[] = [];
  for (let i = 0; i < size.frames; i++) {
    payloads.push(backing.subarray(i * size.size, (i + 1) * size.size));
  }
  const wire = {} as Record<Prefix, Uint8Array>;
  for (const prefix of ["u32le", "varint", "u32be", "u16be"] as const) {
    // A 2-byte length holds frames of up to 65,535 bytes.
    if (prefix === "u16be" && size.size > 0xffff) continue;
    const out = new Uint8Array(
      payloadBytes + size.frames * prefixSize(prefix, size.size),
    );
    let offset = 0;
    for (const payload of payloads) {
      offset = writePrefix(prefix, out, offset, payload.length);
      out.set(payload, offset);
      offset += payload.length;
    }
    wire[prefix] = out;
  }
  return {
    size,
    payloads,
    payloadBuffers: payloads.map(toBuffer),
    payloadBytes,
    wire,
  };
}

/** Splits bytes into views of at most {@linkcode CHUNK_SIZE} bytes. */
export function chunk(bytes: Uint8Array): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.length; offset += CHUNK_SIZE) {
    chunks.push(bytes.subarray(offset, offset + CHUNK_SIZE));
  }
  return chunks;
}

/** A `Buffer` view of the same memory, as a Node socket would hand out. */
export function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Whether two byte ranges are equal (a native compare). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return toBuffer(a).equals(b);
}
