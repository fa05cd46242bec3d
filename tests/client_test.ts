// Unit tests of the client's batching and matching over a fake transport.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Client } from "../src/client.ts";
import { encodeFrames } from "../src/frame_encoder.ts";
import { ConnectionClosedError } from "../src/errors.ts";
import { FakeTransport } from "./_fake_transport.ts";
import { patternBytes, str, text } from "./_helpers.ts";

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

test("client: requests made in the same tick go out in one write", async () => {
  const transport = new FakeTransport();
  const client = new Client(transport);
  const requests = Array.from({ length: 100 }, (_, i) => patternBytes(16, i));
  const pending = requests.map((r) => client.request(r));
  assert.equal(
    transport.writes.length,
    0,
    "nothing is written before the tick ends",
  );
  await tick();
  assert.equal(transport.writes.length, 1);
  assert.deepEqual(transport.writes[0], encodeFrames(requests));
  transport.deliver(encodeFrames(requests));
  assert.deepEqual(await Promise.all(pending), requests);
});

test("client: responses are matched in FIFO order across split reads", async () => {
  const transport = new FakeTransport();
  const client = new Client(transport);
  const pending = ["a", "b", "c"].map((s) => client.request(text(s)));
  await tick();
  const wire = encodeFrames([text("A"), text("B"), text("C")]);
  transport.deliver(wire.subarray(0, 7));
  transport.deliver(wire.subarray(7));
  assert.deepEqual((await Promise.all(pending)).map(str), ["A", "B", "C"]);
});

test("client: a response nobody asked for is a protocol error", async () => {
  const transport = new FakeTransport();
  const client = new Client(transport);
  transport.deliver(encodeFrames([text("surprise")]));
  assert.equal(transport.closedByCore, true);
  await assert.rejects(client.request(text("x")), ConnectionClosedError);
});

test("client: close() waits for in-flight requests, then half-closes", async () => {
  const transport = new FakeTransport();
  const client = new Client(transport);
  const pending = client.request(text("x"));
  const closing = client.close();
  await assert.rejects(
    client.request(text("y")),
    /Cannot send request: client is closing/,
  );
  await tick();
  assert.equal(transport.writeClosed, false, "still waiting for the answer");
  transport.deliver(encodeFrames([text("x")]));
  assert.equal(str(await pending), "x");
  await tick();
  assert.equal(transport.writeClosed, true);
  transport.events!.closed();
  await closing;
  assert.equal(client.closed, true);
});

test("client: peer end rejects pending and waiting requests", async () => {
  const transport = new FakeTransport();
  const client = new Client(transport, { maxInFlight: 1 });
  const first = client.request(text("1"));
  const second = client.request(text("2")); // waits for a place
  await tick();
  transport.events!.end();
  await assert.rejects(
    first,
    /Cannot complete request: connection closed by peer/,
  );
  await assert.rejects(second, ConnectionClosedError);
});

test("client: rejects bad options", () => {
  assert.throws(
    () => new Client(new FakeTransport(), { maxInFlight: 0 }),
    RangeError,
  );
});
