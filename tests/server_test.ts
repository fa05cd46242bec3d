// Unit tests of the server's connection logic over a fake transport.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Server } from "../src/server.ts";
import { encodeFrames } from "../src/frame_encoder.ts";
import { FrameDecoder } from "../src/frame_decoder.ts";
import { FakeTransport } from "./_fake_transport.ts";
import { concat, patternBytes } from "./_helpers.ts";

function decode(bytes: Uint8Array): Uint8Array[] {
  const frames: Uint8Array[] = [];
  new FrameDecoder((f) => frames.push(f.slice())).push(bytes);
  return frames;
}

test("server: all responses ready after one read go out in one write", () => {
  const server = new Server();
  const transport = new FakeTransport();
  server.serveConnection(transport);
  const requests = Array.from({ length: 500 }, (_, i) => patternBytes(16, i));
  transport.deliver(encodeFrames(requests));
  assert.equal(transport.writes.length, 1);
  assert.deepEqual(decode(transport.writes[0]), requests);
});

test("server: a synchronous zeroCopy handler gets no promise and the read buffer can be reused", () => {
  let calls = 0;
  const server = new Server({
    zeroCopy: true,
    handler: (request) => {
      calls++;
      return request;
    },
  });
  const transport = new FakeTransport();
  server.serveConnection(transport);
  const reusable = transport.deliver(
    encodeFrames([patternBytes(8), patternBytes(9)]),
  );
  assert.equal(calls, 2);
  assert.equal(
    transport.writes.length,
    1,
    "answered synchronously, inside data()",
  );
  assert.equal(reusable, true);
});

test("server: by default a handler owns its request, so the read buffer is not reused", () => {
  const kept: Uint8Array[] = [];
  const server = new Server({
    handler: (request) => {
      kept.push(request);
      return request;
    },
  });
  const transport = new FakeTransport();
  server.serveConnection(transport);
  assert.equal(transport.deliver(encodeFrames([patternBytes(8)])), false);
  // A chunk that completes no frame can be reused: the decoder copied it.
  assert.equal(
    transport.deliver(encodeFrames([patternBytes(8)]).subarray(0, 6)),
    true,
  );
  assert.equal(kept.length, 1);
});

test("server: the built-in echo handler lends (zeroCopy by default)", () => {
  const server = new Server();
  const transport = new FakeTransport();
  server.serveConnection(transport);
  assert.equal(transport.deliver(encodeFrames([patternBytes(8)])), true);
});

test("server: an async handler keeps the read buffer from being reused", async () => {
  const server = new Server({ handler: (request) => Promise.resolve(request) });
  const transport = new FakeTransport();
  server.serveConnection(transport);
  const reusable = transport.deliver(encodeFrames([patternBytes(8)]));
  assert.equal(reusable, false);
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(transport.writes.length, 1);
});

test("server: async responses settling in one tick are batched into one write", async () => {
  const server = new Server({ handler: (request) => Promise.resolve(request) });
  const transport = new FakeTransport();
  server.serveConnection(transport);
  const requests = Array.from({ length: 50 }, (_, i) => patternBytes(4, i));
  transport.deliver(encodeFrames(requests));
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(transport.writes.length, 1);
  assert.deepEqual(decode(transport.writes[0]), requests);
});

test("server: pauses a peer whose responses pile up and resumes on drain", () => {
  const server = new Server({ highWaterMark: 1000 });
  const transport = new FakeTransport();
  server.serveConnection(transport);
  transport.bufferedAmount = 5000; // the socket has not taken earlier responses yet
  transport.deliver(encodeFrames([patternBytes(10)]));
  assert.equal(transport.paused, true);
  assert.equal(server.stats().backpressurePauses, 1);
  transport.bufferedAmount = 0;
  transport.events!.drain();
  assert.equal(transport.paused, false);
});

test("server: pauses while maxPendingRequests async handlers are unsettled", async () => {
  const resolvers: Array<() => void> = [];
  const server = new Server({
    maxPendingRequests: 3,
    handler: (request) =>
      new Promise((resolve) => resolvers.push(() => resolve(request))),
  });
  const transport = new FakeTransport();
  server.serveConnection(transport);
  transport.deliver(
    encodeFrames([patternBytes(1), patternBytes(2), patternBytes(3)]),
  );
  assert.equal(transport.paused, true);
  for (const resolve of resolvers) resolve();
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(transport.paused, false);
  assert.deepEqual(
    decode(concat(transport.writes)),
    [patternBytes(1), patternBytes(2), patternBytes(3)],
  );
});

test("server: a handler result that is not bytes is a handler error", () => {
  const errors: unknown[] = [];
  const server = new Server({
    handler: () => "text" as unknown as Uint8Array,
    onError: (error) => errors.push(error),
  });
  const transport = new FakeTransport();
  server.serveConnection(transport);
  transport.deliver(encodeFrames([patternBytes(1)]));
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof TypeError);
  assert.match(
    String(errors[0]),
    /Cannot send response: handler returned string, not a Uint8Array/,
  );
  assert.equal(transport.writeClosed, true);
  transport.close(); // ends the connection's close timer
});

test("server: rejects bad options with TypeError or RangeError", () => {
  assert.throws(() => new Server({ maxFrameSize: -5 }), RangeError);
  assert.throws(() => new Server({ highWaterMark: 0.5 }), TypeError);
  assert.throws(
    () => new Server({ handler: 5 as unknown as () => Uint8Array }),
    TypeError,
  );
});

test("server: echoed requests go out as they arrived, in order with other responses", () => {
  const server = new Server({
    handler: (request) =>
      request[0] % 2 === 0 ? request : concat([request, request]),
  });
  const transport = new FakeTransport();
  server.serveConnection(transport);
  const requests = Array.from(
    { length: 40 },
    (_, i) => patternBytes(1 + (i % 7), i),
  );
  for (let i = 0; i < requests.length; i++) requests[i][0] = i;
  transport.deliver(encodeFrames(requests));
  assert.equal(transport.writes.length, 1);
  const expected = requests.map((r) => (r[0] % 2 === 0 ? r : concat([r, r])));
  assert.deepEqual(decode(transport.writes[0]), expected);
  assert.equal(server.stats().framesOut, 40);
});

test("server: an echoed frame whose header began in the previous read is answered intact", () => {
  const server = new Server();
  const transport = new FakeTransport();
  server.serveConnection(transport);
  const wire = encodeFrames([
    patternBytes(10, 1),
    patternBytes(12, 2),
    patternBytes(9, 3),
  ]);
  // Reads reuse one buffer, as the Deno adapter does: the second read lands
  // where the first was, so stale bytes sit just before its start.
  const buffer = new Uint8Array(64);
  const firstLength = 14 + 2; // frame 1, then half of frame 2's header
  buffer.set(wire.subarray(0, firstLength));
  assert.equal(transport.deliver(buffer.subarray(0, firstLength)), true);
  buffer.fill(0xee);
  buffer.set(wire.subarray(firstLength), 8);
  transport.deliver(buffer.subarray(8, 8 + wire.length - firstLength));
  assert.deepEqual(decode(concat(transport.writes)), [
    patternBytes(10, 1),
    patternBytes(12, 2),
    patternBytes(9, 3),
  ]);
});
