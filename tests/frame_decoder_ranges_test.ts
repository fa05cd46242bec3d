// FrameRangeDecoder: the same frames as FrameDecoder, reported as
// (bytes, start, end) with no view per frame.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FrameDecoder } from "../src/frame_decoder.ts";
import { FrameRangeDecoder } from "../src/frame_range_decoder.ts";
import { encodeFrames } from "../src/frame_encoder.ts";
import { FrameTooLargeError, ProtocolError } from "../src/errors.ts";
import { concat, patternBytes, seededRandom } from "./_helpers.ts";

/** What one range report was. */
interface Range {
  bytes: Uint8Array;
  start: number;
  end: number;
}

/** Decodes `chunks`, copying each payload out of its range. */
function decodeAll(chunks: Uint8Array[], maxFrameSize?: number): Uint8Array[] {
  const frames: Uint8Array[] = [];
  const decoder = new FrameRangeDecoder(
    (bytes, start, end) => frames.push(bytes.slice(start, end)),
    { maxFrameSize },
  );
  for (const chunk of chunks) assert.equal(decoder.push(chunk), chunk.length);
  assert.equal(decoder.bufferedBytes, 0, "input ends on a frame boundary");
  return frames;
}

function randomSplits(bytes: Uint8Array, random: () => number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const size = 1 + Math.floor(random() * random() * 300);
    chunks.push(bytes.slice(offset, offset + size));
    offset += size;
  }
  return chunks;
}

const payloads = [
  new Uint8Array(0),
  patternBytes(1, 1),
  patternBytes(3, 2),
  patternBytes(4, 3),
  patternBytes(5, 4),
  new Uint8Array(0),
  patternBytes(1000, 5),
  patternBytes(70_000, 6),
  patternBytes(17, 7),
];
const wire = encodeFrames(payloads);

test("range decoder: whole input in one push", () => {
  assert.deepEqual(decodeAll([wire]), payloads);
});

test("range decoder: one byte per push", () => {
  const chunks = Array.from(wire, (_, i) => wire.subarray(i, i + 1));
  assert.deepEqual(decodeAll(chunks), payloads);
});

test("range decoder: random splits (seeded) give the same frames", () => {
  for (let seed = 1; seed <= 50; seed++) {
    assert.deepEqual(
      decodeAll(randomSplits(wire, seededRandom(seed))),
      payloads,
      `seed ${seed}`,
    );
  }
});

test("range decoder: reports what FrameDecoder hands out, split anywhere", () => {
  for (let seed = 1; seed <= 50; seed++) {
    const chunks = randomSplits(wire, seededRandom(seed));
    const views: { frame: Uint8Array; headerAt: number }[] = [];
    const ranges: Range[] = [];
    const decoder = new FrameDecoder((frame, headerAt) =>
      views.push({ frame: frame.slice(), headerAt })
    );
    const rangeDecoder = new FrameRangeDecoder((bytes, start, end) =>
      ranges.push({ bytes: bytes.slice(), start, end })
    );
    for (const chunk of chunks) {
      decoder.push(chunk);
      rangeDecoder.push(chunk);
      assert.equal(rangeDecoder.bufferedBytes, decoder.bufferedBytes);
      assert.equal(rangeDecoder.pendingFrameSize, decoder.pendingFrameSize);
    }
    assert.equal(ranges.length, views.length, `seed ${seed}`);
    ranges.forEach(({ bytes, start, end }, i) => {
      assert.deepEqual(bytes.subarray(start, end), views[i].frame);
      // The header lies before the payload in bytes exactly when
      // FrameDecoder gives its position, start >= 4.
      assert.equal(
        views[i].headerAt,
        start >= 4 ? start - 4 : -1,
        `seed ${seed}, frame ${i}`,
      );
    });
  }
});

test("range decoder: frames inside one chunk are reported in the chunk itself, header before them", () => {
  const chunk = encodeFrames([patternBytes(10, 1), patternBytes(20, 2)]);
  const ranges: Range[] = [];
  new FrameRangeDecoder((bytes, start, end) =>
    ranges.push({ bytes, start, end })
  ).push(chunk);
  assert.deepEqual(ranges.map(({ start, end }) => [start, end]), [
    [4, 14],
    [18, 38],
  ]);
  for (const { bytes, start, end } of ranges) {
    assert.equal(bytes, chunk);
    assert.equal(
      new DataView(bytes.buffer, bytes.byteOffset).getUint32(start - 4, true),
      end - start,
    );
  }
});

test("range decoder: a frame spanning chunks is joined once into an exact-size buffer of its own", () => {
  const payload = patternBytes(1 << 20, 9);
  const bytes = encodeFrames([payload]);
  const ranges: Range[] = [];
  const decoder = new FrameRangeDecoder((b, start, end) =>
    ranges.push({ bytes: b, start, end })
  );
  for (let i = 0; i < bytes.length; i += 65536) {
    decoder.push(bytes.subarray(i, i + 65536));
  }
  assert.equal(ranges.length, 1);
  const { bytes: frame, start, end } = ranges[0];
  assert.deepEqual([start, end], [0, payload.length]);
  assert.equal(frame.buffer.byteLength, payload.length);
  assert.notEqual(frame.buffer, bytes.buffer);
  assert.deepEqual(frame, payload);
});

test("range decoder: a payload whose header came in earlier chunks is reported in its chunk, start < 4", () => {
  const frame = encodeFrames([patternBytes(6, 3)]);
  const ranges: Range[] = [];
  const decoder = new FrameRangeDecoder((bytes, start, end) =>
    ranges.push({ bytes, start, end })
  );
  decoder.push(frame.subarray(0, 3));
  const rest = frame.subarray(3);
  decoder.push(rest);
  assert.equal(ranges.length, 1);
  assert.equal(ranges[0].bytes, rest);
  assert.deepEqual([ranges[0].start, ranges[0].end], [1, 7]);
  assert.deepEqual(rest.subarray(1, 7), patternBytes(6, 3));
});

test("range decoder: zero-length frames, alone and in runs", () => {
  const zeros = Array.from({ length: 100 }, () => new Uint8Array(0));
  const bytes = encodeFrames(zeros);
  assert.deepEqual(decodeAll([bytes]), zeros);
  assert.deepEqual(
    decodeAll(Array.from(bytes, (_, i) => bytes.subarray(i, i + 1))),
    zeros,
  );
});

test("range decoder: maxFrameSize is accepted, one more is rejected from the header alone", () => {
  const max = 4096;
  const payload = patternBytes(max, 3);
  assert.deepEqual(decodeAll([encodeFrames([payload])], max), [payload]);
  const frames: Uint8Array[] = [];
  const decoder = new FrameRangeDecoder(
    (bytes, start, end) => frames.push(bytes.slice(start, end)),
    { maxFrameSize: max },
  );
  const header = new Uint8Array(4);
  new DataView(header.buffer).setUint32(0, max + 1, true);
  const bytes = concat([encodeFrames([patternBytes(8)]), header]);
  // The frame before the bad header is reported, then push throws.
  assert.throws(() => decoder.push(bytes), (error: unknown) => {
    assert.ok(error instanceof FrameTooLargeError);
    assert.ok(error instanceof ProtocolError);
    assert.equal(
      error.message,
      "Cannot decode frame: length 4097 exceeds maxFrameSize 4096",
    );
    return true;
  });
  assert.deepEqual(frames, [patternBytes(8)]);
  assert.equal(decoder.maxFrameSize, max);
  // The decoder stays failed.
  assert.throws(() => decoder.push(new Uint8Array(1)), FrameTooLargeError);
});

test("range decoder: end() reports the bytes of an incomplete frame", () => {
  let count = 0;
  const decoder = new FrameRangeDecoder(() => count++);
  const bytes = encodeFrames([patternBytes(5), patternBytes(100)]);
  decoder.push(bytes.subarray(0, 9 + 2)); // first frame + 2 header bytes
  assert.equal(decoder.bufferedBytes, 2);
  decoder.push(bytes.subarray(11, 50));
  assert.equal(decoder.bufferedBytes, 41);
  assert.equal(decoder.pendingFrameSize, 100);
  assert.equal(decoder.end(), 41);
  assert.equal(decoder.bufferedBytes, 0);
  assert.equal(count, 1);
});

test("range decoder: rejects bad arguments", () => {
  assert.throws(
    // @ts-expect-error: checks the run-time guard
    () => new FrameRangeDecoder(null),
    (error: unknown) =>
      error instanceof TypeError &&
      error.message ===
        "Cannot create FrameRangeDecoder: onFrame is not a function",
  );
  assert.throws(
    () => new FrameRangeDecoder(() => {}, { maxFrameSize: 2 ** 32 }),
    RangeError,
  );
  assert.throws(
    // @ts-expect-error: checks the run-time guard
    () => new FrameRangeDecoder(() => {}, { allocate: 5 }),
    TypeError,
  );
});

test("range decoder: allocate supplies the buffers of frames spread over chunks, and may defer them", () => {
  const store = new Uint8Array(100);
  let allow = false;
  const ranges: Range[] = [];
  const decoder = new FrameRangeDecoder(
    (bytes, start, end) => ranges.push({ bytes, start, end }),
    { allocate: (length) => allow ? store.subarray(10, 10 + length) : null },
  );
  const bytes = encodeFrames([patternBytes(3, 1), patternBytes(40, 2)]);
  // The 40-byte frame spans the chunk: deferred, push stops at its header.
  const first = bytes.subarray(0, 20);
  assert.equal(decoder.push(first), 7);
  assert.equal(ranges.length, 1);
  allow = true;
  assert.equal(decoder.push(first.subarray(7)), 13);
  decoder.push(bytes.subarray(20));
  assert.equal(ranges.length, 2);
  const { bytes: frame, start, end } = ranges[1];
  assert.equal(frame.buffer, store.buffer);
  assert.deepEqual([frame.byteOffset, start, end], [10, 0, 40]);
  assert.deepEqual(frame, patternBytes(40, 2));
  const wrong = new FrameRangeDecoder(() => {}, {
    allocate: (length) => new Uint8Array(length + 1),
  });
  assert.throws(
    () => wrong.push(bytes.subarray(7, 20)),
    /Cannot decode frame: allocate\(40, 40\) returned 41 bytes/,
  );
});
