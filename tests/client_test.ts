// Unit tests of the client over fake transports: batching and matching,
// request timeouts and reconnection.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Client } from "../src/client.ts";
import type { ClientOptions } from "../src/client_options.ts";
import { encodeFrames } from "../src/frame_encoder.ts";
import {
  ConnectionClosedError,
  FrameTooLargeError,
  RequestTimeoutError,
} from "../src/errors.ts";
import { backoffDelay, clientSettings } from "../src/_client_settings.ts";
import { FakeTransport } from "./_fake_transport.ts";
import { concat, delay, patternBytes, str, text, waitFor } from "./_helpers.ts";

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

// ---- Timeouts and reconnection, over fake transports ----

/** A fake whose peer closes as soon as the client half-closes, as a server does. */
class PeerTransport extends FakeTransport {
  override closeWrite(): void {
    super.closeWrite();
    queueMicrotask(() => this.events?.closed());
  }
}

/** The peer goes away: end of stream, then the close. */
function drop(transport: FakeTransport): void {
  transport.events!.end();
  transport.events!.closed();
}

/** A dial function that hands out PeerTransports, failing while `failing` is set. */
function fakeDialer() {
  const dialer = {
    transports: [] as PeerTransport[],
    calls: 0,
    failing: false,
    dial: () => {
      dialer.calls++;
      if (dialer.failing) {
        return Promise.reject(new Error(`dial ${dialer.calls} refused`));
      }
      const transport = new PeerTransport();
      dialer.transports.push(transport);
      return Promise.resolve(transport);
    },
  };
  return dialer;
}

function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => assert.fail("expected a rejection"),
    (error) => error,
  );
}

test("client: a timed-out request rejects with RequestTimeoutError; the others in flight get ConnectionClosedError", async () => {
  const transport = new FakeTransport();
  const client = new Client(transport, { requestTimeout: 30 });
  const pending = ["a", "b", "c"].map((s) =>
    rejection(client.request(text(s)))
  );
  const [first, second, third] = await Promise.all(pending);
  assert.ok(first instanceof RequestTimeoutError);
  assert.equal(first.message, "Cannot complete request: timed out after 30 ms");
  assert.equal(first.sent, true);
  assert.equal(first.timeout, 30);
  for (const error of [second, third]) {
    assert.ok(error instanceof ConnectionClosedError);
    assert.equal(error.cause, first);
  }
  assert.equal(transport.closedByCore, true, "the connection is not reused");
  assert.equal(client.inFlight, 0);
  assert.equal(client.closed, true);
  assert.equal(client.connected, false);
  // Without reconnect, a new request fails at once, saying why.
  const late = await rejection(client.request(text("late")));
  assert.ok(late instanceof ConnectionClosedError);
  assert.ok(late.cause instanceof RequestTimeoutError);
  await client.close();
});

test("client: an answered request does not time out; a later one does", async () => {
  const transport = new FakeTransport();
  const client = new Client(transport, { requestTimeout: 40 });
  const first = client.request(text("1"));
  await tick();
  transport.deliver(encodeFrames([text("1")]));
  assert.equal(str(await first), "1");
  await delay(15);
  const second = rejection(client.request(text("2")));
  assert.ok((await second) instanceof RequestTimeoutError);
  assert.equal(transport.writes.length, 2);
});

test("client: requests not yet written when the connection drops go out on the new connection; those written are not resent", async () => {
  const dialer = fakeDialer();
  const disconnects: ConnectionClosedError[] = [];
  const client = await Client.dial(dialer.dial, {
    reconnect: { initialDelay: 0, jitter: 0 },
    onDisconnect: (error) => disconnects.push(error),
  });
  const [first] = dialer.transports;
  const written = rejection(client.request(text("written")));
  await tick();
  const unwritten = client.request(text("unwritten"));
  drop(first); // before this tick's flush
  const error = await written;
  assert.ok(error instanceof ConnectionClosedError);
  assert.equal(disconnects.length, 1);
  assert.equal(disconnects[0], error);
  assert.equal(client.connected, false);
  assert.equal(client.closed, false);
  await waitFor(() => client.connected, "the reconnection");
  await tick();
  const second = dialer.transports[1];
  assert.deepEqual(first.writes, [encodeFrames([text("written")])]);
  assert.deepEqual(second.writes, [encodeFrames([text("unwritten")])]);
  second.deliver(encodeFrames([text("UNWRITTEN")]));
  assert.equal(str(await unwritten), "UNWRITTEN");
  assert.equal(client.reconnects, 1);
  await client.close();
  assert.equal(second.writeClosed, true);
});

test("client: without reconnect, requests not yet written are rejected at a drop", async () => {
  const transport = new FakeTransport();
  const client = new Client(transport);
  const pending = client.request(text("x"));
  drop(transport);
  await assert.rejects(pending, ConnectionClosedError);
  await tick();
  assert.deepEqual(transport.writes, [], "nothing is written after the drop");
});

test("client: reconnect backs off through failed dials and counts the attempts", async () => {
  const dialer = fakeDialer();
  const reconnected: number[] = [];
  const client = await Client.dial(dialer.dial, {
    reconnect: { initialDelay: 1, maxDelay: 4, jitter: 0, maxAttempts: 10 },
    onReconnect: (attempt) => reconnected.push(attempt),
  });
  dialer.failing = true;
  drop(dialer.transports[0]);
  await waitFor(() => client.reconnectAttempts >= 3, "three failed attempts");
  dialer.failing = false;
  await waitFor(() => client.connected, "the reconnection");
  assert.equal(client.reconnectAttempts, dialer.calls - 1);
  assert.deepEqual(reconnected, [client.reconnectAttempts]);
  assert.ok(reconnected[0] >= 4);
  assert.equal(client.reconnects, 1);
  const pending = client.request(text("again"));
  await tick();
  dialer.transports[1].deliver(encodeFrames([text("again")]));
  assert.equal(str(await pending), "again");
  await client.close();
});

test("client: a failed round rejects the waiting requests; the next request starts a new round", async () => {
  const dialer = fakeDialer();
  const client = await Client.dial(dialer.dial, {
    reconnect: { initialDelay: 1, maxAttempts: 2 },
  });
  dialer.failing = true;
  drop(dialer.transports[0]);
  const error = await rejection(client.request(text("waiting")));
  assert.ok(error instanceof ConnectionClosedError);
  assert.equal(
    error.message,
    "Cannot send request: reconnect failed after 2 attempts",
  );
  assert.match(String((error.cause as Error).message), /dial 3 refused/);
  assert.equal(client.reconnectAttempts, 2);
  assert.equal(client.closed, false);
  dialer.failing = false;
  const next = client.request(text("next"));
  await waitFor(() => dialer.transports.length === 2, "a new round");
  await tick();
  dialer.transports[1].deliver(encodeFrames([text("next")]));
  assert.equal(str(await next), "next");
  assert.equal(client.reconnectAttempts, 3);
  await client.close();
});

test("client: requests waiting for a reconnection time out as never sent", async () => {
  const dialer = fakeDialer();
  const client = await Client.dial(dialer.dial, {
    reconnect: { initialDelay: 60_000 },
    requestTimeout: 20,
  });
  drop(dialer.transports[0]);
  const error = await rejection(client.request(text("x")));
  assert.ok(error instanceof RequestTimeoutError);
  assert.equal(error.sent, false);
  assert.equal(error.message, "Cannot send request: timed out after 20 ms");
  assert.equal(client.waiting, 0);
  await client.close();
});

test("client: close() during the backoff stops reconnecting and rejects the waiting requests", async () => {
  const dialer = fakeDialer();
  const client = await Client.dial(dialer.dial, {
    reconnect: { initialDelay: 60_000 },
  });
  drop(dialer.transports[0]);
  const waiting = rejection(client.request(text("x")));
  await client.close();
  const error = await waiting;
  assert.ok(error instanceof ConnectionClosedError);
  assert.equal(
    error.message,
    "Cannot send request: client closed before reconnecting",
  );
  assert.equal(client.closed, true);
  assert.equal(client.reconnectAttempts, 0);
  assert.equal(dialer.calls, 1);
  await assert.rejects(client.request(text("y")), ConnectionClosedError);
});

test("client: close() while a redial is under way closes the new connection", async () => {
  const first = new PeerTransport();
  let finishDial: ((transport: FakeTransport) => void) | null = null;
  let calls = 0;
  const client = await Client.dial(() => {
    if (calls++ === 0) return Promise.resolve(first);
    return new Promise((resolve) => finishDial = resolve);
  }, { reconnect: { initialDelay: 0 } });
  drop(first);
  await waitFor(() => finishDial !== null, "the redial");
  let closed = false;
  const closing = client.close().then(() => closed = true);
  await tick();
  assert.equal(closed, false, "close() waits for the dial under way");
  const late = new PeerTransport();
  finishDial!(late);
  await closing;
  assert.equal(late.closedByCore, true);
  assert.equal(client.connected, false);
  assert.equal(client.reconnects, 0);
  assert.equal(client.reconnectAttempts, 1);
});

test("client: an oversized response header fails the requests in flight with a FrameTooLargeError cause", async () => {
  const transport = new FakeTransport();
  const client = new Client(transport, { maxFrameSize: 16 });
  const first = client.request(text("ok"));
  const second = rejection(client.request(text("too big")));
  await tick();
  const header = new Uint8Array(4);
  new DataView(header.buffer).setUint32(0, 17, true);
  transport.deliver(concat([encodeFrames([text("ok")]), header]));
  assert.equal(str(await first), "ok", "the frame before the bad header");
  const error = await second;
  assert.ok(error instanceof ConnectionClosedError);
  assert.ok(error.cause instanceof FrameTooLargeError);
  assert.equal(error.cause.length, 17);
  assert.equal(error.cause.maxFrameSize, 16);
  assert.equal(transport.closedByCore, true);
});

test("client: onDisconnect is not called when close() closes the connection", async () => {
  const disconnects: unknown[] = [];
  const transport = new PeerTransport();
  const client = new Client(transport, {
    onDisconnect: (error) => disconnects.push(error),
  });
  await client.close();
  assert.equal(transport.writeClosed, true);
  assert.deepEqual(disconnects, []);
  assert.equal(client.closed, true);
});

test("client: backoff delays grow by the factor up to maxDelay, less up to jitter", () => {
  const backoffOption = (reconnect: ClientOptions["reconnect"]) =>
    clientSettings({ reconnect }).backoff;
  const backoff = backoffOption({
    initialDelay: 100,
    maxDelay: 1000,
    factor: 3,
    jitter: 0.5,
  })!;
  const none = () => 0;
  const most = () => 0.999999;
  assert.deepEqual(
    [1, 2, 3, 4, 5].map((n) => backoffDelay(backoff, n, none)),
    [100, 300, 900, 1000, 1000],
  );
  assert.deepEqual(
    [1, 2, 3].map((n) => backoffDelay(backoff, n, most)),
    [50, 150, 450],
  );
  assert.deepEqual(backoffOption(true), {
    initialDelay: 100,
    maxDelay: 5000,
    factor: 2,
    jitter: 0.5,
    maxAttempts: 10,
  });
  assert.equal(backoffOption(false), null);
  assert.equal(backoffOption(undefined), null);
  assert.equal(backoffOption({ maxAttempts: Infinity })!.maxAttempts, Infinity);
});

test("client: rejects bad timeout and reconnect options, before dialing", async () => {
  const transport = new FakeTransport();
  assert.throws(
    () => new Client(transport, { requestTimeout: -1 }),
    RangeError,
  );
  assert.throws(
    () => new Client(transport, { requestTimeout: 1.5 }),
    TypeError,
  );
  assert.throws(
    () => new Client(transport, { reconnect: true }),
    /Cannot use reconnect: a client given one transport cannot redial; use Client.dial\(\)/,
  );
  assert.throws(
    () => new Client(transport, { onDisconnect: "no" as never }),
    TypeError,
  );
  let dials = 0;
  const dial = () => {
    dials++;
    return Promise.resolve(new FakeTransport());
  };
  for (
    const reconnect of [
      { factor: 0.5 },
      { jitter: 2 },
      { maxAttempts: 0 },
      { initialDelay: -1 },
      { initialDelay: 500, maxDelay: 100 },
    ]
  ) {
    await assert.rejects(Client.dial(dial, { reconnect }), RangeError);
  }
  await assert.rejects(Client.dial(dial, { maxInFlight: 0 }), RangeError);
  assert.equal(dials, 0);
});
