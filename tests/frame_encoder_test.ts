import { test } from "node:test";
import assert from "node:assert/strict";
import {
  assertFrameSize,
  encodeFrame,
  encodeFrames,
} from "../src/frame_encoder.ts";
import { FrameDecoder } from "../src/frame_decoder.ts";
import { FrameTooLargeError } from "../src/errors.ts";
import { COPY_LIMIT, Outbound } from "../src/_outbound.ts";
import { concat, patternBytes, seededRandom } from "./_helpers.ts";

test("encoder: header is the unsigned little-endian length", () => {
  assert.deepEqual(
    encodeFrame(new Uint8Array([104, 105])),
    new Uint8Array([2, 0, 0, 0, 104, 105]),
  );
  assert.deepEqual(
    encodeFrame(new Uint8Array(0)),
    new Uint8Array([0, 0, 0, 0]),
  );
  const frame = encodeFrame(new Uint8Array(0x010203));
  assert.deepEqual(frame.subarray(0, 4), new Uint8Array([3, 2, 1, 0]));
  assert.equal(frame.length, 4 + 0x010203);
});

test("encoder: encodeFrames batches many payloads into one exact-size buffer", () => {
  const payloads = Array.from({ length: 300 }, (_, i) => patternBytes(i, i));
  const bytes = encodeFrames(payloads);
  assert.equal(bytes.length, payloads.reduce((n, p) => n + 4 + p.length, 0));
  assert.equal(bytes.buffer.byteLength, bytes.length);
  const frames: Uint8Array[] = [];
  new FrameDecoder((f) => frames.push(f.slice())).push(bytes);
  assert.deepEqual(frames, payloads);
});

test("encoder: validates every size before writing anything", () => {
  assert.throws(
    () => encodeFrames([new Uint8Array(10), new Uint8Array(11)], 10),
    (error: unknown) => {
      assert.ok(error instanceof FrameTooLargeError);
      assert.equal(
        error.message,
        "Cannot encode frame: length 11 exceeds maxFrameSize 10",
      );
      return true;
    },
  );
  assert.throws(() => encodeFrame(new Uint8Array(1), 2 ** 32), RangeError);
  assert.throws(
    () => assertFrameSize("x" as unknown as Uint8Array, 10),
    TypeError,
  );
  assert.doesNotThrow(() => assertFrameSize(new Uint8Array(10), 10));
});

test("encoder: round trip of random payloads through random splits", () => {
  const random = seededRandom(42);
  for (let round = 0; round < 20; round++) {
    const payloads = Array.from(
      { length: 1 + Math.floor(random() * 50) },
      (_, i) => patternBytes(Math.floor(random() * random() * 5000), i + round),
    );
    const bytes = encodeFrames(payloads);
    const frames: Uint8Array[] = [];
    const decoder = new FrameDecoder((f) => frames.push(f.slice()));
    for (let offset = 0; offset < bytes.length;) {
      const size = 1 + Math.floor(random() * 700);
      decoder.push(bytes.subarray(offset, offset + size));
      offset += size;
    }
    assert.deepEqual(frames, payloads);
  }
});

test("outbound: small frames flush as one write", () => {
  const outbound = new Outbound();
  const payloads = Array.from({ length: 100 }, (_, i) => patternBytes(16, i));
  for (const p of payloads) outbound.add(p);
  const writes: Uint8Array[] = [];
  outbound.flush((bytes) => writes.push(bytes));
  assert.equal(writes.length, 1);
  assert.deepEqual(writes[0], encodeFrames(payloads));
  outbound.flush((bytes) => writes.push(bytes));
  assert.equal(writes.length, 1, "an empty queue writes nothing");
});

test("outbound: large payloads are written by reference after their header", () => {
  const outbound = new Outbound();
  const small = patternBytes(10, 1);
  const large = patternBytes(COPY_LIMIT, 2);
  const tail = patternBytes(5, 3);
  outbound.add(small);
  outbound.add(large);
  outbound.add(tail);
  const writes: Uint8Array[] = [];
  outbound.flush((bytes) => writes.push(bytes));
  assert.equal(writes.length, 3);
  assert.equal(writes[1], large, "the large payload itself, not a copy");
  assert.equal(writes[0].length, 4 + 10 + 4);
  assert.deepEqual(concat(writes), encodeFrames([small, large, tail]));
});

test("outbound: echoed frames go out as they lie in the read buffer, in order with other responses", () => {
  const requests = [patternBytes(3, 1), patternBytes(5, 2), patternBytes(7, 3)];
  const wire = encodeFrames(requests);
  const frames: Array<[number, number]> = [];
  new FrameDecoder((frame, headerAt) =>
    frames.push([headerAt, headerAt + 4 + frame.length])
  )
    .push(wire);
  const extra = patternBytes(4, 9);
  const outbound = new Outbound();
  outbound.echoFrom(wire);
  outbound.echo(...frames[0]);
  outbound.echo(...frames[1]);
  outbound.add(extra);
  outbound.echo(...frames[2]);
  const writes: Uint8Array[] = [];
  outbound.flush((bytes) => writes.push(bytes));
  assert.equal(writes.length, 1);
  assert.deepEqual(
    writes[0],
    encodeFrames([requests[0], requests[1], extra, requests[2]]),
  );
  assert.notEqual(writes[0].buffer, wire.buffer, "copied");
});

test("outbound: an echoed run alone is written by reference when allowed", () => {
  const wire = encodeFrames([patternBytes(3, 1), patternBytes(5, 2)]);
  const frames: Array<[number, number]> = [];
  new FrameDecoder((frame, headerAt) =>
    frames.push([headerAt, headerAt + 4 + frame.length])
  )
    .push(wire);
  const outbound = new Outbound(true);
  outbound.echoFrom(wire);
  for (const frame of frames) outbound.echo(...frame);
  const writes: Uint8Array[] = [];
  outbound.flush((bytes) => writes.push(bytes));
  assert.equal(writes.length, 1);
  assert.equal(writes[0], wire, "the read itself: it is all echoed frames");
});

test("outbound: an echoed run that is part of the read is written as a view of it", () => {
  const frames = [patternBytes(3, 1), patternBytes(5, 2)];
  const whole = encodeFrames(frames);
  // A read that holds the two frames and the start of a third.
  const read = new Uint8Array(whole.length + 6);
  read.set(whole);
  read.set([9, 0, 0, 0, 1, 2], whole.length);
  const found: Array<[number, number]> = [];
  new FrameDecoder((frame, headerAt) =>
    found.push([headerAt, headerAt + 4 + frame.length])
  )
    .push(read);
  assert.equal(found.length, 2);
  const outbound = new Outbound(true);
  outbound.echoFrom(read);
  for (const frame of found) outbound.echo(...frame);
  const writes: Uint8Array[] = [];
  outbound.flush((bytes) => writes.push(bytes));
  assert.equal(writes.length, 1);
  assert.equal(writes[0].buffer, read.buffer, "a view of the read buffer");
  assert.equal(writes[0].byteOffset, read.byteOffset);
  assert.deepEqual(writes[0], whole);
});
