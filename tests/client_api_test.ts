// The client's API over real loopback sockets, on every adapter this runtime
// supports: responses the caller owns (or views, with zeroCopy),
// cancellation with an AbortSignal, forced close and the errors after
// close(). Then the same rules over a fake transport, where the shape of each
// read is chosen by the test.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Client, connect, ConnectionClosedError, serve } from "../mod.ts";
import type { ClientConnectOptions, ServeOptions, Server } from "../mod.ts";
import { encodeFrames } from "../src/frame_encoder.ts";
import type { Network, Transport } from "../src/transport.ts";
import { availableNetworks } from "./_runtime.ts";
import { FakeTransport } from "./_fake_transport.ts";
import { patternBytes, str, text, waitFor } from "./_helpers.ts";

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

/** The error a promise rejects with (fails if it resolves). */
function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => assert.fail("expected a rejection"),
    (error) => error,
  );
}

/** Whether `bytes` alone fills its ArrayBuffer. */
function ownsBuffer(bytes: Uint8Array): boolean {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
}

/** Payloads of assorted sizes, a few large enough to span reads. */
function payloads(count: number, seed: number): Uint8Array[] {
  return Array.from(
    { length: count },
    (_, i) => patternBytes(i % 50 === 7 ? 200_000 + i : 1 + (i % 40), seed + i),
  );
}

/**
 * A server whose handler records the requests it receives (as text) and
 * answers with them, except that "hang" is never answered.
 */
async function recordingServer(network: Network, options: ServeOptions = {}) {
  const received: string[] = [];
  const server = await serve({
    network,
    host: "127.0.0.1",
    port: 0,
    handler: (request) => {
      received.push(str(request));
      if (str(request) === "hang") return new Promise(() => {});
      return request.slice();
    },
    ...options,
  });
  return { server, received, port: server.addr!.port };
}

function apiSuite(name: string, network: Network): void {
  const t = (title: string, fn: () => Promise<void>) =>
    test(`client api, ${name}: ${title}`, fn);
  const dial = (server: Server, options: ClientConnectOptions = {}) =>
    connect({
      network,
      host: "127.0.0.1",
      port: server.addr!.port,
      ...options,
    });

  t(
    "each pipelined response owns its memory: transferring one leaves the others intact",
    async () => {
      await using server = await serve({ network, host: "127.0.0.1", port: 0 });
      await using client = await dial(server);
      const sent = payloads(300, 1);
      const responses = await Promise.all(sent.map((p) => client.request(p)));
      for (const [i, response] of responses.entries()) {
        assert.ok(ownsBuffer(response), `response ${i} owns its buffer`);
        assert.deepEqual(response, sent[i]);
      }
      for (const i of [0, 150, 299]) {
        const moved = structuredClone(responses[i], {
          transfer: [responses[i].buffer as ArrayBuffer],
        });
        assert.equal(
          responses[i].byteLength,
          0,
          "the transferred one is detached",
        );
        assert.deepEqual(moved, sent[i]);
      }
      // Later traffic (reads into reused memory included) changes none of them.
      const later = payloads(300, 9999);
      const again = await Promise.all(later.map((p) => client.request(p)));
      for (const [i, response] of responses.entries()) {
        if (i !== 0 && i !== 150 && i !== 299) {
          assert.deepEqual(response, sent[i]);
        }
        assert.deepEqual(again[i], later[i]);
      }
    },
  );

  t(
    "zeroCopy: responses are views of the bytes read, never overwritten",
    async () => {
      await using server = await serve({ network, host: "127.0.0.1", port: 0 });
      await using client = await dial(server, { zeroCopy: true });
      const sent = payloads(300, 2);
      const responses = await Promise.all(sent.map((p) => client.request(p)));
      assert.deepEqual(responses, sent);
      assert.ok(
        responses.some((response) => !ownsBuffer(response)),
        "small responses are views of a read, headers included",
      );
      const later = payloads(300, 7777);
      assert.deepEqual(
        await Promise.all(later.map((p) => client.request(p))),
        later,
      );
      assert.deepEqual(responses, sent, "no view was overwritten");
    },
  );

  t(
    "a request whose signal is already aborted rejects with its reason and is not sent",
    async () => {
      const { server, received } = await recordingServer(network);
      await using _ = server;
      await using client = await dial(server);
      const reason = new Error("never mind");
      const signal = AbortSignal.abort(reason);
      assert.equal(
        await rejection(client.request(text("no"), { signal })),
        reason,
      );
      assert.equal(str(await client.request(text("yes"))), "yes");
      assert.deepEqual(received, ["yes"]);
    },
  );

  t(
    "a request aborted in the tick it was made is not sent; the connection stays",
    async () => {
      const { server, received } = await recordingServer(network);
      await using _ = server;
      await using client = await dial(server);
      const controller = new AbortController();
      const before = client.request(text("before"));
      const aborted = client.request(text("aborted"), {
        signal: controller.signal,
      });
      const after = client.request(text("after"));
      controller.abort();
      const reason = await rejection(aborted);
      assert.equal(reason, controller.signal.reason);
      assert.equal((reason as Error).name, "AbortError");
      assert.equal(str(await before), "before");
      assert.equal(str(await after), "after");
      assert.deepEqual(received, ["before", "after"]);
      assert.equal(client.connected, true);
      assert.equal(server.stats().totalConnections, 1);
    },
  );

  t(
    "a request aborted while waiting for a free place is not sent",
    async () => {
      const { server, received } = await recordingServer(network);
      await using client = await dial(server, { maxInFlight: 1 });
      const controller = new AbortController();
      const hung = rejection(client.request(text("hang")));
      const waiting = client.request(text("waiting"), {
        signal: controller.signal,
      });
      await waitFor(() => received.length === 1, "the server to get a request");
      assert.equal(client.waiting, 1);
      const reason = new Error("stop waiting");
      controller.abort(reason);
      assert.equal(await rejection(waiting), reason);
      assert.equal(client.waiting, 0);
      assert.equal(client.inFlight, 1);
      await client.destroy();
      assert.ok((await hung) instanceof ConnectionClosedError);
      assert.deepEqual(received, ["hang"]);
      await server.close({ force: true });
    },
  );

  t(
    "aborting a written request closes the connection; the others reject with the reason as cause",
    async () => {
      const { server, received } = await recordingServer(network);
      const disconnects: ConnectionClosedError[] = [];
      const client = await dial(server, {
        onDisconnect: (error) => disconnects.push(error),
      });
      const controller = new AbortController();
      const hung = client.request(text("hang"), { signal: controller.signal });
      const behind = rejection(client.request(text("hang")));
      await waitFor(() => received.length === 2, "the server to get both");
      const reason = new Error("too slow");
      controller.abort(reason);
      assert.equal(await rejection(hung), reason);
      const error = await behind;
      assert.ok(error instanceof ConnectionClosedError);
      assert.equal(error.cause, reason);
      assert.match(
        error.message,
        /connection closed after a request was aborted/,
      );
      assert.equal(client.closed, true);
      assert.equal(disconnects.length, 1);
      assert.equal(disconnects[0].cause, reason);
      await client.close();
      await server.close({ force: true });
    },
  );

  t(
    "one signal aborts its requests written and waiting alike; the others reject with it as cause",
    async () => {
      const { server, received } = await recordingServer(network);
      const client = await dial(server, { maxInFlight: 3 });
      const other = rejection(client.request(text("hang")));
      const controller = new AbortController();
      const signal = controller.signal;
      const mine = ["hang", "hang", "w1", "w2"].map((s) =>
        rejection(client.request(text(s), { signal }))
      );
      await waitFor(() => received.length === 3, "the server to get three");
      assert.equal(client.waiting, 2);
      controller.abort();
      for (const error of await Promise.all(mine)) {
        assert.equal(error, signal.reason);
      }
      const error = await other;
      assert.ok(error instanceof ConnectionClosedError);
      assert.equal(error.cause, signal.reason);
      assert.deepEqual(received, ["hang", "hang", "hang"]);
      await client.close();
      await server.close({ force: true });
    },
  );

  t(
    "with reconnect, a request after an abort goes out on a new connection",
    async () => {
      const { server, received } = await recordingServer(network);
      const client = await dial(server, { reconnect: { initialDelay: 10 } });
      const controller = new AbortController();
      const hung = client.request(text("hang"), { signal: controller.signal });
      await waitFor(() => received.length === 1, "the server to get it");
      controller.abort();
      assert.equal(await rejection(hung), controller.signal.reason);
      assert.equal(str(await client.request(text("after"))), "after");
      assert.equal(client.reconnects, 1);
      assert.equal(server.stats().totalConnections, 2);
      await client.close();
      await server.close({ force: true });
    },
  );

  t(
    "a signal shared by 100,000 requests has one listener, none once they settle",
    async () => {
      await using server = await serve({ network, host: "127.0.0.1", port: 0 });
      await using client = await dial(server);
      const signal = new AbortController().signal;
      let listeners = 0;
      let added = 0;
      const add = signal.addEventListener.bind(signal);
      const remove = signal.removeEventListener.bind(signal);
      Object.assign(signal, {
        addEventListener(type: string, listener: EventListener) {
          listeners++;
          added++;
          add(type, listener);
        },
        removeEventListener(type: string, listener: EventListener) {
          listeners--;
          remove(type, listener);
        },
      });
      const payload = text("x");
      for (let round = 0; round < 10; round++) {
        const batch = Array.from(
          { length: 10_000 },
          () => client.request(payload, { signal }),
        );
        assert.equal(listeners, 1, "one listener for them all");
        await Promise.all(batch);
        assert.equal(listeners, 0);
      }
      assert.equal(added, 10);
    },
  );

  t(
    "close({ force: true }) rejects the requests in flight and waiting at once",
    async () => {
      const { server } = await recordingServer(network, {
        handler: () => new Promise(() => {}),
      });
      const client = await dial(server, { maxInFlight: 2 });
      const requests = [1, 2, 3].map((i) =>
        rejection(client.request(text(`${i}`)))
      );
      await waitFor(() => server.stats().framesIn === 2, "two requests in");
      assert.equal(client.waiting, 1);
      await client.close({ force: true });
      for (const error of await Promise.all(requests)) {
        assert.ok(error instanceof ConnectionClosedError);
        assert.match(error.message, /client was destroyed/);
      }
      assert.equal(client.closed, true);
      const after = await rejection(client.request(text("after")));
      assert.ok(after instanceof ConnectionClosedError);
      assert.equal(after.message, "Cannot send request: client is closed");
      await server.close({ force: true });
    },
  );

  t("destroy() ends a graceful close that waits for answers", async () => {
    const { server } = await recordingServer(network, {
      handler: () => new Promise(() => {}),
    });
    const client = await dial(server);
    const request = rejection(client.request(text("1")));
    await waitFor(() => server.stats().framesIn === 1, "the request in");
    const closing = client.close();
    const late = await rejection(client.request(text("late")));
    assert.equal(
      (late as Error).message,
      "Cannot send request: client is closing",
    );
    await client.destroy();
    await closing;
    const error = await request;
    assert.ok(error instanceof ConnectionClosedError);
    assert.equal(
      error.message,
      "Cannot complete request: client was destroyed",
    );
    await server.close({ force: true });
  });

  t(
    "close({ timeout }) closes by force once the timeout has passed",
    async () => {
      const { server } = await recordingServer(network, {
        handler: () => new Promise(() => {}),
      });
      const client = await dial(server);
      const request = rejection(client.request(text("1")));
      await waitFor(() => server.stats().framesIn === 1, "the request in");
      await client.close({ timeout: 20 });
      assert.match((await request as Error).message, /client was destroyed/);
      await server.close({ force: true });
    },
  );

  t("close({ timeout }) that the answers beat closes gracefully", async () => {
    await using server = await serve({ network, host: "127.0.0.1", port: 0 });
    const client = await dial(server);
    const requests = ["a", "b"].map((s) => client.request(text(s)));
    await client.close({ timeout: 60_000 });
    assert.deepEqual((await Promise.all(requests)).map(str), ["a", "b"]);
  });

  t(
    'after close(), requests reject with "client is closed", not the peer\'s FIN',
    async () => {
      await using server = await serve({ network, host: "127.0.0.1", port: 0 });
      const client = await dial(server);
      assert.equal(str(await client.request(text("x"))), "x");
      await client.close();
      const error = await rejection(client.request(text("y")));
      assert.ok(error instanceof ConnectionClosedError);
      assert.equal(error.message, "Cannot send request: client is closed");
      await client.close(); // again: same outcome
      let disposed: Client | null = null;
      {
        await using scoped = await dial(server);
        disposed = scoped;
        assert.equal(str(await scoped.request(text("z"))), "z");
      }
      assert.equal(disposed.closed, true);
    },
  );

  t("a connection the server closes keeps its own message", async () => {
    const server = await serve({ network, host: "127.0.0.1", port: 0 });
    const client = await dial(server);
    assert.equal(str(await client.request(text("x"))), "x");
    await server.close({ force: true });
    await waitFor(() => client.closed, "the client to see the close");
    const error = await rejection(client.request(text("y")));
    assert.ok(error instanceof ConnectionClosedError);
    assert.match(error.message, /^Cannot complete request: connection closed/);
    await client.close();
  });
}

for (const [name, network] of availableNetworks()) apiSuite(name, network);

// Over a fake transport: reads of a chosen shape.

/** Frames of `texts`, as the server would send them. */
const wire = (...texts: string[]) => encodeFrames(texts.map(text));

test("client api: a response inside a read is copied out of it; the read's memory may be reused", async () => {
  const transport = new FakeTransport();
  const client = new Client(transport);
  const pending = ["a", "b", "c"].map((s) => client.request(text(s)));
  await tick();
  const frames = wire("A", "B", "C");
  // "C" has its header split over two reads: a view of the second one.
  assert.equal(transport.deliver(frames.subarray(0, 12)), true);
  assert.equal(transport.deliver(frames.subarray(12)), true);
  const responses = await Promise.all(pending);
  assert.deepEqual(responses.map(str), ["A", "B", "C"]);
  for (const response of responses) assert.ok(ownsBuffer(response));
  frames.fill(0); // the transport reuses its memory
  assert.deepEqual(responses.map(str), ["A", "B", "C"]);
});

test("client api: zeroCopy passes views and tells the transport to keep the read", async () => {
  const transport = new FakeTransport();
  const client = new Client(transport, { zeroCopy: true });
  const pending = ["a", "b", "c", "d"].map((s) => client.request(text(s)));
  await tick();
  const frames = wire("A", "B", "C", "DDDD");
  assert.equal(transport.deliver(frames.subarray(0, 12)), false, "A, B");
  assert.equal(transport.deliver(frames.subarray(12, 20)), false, "C");
  // "DDDD" spread over reads is assembled in a buffer of its own.
  assert.equal(transport.deliver(frames.subarray(20)), true);
  const [a, b, c, d] = await Promise.all(pending);
  assert.deepEqual([a, b, c, d].map(str), ["A", "B", "C", "DDDD"]);
  assert.equal(a.buffer, frames.buffer);
  assert.equal(b.buffer, frames.buffer);
  assert.equal(c.buffer, frames.buffer);
  assert.ok(ownsBuffer(d));
});

test("client api: a request aborted while waiting for a reconnection is never sent", async () => {
  const first = new FakeTransport();
  const second = new FakeTransport();
  let finishDial: ((transport: Transport) => void) | null = null;
  let dials = 0;
  const client = await Client.dial(
    () =>
      dials++ === 0 ? Promise.resolve(first) : new Promise<Transport>((
        resolve,
      ) => finishDial = resolve),
    { reconnect: { initialDelay: 0 } },
  );
  first.events!.closed(new Error("gone"));
  const controller = new AbortController();
  const aborted = client.request(text("aborted"), {
    signal: controller.signal,
  });
  const kept = client.request(text("kept"));
  assert.equal(client.waiting, 2);
  controller.abort();
  assert.equal(await rejection(aborted), controller.signal.reason);
  assert.equal(client.waiting, 1);
  await waitFor(() => finishDial !== null, "the redial");
  finishDial!(second);
  await tick();
  assert.deepEqual(second.writes, [wire("kept")]);
  second.deliver(wire("KEPT"));
  assert.equal(str(await kept), "KEPT");
  await client.destroy();
});

test("client api: aborting some of many waiting requests keeps the others in order", async () => {
  const transport = new FakeTransport();
  const client = new Client(transport, { maxInFlight: 1 });
  const controllers = Array.from({ length: 300 }, () => new AbortController());
  const requests = controllers.map((controller, i) =>
    client.request(text(`${i}`), { signal: controller.signal }).then(
      str,
      () => "aborted",
    )
  );
  controllers.forEach((controller, i) => {
    if (i > 0 && i % 3 !== 0) controller.abort();
  });
  assert.equal(client.waiting, 99);
  for (let i = 0; i < 300; i += 3) {
    await tick();
    transport.deliver(wire(`${i}`));
  }
  const answers = await Promise.all(requests);
  answers.forEach((answer, i) =>
    assert.equal(answer, i > 0 && i % 3 !== 0 ? "aborted" : `${i}`)
  );
  const sent = transport.writes.map((bytes) => bytes.length);
  assert.equal(sent.length, 100, "one write per request kept");
  await client.destroy();
});

test("client api: bad request and close options are refused", async () => {
  const transport = new FakeTransport();
  assert.throws(
    () => new Client(transport, { zeroCopy: "yes" as unknown as boolean }),
    TypeError,
  );
  const client = new Client(transport);
  await assert.rejects(
    client.request(text("x"), { signal: {} as AbortSignal }),
    TypeError,
  );
  assert.throws(
    () => client.close({ force: 1 as unknown as boolean }),
    TypeError,
  );
  assert.throws(() => client.close({ timeout: -1 }), RangeError);
  assert.throws(() => client.close({ timeout: 1.5 }), TypeError);
  await client.destroy();
});
