// Frame formats, one case at a time: the examples of Netty's
// LengthFieldBasedFrameDecoder documentation (the option names are Netty's,
// so its examples must decode the same), formats that can be decoded but
// not written, 8-byte fields, and the errors of bad options.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FrameDecoder } from "../src/frame_decoder.ts";
import { FrameRangeDecoder } from "../src/frame_range_decoder.ts";
import { encodeFrame } from "../src/frame_encoder.ts";
import { FrameEncoderStream } from "../src/frame_encoder_stream.ts";
import { FrameDecoderStream } from "../src/frame_decoder_stream.ts";
import { ProtocolError } from "../src/errors.ts";
import {
  FRAME_FORMATS,
  type FrameFormat,
  parseFrameFormat,
} from "../src/frame_format.ts";

/** Every frame of `wire` in `format`, pushed whole and then a byte at a time. */
function decode(format: FrameFormat, wire: number[]): number[][] {
  const results: number[][][] = [];
  for (const step of [wire.length, 1]) {
    const frames: number[][] = [];
    const decoder = new FrameDecoder((frame) => frames.push([...frame]), {
      format,
    });
    for (let i = 0; i < wire.length; i += step) {
      decoder.push(new Uint8Array(wire.slice(i, i + step)));
    }
    assert.equal(decoder.bufferedBytes, 0);
    results.push(frames);
  }
  assert.deepEqual(results[0], results[1]);
  return results[0];
}

const HELLO = [0x48, 0x45, 0x4c, 0x4c, 0x4f]; // "HELLO"

test("Netty's examples decode as Netty documents them", () => {
  // 2 bytes length field at offset 0, do not strip header.
  assert.deepEqual(
    decode({
      lengthFieldLength: 2,
      byteOrder: "big",
      initialBytesToStrip: 0,
    }, [0, 5, ...HELLO]),
    [[0, 5, ...HELLO]],
  );
  // 2 bytes length field at offset 0, strip header.
  assert.deepEqual(
    decode({ lengthFieldLength: 2, byteOrder: "big" }, [0, 5, ...HELLO]),
    [HELLO],
  );
  // The length field counts the whole frame: adjustment -2, header kept.
  assert.deepEqual(
    decode({
      lengthFieldLength: 2,
      byteOrder: "big",
      lengthAdjustment: -2,
      initialBytesToStrip: 0,
    }, [0, 7, ...HELLO]),
    [[0, 7, ...HELLO]],
  );
  // 3 bytes length field at the end of a 5-byte header, header kept.
  assert.deepEqual(
    decode({
      lengthFieldOffset: 2,
      lengthFieldLength: 3,
      byteOrder: "big",
      initialBytesToStrip: 0,
    }, [0xca, 0xfe, 0, 0, 5, ...HELLO]),
    [[0xca, 0xfe, 0, 0, 5, ...HELLO]],
  );
  // 3 bytes length field at the start of a 5-byte header, header kept.
  assert.deepEqual(
    decode({
      lengthFieldLength: 3,
      byteOrder: "big",
      lengthAdjustment: 2,
      initialBytesToStrip: 0,
    }, [0, 0, 5, 0xca, 0xfe, ...HELLO]),
    [[0, 0, 5, 0xca, 0xfe, ...HELLO]],
  );
  // 2 bytes length field at offset 1 in the middle of a 4-byte header,
  // strip the first header field and the length field.
  assert.deepEqual(
    decode({
      lengthFieldOffset: 1,
      lengthFieldLength: 2,
      byteOrder: "big",
      lengthAdjustment: 1,
      initialBytesToStrip: 3,
    }, [0xca, 0, 5, 0xfe, ...HELLO]),
    [[0xfe, ...HELLO]],
  );
  // The same, the length field counting the whole message.
  assert.deepEqual(
    decode({
      lengthFieldOffset: 1,
      lengthFieldLength: 2,
      byteOrder: "big",
      lengthAdjustment: -3,
      initialBytesToStrip: 3,
    }, [0xca, 0, 9, 0xfe, ...HELLO]),
    [[0xfe, ...HELLO]],
  );
});

test("a format that strips past its header, or only part of it, decodes but cannot be written", () => {
  const format: FrameFormat = {
    lengthFieldLength: 1,
    initialBytesToStrip: 3,
  };
  assert.deepEqual(decode(format, [5, ...HELLO, 2, 1, 2]), [
    HELLO.slice(2),
    [],
  ]);
  assert.throws(
    () => encodeFrame(new Uint8Array(1), { format }),
    /Cannot encode frame: the format can be decoded but not written/,
  );
  assert.throws(
    () => new FrameEncoderStream({ format }),
    /Cannot create FrameEncoderStream/,
  );
  // Stripping more than a frame has is the peer's error.
  const decoder = new FrameDecoder(() => {}, { format });
  assert.throws(
    () => decoder.push(new Uint8Array([1, 9])),
    /Cannot decode frame: initialBytesToStrip 3 exceeds the frame's 2 bytes/,
  );
});

test("a negative adjusted length is the peer's error", () => {
  const decoder = new FrameDecoder(() => {}, {
    format: { lengthFieldLength: 4, byteOrder: "big", lengthAdjustment: -4 },
  });
  assert.throws(
    () => decoder.push(new Uint8Array([0, 0, 0, 3])),
    (error) =>
      error instanceof ProtocolError &&
      error.message ===
        "Cannot decode frame: length field 3 with lengthAdjustment -4 gives -1 bytes",
  );
});

test("8-byte fields: up to Number.MAX_SAFE_INTEGER, above it the peer's error", () => {
  const format: FrameFormat = { lengthFieldLength: 8, byteOrder: "little" };
  assert.deepEqual(
    [...encodeFrame(new Uint8Array([7, 8]), { format })],
    [2, 0, 0, 0, 0, 0, 0, 0, 7, 8],
  );
  const big: FrameFormat = { lengthFieldLength: 8, byteOrder: "big" };
  assert.deepEqual(decode(big, [0, 0, 0, 0, 0, 0, 0, 2, 7, 8]), [[7, 8]]);
  // 2^53: one more than the largest safe integer.
  const decoder = new FrameDecoder(() => {}, { format: big });
  assert.throws(
    () => decoder.push(new Uint8Array([0, 0x20, 0, 0, 0, 0, 0, 0])),
    /8-byte length field exceeds Number.MAX_SAFE_INTEGER/,
  );
  // 2^53 - 1 passes that check and meets maxFrameSize.
  const next = new FrameDecoder(() => {}, { format: big });
  assert.throws(
    () => next.push(new Uint8Array([0, 0x1f, 255, 255, 255, 255, 255, 255])),
    /length 9007199254740991 exceeds maxFrameSize 33554432/,
  );
});

test("FrameRangeDecoder and the Web Streams codecs speak the formats too", async () => {
  const ranges: number[][] = [];
  const wire = encodeFrame(new Uint8Array(HELLO), { format: "u16be" });
  new FrameRangeDecoder(
    (bytes, start, end) => ranges.push([...bytes.subarray(start, end)]),
    { format: "u16be" },
  ).push(wire);
  assert.deepEqual(ranges, [HELLO]);
  const payloads = [new Uint8Array(300), new Uint8Array(HELLO)];
  const out: Uint8Array[] = [];
  for await (
    const frame of ReadableStream.from(payloads)
      .pipeThrough(new FrameEncoderStream({ format: "varint" }))
      .pipeThrough(new FrameDecoderStream({ format: "varint" }))
  ) out.push(frame);
  assert.deepEqual(out, payloads);
});

test("bad options are refused with what is wrong", () => {
  const bad: Array<[unknown, RegExp, typeof Error]> = [
    [
      "u24",
      /"u24" is not a preset \(u32le, u32be, u16be, varint, u32le-id, dns\)/,
      RangeError,
    ],
    [
      { lengthFieldLength: 5 },
      /lengthFieldLength must be 1, 2, 3, 4, 8 or "varint", got 5/,
      RangeError,
    ],
    [
      { lengthFieldLength: 2 },
      /byteOrder is required with a 2-byte length field/,
      TypeError,
    ],
    [
      { lengthFieldLength: 1, byteOrder: "middle" },
      /byteOrder must be "little" or "big", got "middle"/,
      RangeError,
    ],
    [
      { lengthFieldLength: 1, lengthFieldOfset: 2 },
      /unknown option lengthFieldOfset/,
      TypeError,
    ],
    [
      { lengthFieldLength: 1, lengthFieldOffset: -1 },
      /lengthFieldOffset must be from 0 to 65535, got -1/,
      RangeError,
    ],
    [
      { lengthFieldLength: 1, lengthAdjustment: 1.5 },
      /lengthAdjustment must be an integer, got 1.5/,
      TypeError,
    ],
    [42, /42 is not a preset's name or an object/, TypeError],
  ];
  for (const [format, message, kind] of bad) {
    assert.throws(
      () => new FrameDecoder(() => {}, { format: format as FrameFormat }),
      (error) =>
        error instanceof kind && message.test((error as Error).message) &&
        (error as Error).message.startsWith("Invalid frame format: "),
      String(message),
    );
  }
});

test("parseFrameFormat reads a preset's name or a JSON object", () => {
  assert.equal(parseFrameFormat("varint"), "varint");
  assert.deepEqual(
    parseFrameFormat('{"lengthFieldLength":2,"byteOrder":"big"}'),
    { lengthFieldLength: 2, byteOrder: "big" },
  );
  assert.throws(() => parseFrameFormat("u64"), /is not a preset/);
  assert.throws(() => parseFrameFormat("{nope"), /not valid JSON/);
  assert.throws(() => parseFrameFormat("[1]"), /is not a preset/);
  assert.equal(Object.isFrozen(FRAME_FORMATS.u16be), true);
});
