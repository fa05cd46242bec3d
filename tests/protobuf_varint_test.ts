// The "varint" format against protobufjs, the reference writer and reader
// of protobuf's delimited streams (Java's writeDelimitedTo, C++'s
// SerializeDelimitedToOstream): framewire's FrameDecoder reads a stream
// written by encodeDelimited, whole, one byte per push and in random
// splits; protobufjs's decodeDelimited reads back what encodeFrames writes,
// which must be the same bytes.
//
// The sizes are those of the varint's payload, the protobuf message bytes:
// 0, 127, 128, 16,383, 16,384 and 1 MiB exactly (a message of one `bytes`
// field: 1 tag byte, the field's own varint length, then its bytes; the
// field sizes below are chosen so the message has exactly that size), plus
// 2 (the smallest message with the field set). No message is 1 byte long
// (every field takes a tag and a value), so the 1-byte payload is covered by
// the raw-bytes cases, written and read with protobufjs's Writer.bytes() and
// Reader.bytes(), the same varint-delimited layout.
import { test } from "node:test";
import assert from "node:assert/strict";
import protobuf from "protobufjs";
import { FrameDecoder } from "../src/frame_decoder.ts";
import { encodeFrames } from "../src/frame_encoder.ts";
import { patternBytes, sameBytes, seededRandom } from "./_helpers.ts";

const MiB = 1024 * 1024;

/** A message type with one `bytes` field, built with the reflection API. */
const Blob = new protobuf.Type("Blob").add(
  new protobuf.Field("data", 1, "bytes"),
);
new protobuf.Root().define("framewire.test").add(Blob);

/** Bytes of an unsigned varint holding `n`. */
function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    size++;
  }
  return size;
}

/** The field size whose message (tag, varint length, bytes) is `size` bytes. */
function fieldSizeFor(size: number): number {
  for (let n = Math.max(0, size - 6); n <= size; n++) {
    if (1 + varintSize(n) + n === size) return n;
  }
  throw new RangeError(`Cannot make a message of ${size} bytes`);
}

/** Message sizes on each side of the varint's 1-, 2- and 3-byte boundaries. */
const MESSAGE_SIZES = [0, 2, 127, 128, 16_383, 16_384, MiB];
/** Raw payload sizes (Writer.bytes / Reader.bytes), 1 included. */
const RAW_SIZES = [0, 1, 127, 128, 16_383, 16_384, MiB];

/** One message per size (twice, second time in reverse), each field distinct. */
function messages(): { data?: Uint8Array }[] {
  const sizes = [...MESSAGE_SIZES, ...[...MESSAGE_SIZES].reverse()];
  return sizes.map((size, i) =>
    size === 0 ? {} : { data: patternBytes(fieldSizeFor(size), i) }
  );
}

/** Each message's encoding, checked to have the size it stands for. */
function encodedMessages(): Uint8Array[] {
  const sizes = [...MESSAGE_SIZES, ...[...MESSAGE_SIZES].reverse()];
  return messages().map((message, i) => {
    const bytes = Blob.encode(message).finish();
    assert.equal(bytes.length, sizes[i], `message ${i} has its size`);
    return bytes;
  });
}

/** Pushes `stream` into a varint FrameDecoder in `chunks`; returns copies of the frames. */
function decode(stream: Uint8Array, splits: number[]): Uint8Array[] {
  const frames: Uint8Array[] = [];
  const decoder = new FrameDecoder((frame) => frames.push(frame.slice()), {
    format: "varint",
    maxFrameSize: 2 * MiB,
  });
  let at = 0;
  for (const end of [...splits, stream.length]) {
    decoder.push(stream.subarray(at, end));
    at = end;
  }
  assert.equal(decoder.bufferedBytes, 0, "the stream ends on a frame boundary");
  return frames;
}

function checkFrames(
  frames: Uint8Array[],
  expected: Uint8Array[],
  how: string,
) {
  assert.equal(frames.length, expected.length, `${how}: every frame`);
  frames.forEach((frame, i) => {
    assert.ok(
      sameBytes(frame, expected[i]),
      `${how}: frame ${i} is its message`,
    );
  });
}

/** Sorted random split points of a `length`-byte stream, about `count` of them. */
function randomSplits(length: number, count: number, seed: number): number[] {
  const random = seededRandom(seed);
  const points = new Set<number>();
  for (let i = 0; i < count; i++) points.add(Math.floor(random() * length));
  return [...points].sort((a, b) => a - b);
}

test("protobuf varint: FrameDecoder reads protobufjs encodeDelimited, whole and in random splits", () => {
  const expected = encodedMessages();
  const writer = protobuf.Writer.create();
  for (const message of messages()) Blob.encodeDelimited(message, writer);
  const stream = writer.finish();
  checkFrames(decode(stream, []), expected, "whole");
  for (const seed of [1, 2, 3, 4, 5]) {
    const frames = decode(stream, randomSplits(stream.length, 200, seed));
    checkFrames(frames, expected, `random splits, seed ${seed}`);
  }
  // Splits at every header byte: frame starts, +1, +2, +3.
  const headerSplits: number[] = [];
  let start = 0;
  for (const message of expected) {
    for (const d of [1, 2, 3]) headerSplits.push(start + d);
    start += varintSize(message.length) + message.length;
  }
  const inside = [...new Set(headerSplits)].filter((p) => p < stream.length);
  const frames = decode(stream, inside.sort((a, b) => a - b));
  checkFrames(frames, expected, "splits inside the headers");
  // Each frame decodes as the message it came from.
  messages().forEach((message, i) => {
    const decoded = Blob.decode(frames[i]) as unknown as { data?: Uint8Array };
    const data = decoded.data ?? new Uint8Array(0);
    assert.ok(
      sameBytes(data, message.data ?? new Uint8Array(0)),
      `message ${i}`,
    );
  });
});

test("protobuf varint: FrameDecoder reads protobufjs encodeDelimited one byte per push", () => {
  const expected = encodedMessages();
  const writer = protobuf.Writer.create();
  for (const message of messages()) Blob.encodeDelimited(message, writer);
  const stream = writer.finish();
  const frames: Uint8Array[] = [];
  const decoder = new FrameDecoder((frame) => frames.push(frame.slice()), {
    format: "varint",
    maxFrameSize: 2 * MiB,
  });
  for (let i = 0; i < stream.length; i++) {
    decoder.push(stream.subarray(i, i + 1));
  }
  checkFrames(frames, expected, "one byte per push");
});

test("protobuf varint: protobufjs decodeDelimited reads encodeFrames, byte for byte encodeDelimited", () => {
  const expected = encodedMessages();
  const wire = encodeFrames(expected, {
    format: "varint",
    maxFrameSize: 2 * MiB,
  });
  const writer = protobuf.Writer.create();
  for (const message of messages()) Blob.encodeDelimited(message, writer);
  assert.ok(
    sameBytes(wire, writer.finish()),
    "the same bytes as encodeDelimited",
  );
  const reader = protobuf.Reader.create(wire);
  const originals = messages();
  let count = 0;
  while (reader.pos < reader.len) {
    const decoded = Blob.decodeDelimited(reader) as unknown as {
      data?: Uint8Array;
    };
    const want = originals[count].data ?? new Uint8Array(0);
    assert.ok(
      sameBytes(decoded.data ?? new Uint8Array(0), want),
      `message ${count}`,
    );
    count++;
  }
  assert.equal(count, originals.length, "every message read back");
});

test("protobuf varint: raw payloads of 0, 1, 127, 128, 16,383, 16,384 bytes and 1 MiB, both ways", () => {
  const payloads = RAW_SIZES.map((size, i) => patternBytes(size, 100 + i));
  // framewire -> protobufjs Reader.bytes()
  const wire = encodeFrames(payloads, {
    format: "varint",
    maxFrameSize: 2 * MiB,
  });
  const reader = protobuf.Reader.create(wire);
  for (const [i, payload] of payloads.entries()) {
    assert.ok(
      sameBytes(reader.bytes(), payload),
      `payload of ${RAW_SIZES[i]} bytes`,
    );
  }
  assert.equal(reader.pos, reader.len, "nothing after the last frame");
  // protobufjs Writer.bytes() -> framewire, whole and in random splits
  const writer = protobuf.Writer.create();
  for (const payload of payloads) writer.bytes(payload);
  const stream = writer.finish();
  assert.ok(sameBytes(stream, wire), "the same bytes as Writer.bytes()");
  checkFrames(decode(stream, []), payloads, "raw, whole");
  checkFrames(
    decode(stream, randomSplits(stream.length, 300, 9)),
    payloads,
    "raw, random splits",
  );
});
