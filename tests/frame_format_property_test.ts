// Property-based tests of the frame formats: for every preset and random
// custom formats, encoding then decoding under random chunk splits gives
// back what was sent, byte for byte as an independent encoder writes it; a
// length the field cannot hold is refused, never truncated; an oversize
// frame is refused from its header alone; overlong varints are refused; and
// the decoder never asks for more than maxFrameSize for one frame.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { FrameDecoder } from "../src/frame_decoder.ts";
import { encodeFrames } from "../src/frame_encoder.ts";
import {
  DrainNoticeError,
  FrameTooLargeError,
  ProtocolError,
} from "../src/errors.ts";
import {
  FRAME_FORMATS,
  type FrameFormat,
  type FrameFormatName,
} from "../src/frame_format.ts";
import { concat, splitBySizes as split } from "./_helpers.ts";

const RUNS = { numRuns: 150 };

/** The length field of `value`, as the format's spec says, independently of framewire. */
function field(width: number | "varint", little: boolean, value: number) {
  if (width === "varint") {
    const out: number[] = [];
    let v = BigInt(value);
    while (v >= 0x80n) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
    return new Uint8Array(out);
  }
  const out = new Uint8Array(width);
  let v = BigInt(value);
  for (let i = 0; i < width; i++) {
    out[little ? i : width - 1 - i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** A format with everything spelled out, as the tests build frames from it. */
interface Spec {
  format: FrameFormat | FrameFormatName;
  offset: number;
  width: number | "varint";
  little: boolean;
  adjustment: number;
  /** Whole frames (initialBytesToStrip 0) rather than payloads. */
  whole: boolean;
}

const FIELD_MAX: Record<string, number> = {
  1: 0xff,
  2: 0xffff,
  3: 0xffffff,
  4: 0xffffffff,
  8: Number.MAX_SAFE_INTEGER,
  varint: Number.MAX_SAFE_INTEGER,
};

const presets = fc.constantFrom<FrameFormatName>(
  "u32le",
  "u32be",
  "u16be",
  "varint",
).map((name): Spec => {
  const preset = FRAME_FORMATS[name];
  return {
    format: name,
    offset: 0,
    width: preset.lengthFieldLength!,
    little: preset.byteOrder === "little",
    adjustment: 0,
    whole: false,
  };
});

/** Custom formats the encoder supports: the header stripped at offset 0, or whole frames. */
const customs = fc.record({
  width: fc.constantFrom<number | "varint">(1, 2, 3, 4, 8, "varint"),
  little: fc.boolean(),
  whole: fc.boolean(),
  offset: fc.integer({ min: 0, max: 9 }),
  adjustment: fc.integer({ min: -12, max: 12 }),
}).map(({ width, little, whole, offset, adjustment }): Spec => {
  if (!whole) offset = 0;
  const headerEnd = offset + (width === "varint" ? 1 : width);
  // A negative adjustment counts header bytes in the length (as
  // PostgreSQL's does); it may not take off more than the header has.
  if (adjustment < 0) adjustment = Math.max(adjustment, -headerEnd);
  const format: FrameFormat = {
    lengthFieldOffset: offset,
    lengthFieldLength: width as FrameFormat["lengthFieldLength"],
    ...(width === "varint" || width === 1
      ? {}
      : { byteOrder: little ? "little" : "big" }),
    lengthAdjustment: adjustment,
    ...(whole ? { initialBytesToStrip: 0 } : {}),
  };
  return { format, offset, width, little, adjustment, whole };
});

const specs = fc.oneof(presets, customs);

/**
 * What is sent for `body` in `spec` (a payload, or a whole frame made of
 * `prefix` bytes, the field and `body`), and its bytes on the wire; null
 * when the field cannot say that length.
 */
function frameOf(spec: Spec, body: Uint8Array, prefix: number) {
  // The field's value: bytes after the field, less the adjustment; with a
  // negative adjustment the field counts header bytes too.
  const value = body.length - spec.adjustment;
  if (value < 0 || value > FIELD_MAX[String(spec.width)]) return null;
  const head = new Uint8Array(spec.offset).fill(prefix);
  const wire = concat([head, field(spec.width, spec.little, value), body]);
  return { sent: spec.whole ? wire : body, wire };
}

/** Bodies: mostly small, some empty, some spanning many chunks. */
const bodies = fc.array(
  fc.oneof(
    { weight: 3, arbitrary: fc.uint8Array({ maxLength: 20 }) },
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300 }) },
    {
      weight: 1,
      arbitrary: fc.uint8Array({ minLength: 1000, maxLength: 4000 }),
    },
  ),
  { maxLength: 16 },
);

const chunkSizes = fc.array(
  fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 700 })),
  { minLength: 1, maxLength: 30 },
);

test("every format: encode, split at random, decode gives back what was sent", () => {
  fc.assert(
    fc.property(specs, bodies, chunkSizes, (spec, list, sizes) => {
      const frames = list.map((body, i) => frameOf(spec, body, i))
        .filter((frame) => frame !== null);
      const sent = frames.map((frame) => frame.sent);
      const wire = encodeFrames(sent, { format: spec.format });
      assert.deepEqual(wire, concat(frames.map((frame) => frame.wire)));
      const received: Uint8Array[] = [];
      const decoder = new FrameDecoder(
        (frame) => received.push(frame.slice()),
        {
          format: spec.format,
        },
      );
      for (const chunk of split(wire, sizes)) {
        assert.equal(decoder.push(chunk), chunk.length);
      }
      assert.equal(decoder.bufferedBytes, 0);
      assert.deepEqual(received, sent);
    }),
    RUNS,
  );
});

test("a length the field cannot hold is refused by the encoder, never truncated", () => {
  const cases: Array<[FrameFormat, number]> = [
    [{ lengthFieldLength: 1 }, 0xff],
    [{ lengthFieldLength: 2, byteOrder: "big" }, 0xffff],
    [
      { lengthFieldLength: 2, byteOrder: "little", lengthAdjustment: -2 },
      0xfffd,
    ],
    [{ lengthFieldLength: 1, lengthAdjustment: 3 }, 0xff + 3],
  ];
  fc.assert(
    fc.property(
      fc.constantFrom(...cases),
      fc.integer({ min: 1, max: 300 }),
      ([format, largest], over) => {
        const fits = new Uint8Array(largest);
        const framed = encodeFrames([fits], { format });
        assert.equal(framed.length > largest, true);
        assert.throws(
          () =>
            encodeFrames([fits, new Uint8Array(largest + over)], { format }),
          (error) =>
            error instanceof FrameTooLargeError &&
            error.length === largest + over && error.maxFrameSize === largest,
        );
      },
    ),
    { numRuns: 40 },
  );
});

test("an oversize frame is refused from its header alone, before its payload arrives", () => {
  fc.assert(
    fc.property(
      specs,
      fc.integer({ min: 0, max: 5000 }),
      fc.integer({ min: 1, max: 100_000 }),
      (spec, maxFrameSize, over) => {
        // The frame as handed out is over the limit by `over` bytes.
        const handedOut = maxFrameSize + over;
        const headerLength = spec.offset +
          field(spec.width, spec.little, 0).length;
        const body = spec.whole ? handedOut - headerLength : handedOut;
        if (body < 0) return;
        const value = body - spec.adjustment;
        if (value < 0 || value > FIELD_MAX[String(spec.width)]) return;
        const header = concat([
          new Uint8Array(spec.offset),
          field(spec.width, spec.little, value),
        ]);
        const asked: number[] = [];
        const decoder = new FrameDecoder(() => {}, {
          format: spec.format,
          maxFrameSize,
          allocate: (length) => {
            asked.push(length);
            return new Uint8Array(length);
          },
        });
        const pushes = split(header, [1, 2]);
        let error: unknown;
        try {
          for (const chunk of pushes) decoder.push(chunk);
        } catch (caught) {
          error = caught;
        }
        assert.ok(error instanceof ProtocolError, String(error));
        if (error instanceof FrameTooLargeError) {
          assert.equal(error.maxFrameSize, maxFrameSize);
        } else if (error instanceof DrainNoticeError) {
          // The field's largest value, which no frame has: the drain notice.
          assert.equal(value, FIELD_MAX[String(spec.width)]);
        } else {
          // A varint that needs more bytes than maxFrameSize allows.
          assert.equal(spec.width, "varint");
          assert.match(error.message, /varint length field longer than/);
        }
        assert.deepEqual(asked, []);
        assert.throws(() => decoder.push(new Uint8Array(1)), ProtocolError);
      },
    ),
    RUNS,
  );
});

test("overlong varints are refused with a clear error", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xfffff }),
      fc.integer({ min: 1, max: 3 }),
      fc.boolean(),
      (value, padding, oneByteAtATime) => {
        // `value`'s varint, then `padding` more bytes that add nothing.
        const minimal = field("varint", true, value);
        const overlong = new Uint8Array(minimal.length + padding);
        overlong.set(minimal);
        overlong[minimal.length - 1] |= 0x80;
        for (let i = minimal.length; i < overlong.length - 1; i++) {
          overlong[i] = 0x80;
        }
        const decoder = new FrameDecoder(() => {}, { format: "varint" });
        const push = () => {
          for (const chunk of split(overlong, [oneByteAtATime ? 1 : 64])) {
            decoder.push(chunk);
          }
        };
        assert.throws(push, (error) =>
          error instanceof ProtocolError &&
          /overlong varint|varint length field longer than/.test(
            error.message,
          ));
      },
    ),
    RUNS,
  );
  // Past what any maxFrameSize needs: ten continuation bytes.
  const decoder = new FrameDecoder(() => {}, { format: "varint" });
  assert.throws(
    () => decoder.push(new Uint8Array(10).fill(0x80)),
    /Cannot decode frame: varint length field longer than 4 bytes, the most maxFrameSize 33554432 needs/,
  );
});

test("the decoder never asks for more than maxFrameSize for one frame", () => {
  fc.assert(
    fc.property(
      specs,
      fc.integer({ min: 0, max: 3000 }),
      fc.uint8Array({ minLength: 1, maxLength: 6000 }),
      chunkSizes,
      (spec, maxFrameSize, noise, sizes) => {
        let largest = 0;
        const decoder = new FrameDecoder((frame) => {
          assert.ok(frame.length <= maxFrameSize);
        }, {
          format: spec.format,
          maxFrameSize,
          allocate: (length) => {
            largest = Math.max(largest, length);
            return new Uint8Array(length);
          },
        });
        try {
          for (const chunk of split(noise, sizes)) decoder.push(chunk);
        } catch (error) {
          assert.ok(error instanceof ProtocolError, String(error));
        }
        assert.ok(largest <= maxFrameSize, `${largest} > ${maxFrameSize}`);
      },
    ),
    RUNS,
  );
});
