import { test } from "node:test";
import assert from "node:assert/strict";
import { FrameDecoderStream } from "../src/frame_decoder_stream.ts";
import { FrameEncoderStream } from "../src/frame_encoder_stream.ts";
import { encodeFrames } from "../src/frame_encoder.ts";
import { FrameTooLargeError, ProtocolError } from "../src/errors.ts";
import { patternBytes, seededRandom } from "./_helpers.ts";

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++]);
      else controller.close();
    },
  });
}

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

const payloads = [
  new Uint8Array(0),
  patternBytes(7),
  patternBytes(100_000, 1),
  patternBytes(3),
];

test("streams: encoder then decoder round-trips payloads", async () => {
  const frames = await collect(
    streamOf(payloads).pipeThrough(new FrameEncoderStream()).pipeThrough(
      new FrameDecoderStream(),
    ),
  );
  assert.deepEqual(frames, payloads);
});

test("streams: decoder stream handles random splits", async () => {
  const bytes = encodeFrames(payloads);
  const random = seededRandom(7);
  const chunks: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.length;) {
    const size = 1 + Math.floor(random() * 9000);
    chunks.push(bytes.slice(offset, offset + size));
    offset += size;
  }
  assert.deepEqual(
    await collect(streamOf(chunks).pipeThrough(new FrameDecoderStream())),
    payloads,
  );
});

test("streams: input ending mid-frame errors the decoder stream", async () => {
  const bytes = encodeFrames([patternBytes(10)]);
  await assert.rejects(
    collect(
      streamOf([bytes.subarray(0, 8)]).pipeThrough(new FrameDecoderStream()),
    ),
    (error: unknown) => {
      assert.ok(error instanceof ProtocolError);
      assert.match(
        error.message,
        /^Cannot decode frame: stream ended mid-frame with 8 bytes unread$/,
      );
      return true;
    },
  );
});

test("streams: limits apply in both directions", async () => {
  await assert.rejects(
    collect(
      streamOf([encodeFrames([patternBytes(11)])]).pipeThrough(
        new FrameDecoderStream({ maxFrameSize: 10 }),
      ),
    ),
    FrameTooLargeError,
  );
  await assert.rejects(
    collect(
      streamOf([patternBytes(11)]).pipeThrough(
        new FrameEncoderStream({ maxFrameSize: 10 }),
      ),
    ),
    /Cannot encode frame: length 11 exceeds maxFrameSize 10/,
  );
});
