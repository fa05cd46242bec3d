// Property-based tests of the codec: whatever the frames and however the
// bytes are split, decoding gives back what was encoded, and an oversized
// header is refused with the right numbers after the frames before it.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { FrameDecoder } from "../src/frame_decoder.ts";
import { encodeFrame, encodeFrames } from "../src/frame_encoder.ts";
import { FrameDecoderStream } from "../src/frame_decoder_stream.ts";
import { FrameEncoderStream } from "../src/frame_encoder_stream.ts";
import { FrameTooLargeError } from "../src/errors.ts";
import { MAX_FRAME_SIZE_LIMIT } from "../src/constants.ts";
import { concat, splitBySizes as split } from "./_helpers.ts";

const RUNS = { numRuns: 200 };

/** Payloads: mostly small, some empty, some larger than typical chunk sizes. */
const payload = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 8 }) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300 }) },
  {
    weight: 1,
    arbitrary: fc.uint8Array({
      minLength: 1000,
      maxLength: 5000,
      size: "max",
    }),
  },
  { weight: 1, arbitrary: fc.constant(new Uint8Array(0)) },
);
const payloads = fc.array(payload, { maxLength: 24, size: "medium" });

/** Chunk sizes, used in turn to split a byte string; 0 pushes an empty chunk. */
const chunkSizes = fc.array(
  fc.oneof(
    fc.integer({ min: 0, max: 5 }),
    fc.integer({ min: 1, max: 64 }),
    fc.integer({ min: 1, max: 6000 }),
  ),
  { minLength: 1, maxLength: 40, size: "medium" },
);

function decodeChunks(chunks: readonly Uint8Array[], maxFrameSize?: number) {
  const frames: Uint8Array[] = [];
  const decoder = new FrameDecoder((frame) => frames.push(frame.slice()), {
    maxFrameSize,
  });
  let error: unknown = null;
  for (const chunk of chunks) {
    try {
      decoder.push(chunk);
    } catch (caught) {
      error = caught;
      break;
    }
  }
  return { frames, error, buffered: decoder.bufferedBytes };
}

function header(length: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, length, true);
  return bytes;
}

test("codec property: frames split anywhere decode to the same frames", () => {
  fc.assert(
    fc.property(payloads, chunkSizes, (sent, sizes) => {
      const result = decodeChunks(split(encodeFrames(sent), sizes));
      assert.equal(result.error, null);
      assert.equal(result.buffered, 0);
      assert.deepEqual(result.frames, sent);
    }),
    RUNS,
  );
});

test("codec property: one byte per push decodes to the same frames", () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 10 }),
      (sent) => {
        const result = decodeChunks(split(encodeFrames(sent), [1]));
        assert.deepEqual(result.frames, sent);
        assert.equal(result.buffered, 0);
      },
    ),
    { numRuns: 100 },
  );
});

test("codec property: a header over maxFrameSize is refused with its length after the frames before it", () => {
  const limited = fc.integer({ min: 0, max: 4096 }).chain((max) =>
    fc.record({
      max: fc.constant(max),
      sent: fc.array(payload.map((p) => p.subarray(0, max)), {
        maxLength: 12,
      }),
      declared: fc.integer({ min: max + 1, max: MAX_FRAME_SIZE_LIMIT - 1 }),
      trailing: fc.uint8Array({ maxLength: 16 }),
      sizes: chunkSizes,
    })
  );
  fc.assert(
    fc.property(limited, ({ max, sent, declared, trailing, sizes }) => {
      const bytes = concat([encodeFrames(sent), header(declared), trailing]);
      const result = decodeChunks(split(bytes, sizes), max);
      assert.ok(result.error instanceof FrameTooLargeError);
      assert.equal(result.error.length, declared);
      assert.equal(result.error.maxFrameSize, max);
      assert.equal(
        result.error.message,
        `Cannot decode frame: length ${declared} exceeds maxFrameSize ${max}`,
      );
      assert.deepEqual(result.frames, sent);
    }),
    RUNS,
  );
});

test("codec property: the decoder stays failed after refusing a header", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 1000 }),
      fc.uint8Array({ minLength: 1, maxLength: 20 }),
      (max, more) => {
        const decoder = new FrameDecoder(() => {}, { maxFrameSize: max });
        assert.throws(() => decoder.push(header(max + 1)), FrameTooLargeError);
        assert.throws(() => decoder.push(more), FrameTooLargeError);
      },
    ),
    { numRuns: 50 },
  );
});

test("codec property: encode/decode round trip, frame by frame and in one buffer", () => {
  fc.assert(
    fc.property(payloads, (sent) => {
      const wire = encodeFrames(sent);
      assert.deepEqual(wire, concat(sent.map((p) => encodeFrame(p))));
      let offset = 0;
      for (const p of sent) {
        const view = new DataView(wire.buffer, wire.byteOffset + offset, 4);
        assert.equal(view.getUint32(0, true), p.length);
        offset += 4 + p.length;
      }
      assert.equal(offset, wire.length);
      assert.deepEqual(decodeChunks([wire]).frames, sent);
    }),
    RUNS,
  );
});

test("codec property: encoding a payload over maxFrameSize is refused with its length", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2000 }),
      fc.integer({ min: 1, max: 100 }),
      (max, over) => {
        assert.throws(
          () =>
            encodeFrames(
              [new Uint8Array(Math.min(1, max)), new Uint8Array(max + over)],
              max,
            ),
          (error: unknown) => {
            assert.ok(error instanceof FrameTooLargeError);
            assert.equal(error.length, max + over);
            assert.equal(error.maxFrameSize, max);
            return true;
          },
        );
      },
    ),
    { numRuns: 50 },
  );
});

async function collect(
  stream: ReadableStream<Uint8Array>,
): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  const reader = stream.getReader();
  while (true) {
    const { value, done } = await reader.read();
    if (done) return out;
    out.push(value);
  }
}

function streamOf(chunks: readonly Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++]);
      else controller.close();
    },
  });
}

test("codec property: FrameEncoderStream then FrameDecoderStream round trip, re-split anywhere", async () => {
  const withLarge = fc.array(
    fc.oneof(
      { weight: 8, arbitrary: payload },
      {
        weight: 1,
        arbitrary: fc.uint8Array({ minLength: 65_530, maxLength: 70_000 }),
      },
    ),
    { maxLength: 12 },
  );
  await fc.assert(
    fc.asyncProperty(withLarge, chunkSizes, async (sent, sizes) => {
      const encoded = concat(
        await collect(streamOf(sent).pipeThrough(new FrameEncoderStream())),
      );
      assert.deepEqual(encoded, encodeFrames(sent));
      const decoded = await collect(
        streamOf(split(encoded, sizes)).pipeThrough(new FrameDecoderStream()),
      );
      assert.deepEqual(decoded, sent);
    }),
    { numRuns: 60 },
  );
});
