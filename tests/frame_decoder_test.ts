import { test } from "node:test";
import assert from "node:assert/strict";
import { FrameDecoder } from "../src/frame_decoder.ts";
import { encodeFrames } from "../src/frame_encoder.ts";
import { FrameTooLargeError, ProtocolError } from "../src/errors.ts";
import { DEFAULT_MAX_FRAME_SIZE } from "../src/constants.ts";
import { concat, patternBytes, sameBytes, seededRandom } from "./_helpers.ts";

function decodeAll(chunks: Uint8Array[], maxFrameSize?: number): Uint8Array[] {
  const frames: Uint8Array[] = [];
  const decoder = new FrameDecoder((f) => frames.push(f.slice()), {
    maxFrameSize,
  });
  for (const chunk of chunks) decoder.push(chunk);
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

test("decoder: whole input in one push", () => {
  assert.deepEqual(decodeAll([wire]), payloads);
});

test("decoder: one byte per push", () => {
  const chunks = Array.from(wire, (_, i) => wire.subarray(i, i + 1));
  assert.deepEqual(decodeAll(chunks), payloads);
});

test("decoder: random splits (seeded) give the same frames", () => {
  for (let seed = 1; seed <= 50; seed++) {
    assert.deepEqual(
      decodeAll(randomSplits(wire, seededRandom(seed))),
      payloads,
      `seed ${seed}`,
    );
  }
});

test("decoder: frames inside one chunk are zero-copy views of it", () => {
  const chunk = encodeFrames([patternBytes(10), patternBytes(20)]);
  const frames: Uint8Array[] = [];
  new FrameDecoder((f) => frames.push(f)).push(chunk);
  assert.equal(frames.length, 2);
  for (const frame of frames) assert.equal(frame.buffer, chunk.buffer);
  assert.equal(frames[0].byteOffset, 4);
  assert.equal(frames[1].byteOffset, 18);
});

test("decoder: a frame spanning chunks is joined once into an exact-size buffer", () => {
  const payload = patternBytes(1 << 20, 9);
  const bytes = encodeFrames([payload]);
  const frames: Uint8Array[] = [];
  const decoder = new FrameDecoder((f) => frames.push(f));
  for (let i = 0; i < bytes.length; i += 65536) {
    decoder.push(bytes.subarray(i, i + 65536));
  }
  assert.equal(frames.length, 1);
  assert.equal(frames[0].buffer.byteLength, payload.length);
  assert.equal(frames[0].byteOffset, 0);
  assert.deepEqual(frames[0], payload);
  // The decoder keeps no reference to its input: changing a chunk after push is harmless.
  assert.notEqual(frames[0].buffer, bytes.buffer);
});

test("decoder: zero-length frames, alone and in runs", () => {
  const zeros = Array.from({ length: 100 }, () => new Uint8Array(0));
  assert.deepEqual(decodeAll([encodeFrames(zeros)]), zeros);
  const bytes = encodeFrames(zeros);
  assert.deepEqual(
    decodeAll(Array.from(bytes, (_, i) => bytes.subarray(i, i + 1))),
    zeros,
  );
});

test("decoder: thousands of frames in one chunk", () => {
  const many = Array.from({ length: 5000 }, (_, i) => patternBytes(i % 40, i));
  const frames = decodeAll([encodeFrames(many)]);
  assert.equal(frames.length, 5000);
  assert.deepEqual(frames, many);
});

test("decoder: a frame of exactly maxFrameSize is accepted", () => {
  const max = 4096;
  const payload = patternBytes(max, 3);
  assert.deepEqual(decodeAll([encodeFrames([payload])], max), [payload]);
  // And at the default limit, split like 64 KiB socket reads.
  const big = new Uint8Array(DEFAULT_MAX_FRAME_SIZE);
  big[0] = 1;
  big[big.length - 1] = 2;
  const bytes = encodeFrames([big]);
  let got: Uint8Array | null = null;
  const decoder = new FrameDecoder((f) => (got = f));
  for (let i = 0; i < bytes.length; i += 65536) {
    decoder.push(bytes.subarray(i, i + 65536));
  }
  assert.ok(got !== null);
  const frame = got as Uint8Array;
  assert.equal(frame.length, DEFAULT_MAX_FRAME_SIZE);
  assert.equal(frame[0], 1);
  assert.equal(frame[frame.length - 1], 2);
});

test("decoder: maxFrameSize + 1 is rejected from the header alone", () => {
  const max = 4096;
  const header = new Uint8Array(4);
  new DataView(header.buffer).setUint32(0, max + 1, true);
  const decoder = new FrameDecoder(() => assert.fail("no frame expected"), {
    maxFrameSize: max,
  });
  // Only the 4 header bytes are pushed: the error cannot wait for (or allocate) the payload.
  assert.throws(() => decoder.push(header), (error: unknown) => {
    assert.ok(error instanceof FrameTooLargeError);
    assert.ok(error instanceof ProtocolError);
    assert.equal(error.name, "FrameTooLargeError");
    assert.equal(error.length, max + 1);
    assert.equal(
      error.message,
      "Cannot decode frame: length 4097 exceeds maxFrameSize 4096",
    );
    return true;
  });
  // The decoder stays failed.
  assert.throws(() => decoder.push(new Uint8Array(1)), FrameTooLargeError);
});

test("decoder: oversize header split over pushes, after valid frames", () => {
  const frames: Uint8Array[] = [];
  const decoder = new FrameDecoder((f) => frames.push(f.slice()));
  const bad = new Uint8Array([0xfe, 0xff, 0xff, 0xff]);
  const bytes = concat([encodeFrames([patternBytes(8), patternBytes(9)]), bad]);
  // The two good frames are emitted before the bad header throws.
  decoder.push(bytes.subarray(0, bytes.length - 2));
  assert.throws(
    () => decoder.push(bytes.subarray(bytes.length - 2)),
    /Cannot decode frame: length 4294967294 exceeds maxFrameSize 33554432/,
  );
  assert.equal(frames.length, 2);
});

test("decoder: end() reports the bytes of an incomplete frame", () => {
  const frames: Uint8Array[] = [];
  const decoder = new FrameDecoder((f) => frames.push(f));
  const bytes = encodeFrames([patternBytes(5), patternBytes(100)]);
  decoder.push(bytes.subarray(0, 9 + 2)); // first frame + 2 header bytes
  assert.equal(decoder.bufferedBytes, 2);
  decoder.push(bytes.subarray(11, 50));
  assert.equal(decoder.bufferedBytes, 41);
  assert.equal(decoder.end(), 41);
  assert.equal(decoder.bufferedBytes, 0);
  assert.equal(frames.length, 1);
  assert.equal(decoder.end(), 0);
});

test("decoder: rejects bad options", () => {
  assert.throws(
    () => new FrameDecoder(() => {}, { maxFrameSize: -1 }),
    RangeError,
  );
  assert.throws(
    () => new FrameDecoder(() => {}, { maxFrameSize: 2 ** 32 }),
    RangeError,
  );
  assert.throws(
    () => new FrameDecoder(() => {}, { maxFrameSize: 1.5 }),
    TypeError,
  );
});

test("allocate supplies the buffers frames spread over chunks are assembled in", () => {
  const store = new Uint8Array(100);
  const asked: number[] = [];
  const frames: Uint8Array[] = [];
  const decoder = new FrameDecoder((f) => frames.push(f), {
    allocate: (length) => {
      asked.push(length);
      return store.subarray(10, 10 + length);
    },
  });
  const wire = encodeFrames([patternBytes(40, 1), patternBytes(3, 2)]);
  decoder.push(wire.subarray(0, 20)); // the 40-byte frame spans two chunks
  decoder.push(wire.subarray(20));
  assert.deepEqual(asked, [40]);
  assert.equal(frames.length, 2);
  assert.equal(frames[0].buffer, store.buffer);
  assert.equal(frames[0].byteOffset, 10);
  assert.deepEqual(frames[0], patternBytes(40, 1));
  assert.notEqual(
    frames[1].buffer,
    store.buffer,
    "a frame inside one chunk is a view of it",
  );
  assert.deepEqual(frames[1], patternBytes(3, 2));
});

test("allocate returning the wrong length is a RangeError", () => {
  const decoder = new FrameDecoder(() => {}, {
    allocate: (length) => new Uint8Array(length + 1),
  });
  const wire = encodeFrames([patternBytes(40, 1)]);
  assert.throws(
    () => decoder.push(wire.subarray(0, 10)),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message ===
        "Cannot decode frame: allocate(40, 40) returned 41 bytes",
  );
  const short = new FrameDecoder(() => {}, {
    allocate: (length) => new Uint8Array(length - 1),
  });
  assert.throws(
    () => short.push(wire.subarray(0, 10)),
    /allocate\(40, 40\) returned 39 bytes/,
  );
  assert.throws(
    // @ts-expect-error: checks the run-time guard
    () => new FrameDecoder(() => {}, { allocate: 5 }),
    TypeError,
  );
});

test("allocate may defer a frame: push stops before it and resumes on a later push", () => {
  const frames: string[] = [];
  let allow = false;
  const decoder = new FrameDecoder(
    (f) => frames.push(String.fromCharCode(...f.subarray(0, 3))),
    { allocate: (length) => allow ? new Uint8Array(length) : null },
  );
  const big = new Uint8Array(50).fill(66); // "BBB..."
  const wire = encodeFrames([
    new Uint8Array([65, 65, 65]),
    big,
    new Uint8Array([67, 67, 67]),
  ]);
  // The first frame fits in the chunk; the second spans it and is deferred.
  const first = wire.subarray(0, 30);
  const consumed = decoder.push(first);
  assert.equal(consumed, 7, "stops at the deferred frame's header");
  assert.deepEqual(frames, ["AAA"]);
  allow = true;
  const rest = new Uint8Array(first.length - consumed + wire.length - 30);
  rest.set(first.subarray(consumed));
  rest.set(wire.subarray(30), first.length - consumed);
  assert.equal(decoder.push(rest), rest.length);
  assert.deepEqual(frames, ["AAA", "BBB", "CCC"]);
  assert.equal(decoder.bufferedBytes, 0);
});

test("a header split over chunks can be deferred too, and retried with an empty push", () => {
  const frames: Uint8Array[] = [];
  let allow = false;
  const decoder = new FrameDecoder((f) => frames.push(f.slice()), {
    allocate: (length) => allow ? new Uint8Array(length) : null,
  });
  const wire = encodeFrames([patternBytes(40, 4)]);
  assert.equal(decoder.push(wire.subarray(0, 2)), 2);
  assert.equal(decoder.push(wire.subarray(2, 4)), 2, "the header is complete");
  assert.equal(decoder.pendingFrameSize, 0);
  assert.equal(decoder.bufferedBytes, 4);
  allow = true;
  assert.equal(decoder.push(new Uint8Array(0)), 0);
  assert.equal(decoder.pendingFrameSize, 40);
  decoder.push(wire.subarray(4));
  assert.equal(frames.length, 1);
  assert.deepEqual(frames[0], patternBytes(40, 4));
});

test("a frame deferred after its whole header is a view of the next chunk when it fits there", () => {
  const frames: { frame: Uint8Array; headerAt: number }[] = [];
  let allow = false;
  const decoder = new FrameDecoder(
    (frame, headerAt) => frames.push({ frame, headerAt }),
    { allocate: (length) => allow ? new Uint8Array(length) : null },
  );
  const wire = encodeFrames([patternBytes(40, 4), patternBytes(2, 5)]);
  assert.equal(decoder.push(wire.subarray(0, 2)), 2);
  // The header is complete, the frame is deferred.
  assert.equal(decoder.push(wire.subarray(2, 10)), 2);
  assert.equal(decoder.bufferedBytes, 4);
  allow = true;
  const rest = wire.subarray(4);
  assert.equal(decoder.push(rest), rest.length);
  assert.equal(frames.length, 2);
  assert.equal(frames[0].frame.buffer, wire.buffer);
  assert.equal(frames[0].frame.byteOffset, 4);
  assert.equal(frames[0].headerAt, -1);
  assert.deepEqual(frames[0].frame, patternBytes(40, 4));
  assert.equal(frames[1].headerAt, 40);
  assert.deepEqual(frames[1].frame, patternBytes(2, 5));
});

test("a header alone never makes the decoder ask for its declared size: the buffer grows as bytes arrive", () => {
  const MiB = 1024 * 1024;
  for (const format of ["u32le", "varint"] as const) {
    const payload = patternBytes(4 * MiB, 3);
    const wire = encodeFrames([payload], { format });
    const asked: Array<[number, number]> = [];
    const released: number[] = [];
    const frames: Uint8Array[] = [];
    const decoder = new FrameDecoder((frame) => frames.push(frame), {
      format,
      allocate: (length, frameLength) => {
        asked.push([length, frameLength]);
        return new Uint8Array(length);
      },
      release: (buffer) => released.push(buffer.length),
    });
    // The header and 100 bytes: 64 KiB is all that is asked for.
    const head = 104; // a 4-byte header either way, and 100 bytes
    decoder.push(wire.subarray(0, head));
    assert.deepEqual(asked, [[64 * 1024, 4 * MiB]], format);
    assert.equal(decoder.pendingFrameSize, 4 * MiB);
    for (let at = head; at < wire.length; at += 64 * 1024) {
      decoder.push(wire.subarray(at, at + 64 * 1024));
    }
    // Eightfold, up to the frame's exact length; each outgrown buffer released.
    assert.deepEqual(asked, [
      [64 * 1024, 4 * MiB],
      [512 * 1024, 4 * MiB],
      [4 * MiB, 4 * MiB],
    ], format);
    assert.deepEqual(released, [64 * 1024, 512 * 1024], format);
    assert.equal(frames.length, 1);
    assert.equal(frames[0].length, 4 * MiB);
    assert.ok(sameBytes(frames[0], payload), format);
    assert.equal(decoder.pendingFrameSize, 0);
  }
});

test("a frame's buffer that cannot grow defers the chunk, which is pushed again", () => {
  const payload = patternBytes(300_000, 4);
  const wire = encodeFrames([payload]);
  let allow = true;
  const frames: Uint8Array[] = [];
  const decoder = new FrameDecoder((frame) => frames.push(frame), {
    allocate: (length) => allow ? new Uint8Array(length) : null,
  });
  assert.equal(decoder.push(wire.subarray(0, 50_000)), 50_000);
  allow = false;
  // 50,000 + 50,000 bytes outgrow the first 64 KiB: deferred, none consumed.
  assert.equal(decoder.push(wire.subarray(50_000, 100_000)), 0);
  allow = true;
  assert.equal(decoder.push(wire.subarray(50_000)), wire.length - 50_000);
  assert.equal(frames.length, 1);
  assert.ok(sameBytes(frames[0], payload));
});

test("allocate may hand the whole frame's buffer at once: it does not grow", () => {
  const payload = patternBytes(1_000_000, 5);
  const wire = encodeFrames([payload]);
  const asked: number[] = [];
  const frames: Uint8Array[] = [];
  const decoder = new FrameDecoder((frame) => frames.push(frame), {
    allocate: (length, frameLength) => {
      asked.push(length);
      return new Uint8Array(frameLength);
    },
  });
  for (let at = 0; at < wire.length; at += 4096) {
    decoder.push(wire.subarray(at, at + 4096));
  }
  assert.deepEqual(asked, [64 * 1024]);
  assert.equal(frames.length, 1);
  assert.ok(sameBytes(frames[0], payload));
});
