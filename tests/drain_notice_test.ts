// The drain notice as bytes: which formats have one (a length field that can
// hold more than maxFrameSize), what it looks like, that a decoder tells it
// from an oversized frame on every path (the default format's fast path,
// other formats, a header split over reads, an 8-byte field), and that a
// server refuses `drainNotice` where the format has none.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Framing } from "../src/_frame_header.ts";
import { FrameDecoder } from "../src/frame_decoder.ts";
import { Server } from "../src/server.ts";
import { DrainNoticeError, FrameTooLargeError } from "../src/errors.ts";
import type { FrameFormatOption } from "../src/frame_format.ts";
import { encodeFrame } from "../src/frame_encoder.ts";
import { concat, str, text } from "./_helpers.ts";

const MIB32 = 32 * 1024 * 1024;
const memcached = {
  lengthFieldOffset: 8,
  lengthFieldLength: 4,
  byteOrder: "big",
  lengthAdjustment: 12,
  initialBytesToStrip: 0,
} as const;

test("drain notice: the bytes of each format, or none", () => {
  const cases: Array<[FrameFormatOption, number, number[] | null]> = [
    ["u32le", MIB32, [0xff, 0xff, 0xff, 0xff]],
    ["u32be", MIB32, [0xff, 0xff, 0xff, 0xff]],
    ["u32le-id", MIB32, [0xff, 0xff, 0xff, 0xff]],
    ["u16be", MIB32, null], // 65535 is a frame's length
    ["u16be", 1000, [0xff, 0xff]],
    ["dns", 65535, null],
    ["varint", MIB32, null],
    [memcached, MIB32, [0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]],
    [{ lengthFieldLength: 8, byteOrder: "big" }, MIB32, Array(8).fill(0xff)],
    [{ lengthFieldLength: 1 }, 254, [0xff]],
    [{ lengthFieldLength: 1 }, 255, null],
    // The field counts its own 4 bytes: 2^32 - 1 is 2^32 - 5 handed out.
    [
      { lengthFieldLength: 4, byteOrder: "big", lengthAdjustment: -4 },
      0xffff_fffb,
      null,
    ],
    [
      { lengthFieldLength: 4, byteOrder: "big", lengthAdjustment: -4 },
      0xffff_fffa,
      [0xff, 0xff, 0xff, 0xff],
    ],
  ];
  for (const [format, maxFrameSize, bytes] of cases) {
    const notice = new Framing(format, maxFrameSize).drainNotice;
    assert.deepEqual(
      notice === null ? null : [...notice],
      bytes,
      `${JSON.stringify(format)} at ${maxFrameSize}`,
    );
  }
});

/** Decodes `chunks`: the frames, and the error that stopped the decoder. */
function decode(
  chunks: Uint8Array[],
  format?: FrameFormatOption,
  maxFrameSize?: number,
): { frames: string[]; error: unknown } {
  const frames: string[] = [];
  const decoder = new FrameDecoder((frame) => frames.push(str(frame)), {
    format,
    maxFrameSize,
  });
  try {
    for (const chunk of chunks) decoder.push(chunk);
  } catch (error) {
    return { frames, error };
  }
  return { frames, error: null };
}

test("drain notice: a decoder emits the frames before it, then throws DrainNoticeError", () => {
  const notice = new Framing("u32le", MIB32).drainNotice!;
  const wire = concat([encodeFrame(text("a")), encodeFrame(text("b")), notice]);
  for (const chunks of [[wire], [wire.subarray(0, 11), wire.subarray(11)]]) {
    const { frames, error } = decode(chunks);
    assert.deepEqual(frames, ["a", "b"]);
    assert.ok(error instanceof DrainNoticeError, String(error));
    assert.equal(error.name, "DrainNoticeError");
  }
  // One byte less than all ones is an oversized frame, not a notice.
  const { error } = decode([new Uint8Array([0xfe, 0xff, 0xff, 0xff])]);
  assert.ok(error instanceof FrameTooLargeError);
});

test("drain notice: other formats, whole and split, and the 8-byte field", () => {
  const formats: Array<[FrameFormatOption, number]> = [
    ["u32be", MIB32],
    ["u16be", 1000],
    [memcached, MIB32],
    [{ lengthFieldLength: 8, byteOrder: "little" }, MIB32],
    [{ lengthFieldLength: 3, byteOrder: "big" }, 1000],
  ];
  for (const [format, maxFrameSize] of formats) {
    const notice = new Framing(format, maxFrameSize).drainNotice!;
    for (let split = 0; split < notice.length; split++) {
      const chunks = [notice.subarray(0, split), notice.subarray(split)];
      const { error } = decode(chunks, format, maxFrameSize);
      assert.ok(
        error instanceof DrainNoticeError,
        `${JSON.stringify(format)} split at ${split}: ${error}`,
      );
    }
  }
  // Where all ones is a length, it is one.
  const { frames, error } = decode(
    [concat([new Uint8Array([0xff]), new Uint8Array(255)])],
    { lengthFieldLength: 1 },
    255,
  );
  assert.equal(error, null);
  assert.equal(frames.length, 1);
});

test("drain notice: a server takes drainNotice only where the format has one", () => {
  assert.throws(
    () => new Server({ drainNotice: true, format: "varint" }),
    /^RangeError: Cannot create server: drainNotice needs a length field that can hold more than maxFrameSize 33554432 \(format varint\)$/,
  );
  assert.throws(() => new Server({ drainNotice: true, format: "dns" }));
  assert.throws(
    () => new Server({ drainNotice: "yes" as unknown as boolean }),
    TypeError,
  );
  assert.doesNotThrow(() => new Server({ drainNotice: true }));
  assert.doesNotThrow(() =>
    new Server({ drainNotice: true, format: "u16be", maxFrameSize: 1000 })
  );
});
