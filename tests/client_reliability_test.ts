// The client's request timeout, reconnection and response size limit over
// real loopback sockets, run against every adapter this runtime supports.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "../src/adapters/auto.ts";
import { Server, type ServerOptions } from "../src/server.ts";
import {
  ConnectionClosedError,
  FrameTooLargeError,
  RequestTimeoutError,
} from "../src/errors.ts";
import { encodeFrames } from "../src/frame_encoder.ts";
import type { Network } from "../src/transport.ts";
import { availableNetworks } from "./_runtime.ts";
import { delay, RawConnection, str, text, waitFor } from "./_helpers.ts";

async function startServer(
  network: Network,
  options: ServerOptions = {},
  port = 0,
) {
  const server = new Server(options);
  const addr = await server.listen(network, { host: "127.0.0.1", port });
  return { server, port: addr.port };
}

/**
 * A server that echoes, except that it holds "hang" until `release()`. (The
 * held handlers are released before the server closes: a connection whose
 * peer has gone while a handler is still pending is only let go once the
 * handler settles.)
 */
async function hangingServer(network: Network) {
  const held: Array<() => void> = [];
  const started = await startServer(network, {
    handler: (request) => {
      if (str(request) !== "hang") return request;
      const copy = request.slice();
      return new Promise<Uint8Array>((resolve) =>
        held.push(() => resolve(copy))
      );
    },
  });
  return {
    ...started,
    release: () => held.splice(0).forEach((resolve) => resolve()),
  };
}

/** A listener whose connections are driven by hand (frames recorded, replies written by the test). */
async function rawServer(network: Network) {
  const connections: RawConnection[] = [];
  const listener = await network.listen(
    { host: "127.0.0.1", port: 0 },
    (transport) => connections.push(new RawConnection(transport)),
  );
  return {
    port: listener.addr.port,
    connections,
    framesReceived: () =>
      connections.reduce((n, connection) => n + connection.frames.length, 0),
    async close() {
      listener.close();
      for (const connection of connections) connection.transport.close();
      await Promise.all(connections.map((c) => c.waitClosed()));
    },
  };
}

function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => assert.fail("expected a rejection"),
    (error) => error,
  );
}

function reliabilitySuite(name: string, network: Network): void {
  const t = (title: string, fn: () => Promise<void>) =>
    test(`${name}: ${title}`, fn);

  t(
    "a request timeout rejects it, fails the others in flight and closes the client",
    async () => {
      const { server, port, release } = await hangingServer(network);
      const client = await connect({
        network,
        host: "127.0.0.1",
        port,
        requestTimeout: 500,
      });
      assert.equal(str(await client.request(text("before"))), "before");
      const hung = rejection(client.request(text("hang")));
      const behind = [1, 2].map((i) => rejection(client.request(text(`${i}`))));
      const timeout = await hung;
      assert.ok(timeout instanceof RequestTimeoutError);
      assert.equal(timeout.sent, true);
      for (const error of await Promise.all(behind)) {
        assert.ok(error instanceof ConnectionClosedError);
        assert.equal(error.cause, timeout);
      }
      assert.equal(client.closed, true);
      assert.equal(client.inFlight, 0);
      await assert.rejects(
        client.request(text("after")),
        (error: unknown) =>
          error instanceof ConnectionClosedError &&
          error.cause instanceof RequestTimeoutError,
      );
      await client.close();
      release();
      await server.close();
    },
  );

  t(
    "with reconnect, a request after a timeout goes out on a new connection",
    async () => {
      const { server, port, release } = await hangingServer(network);
      const disconnects: ConnectionClosedError[] = [];
      const client = await connect({
        network,
        host: "127.0.0.1",
        port,
        requestTimeout: 500,
        reconnect: { initialDelay: 10 },
        onDisconnect: (error) => disconnects.push(error),
      });
      const hung = rejection(client.request(text("hang")));
      const behind = rejection(client.request(text("behind")));
      assert.ok((await hung) instanceof RequestTimeoutError);
      assert.ok((await behind) instanceof ConnectionClosedError);
      assert.equal(str(await client.request(text("after"))), "after");
      assert.equal(client.closed, false);
      assert.equal(client.connected, true);
      assert.equal(client.reconnects, 1);
      assert.equal(disconnects.length, 1);
      assert.ok(disconnects[0].cause instanceof RequestTimeoutError);
      assert.equal(server.stats().totalConnections, 2);
      await client.close();
      release();
      await server.close();
    },
  );

  t(
    "requestTimeout leaves answered requests alone: 2,000 pipelined",
    async () => {
      const { server, port } = await startServer(network);
      const client = await connect({
        network,
        host: "127.0.0.1",
        port,
        requestTimeout: 10_000,
        maxInFlight: 100,
      });
      const responses = await Promise.all(
        Array.from({ length: 2000 }, (_, i) => client.request(text(`${i}`))),
      );
      responses.forEach((response, i) => assert.equal(str(response), `${i}`));
      await client.close(); // also stops the timeout timer
      await server.close();
    },
  );

  t(
    "reconnects with backoff after the server restarts on the same port",
    async () => {
      const first = await startServer(network);
      const port = first.port;
      const reconnected: number[] = [];
      const disconnects: ConnectionClosedError[] = [];
      const client = await connect({
        network,
        host: "127.0.0.1",
        port,
        reconnect: { initialDelay: 10, maxDelay: 40, maxAttempts: Infinity },
        onReconnect: (attempt) => reconnected.push(attempt),
        onDisconnect: (error) => disconnects.push(error),
      });
      assert.equal(str(await client.request(text("one"))), "one");
      await first.server.close();
      await waitFor(() => client.reconnectAttempts >= 3, "failed redials");
      assert.equal(client.connected, false);
      assert.equal(client.closed, false);
      assert.equal(disconnects.length, 1);
      const second = await startServer(network, {}, port);
      assert.equal(str(await client.request(text("two"))), "two");
      assert.equal(client.reconnects, 1);
      assert.equal(reconnected.length, 1);
      assert.ok(
        reconnected[0] >= 3,
        `reconnected on attempt ${reconnected[0]}`,
      );
      assert.equal(second.server.stats().framesIn, 1);
      await client.close();
      await second.server.close();
    },
  );

  t(
    "requests in flight when the connection drops are rejected, never sent again",
    async () => {
      const raw = await rawServer(network);
      const client = await connect({
        network,
        host: "127.0.0.1",
        port: raw.port,
        reconnect: { initialDelay: 10 },
      });
      const sent = Array.from(
        { length: 5 },
        (_, i) => rejection(client.request(text(`r${i}`))),
      );
      await waitFor(() => raw.framesReceived() === 5, "five requests");
      raw.connections[0].transport.close(); // the server drops the connection unanswered
      for (const error of await Promise.all(sent)) {
        assert.ok(error instanceof ConnectionClosedError);
      }
      const after = client.request(text("after"));
      await waitFor(() => raw.connections.length === 2, "the reconnection");
      const second = raw.connections[1];
      await waitFor(() => second.frames.length === 1, "the new request");
      second.write(encodeFrames([text("AFTER")]));
      assert.equal(str(await after), "AFTER");
      // Had anything been resent, it would have arrived before "after".
      assert.deepEqual(second.frames.map(str), ["after"]);
      assert.equal(raw.framesReceived(), 6);
      await client.close();
      await raw.close();
    },
  );

  t("close() during the backoff ends cleanly and stops redialing", async () => {
    const { server, port } = await startServer(network);
    const client = await connect({
      network,
      host: "127.0.0.1",
      port,
      reconnect: { initialDelay: 5, maxDelay: 10, maxAttempts: Infinity },
    });
    assert.equal(str(await client.request(text("x"))), "x");
    await server.close();
    await waitFor(() => client.reconnectAttempts >= 2, "failed redials");
    const waiting = rejection(client.request(text("waiting")));
    await client.close();
    const error = await waiting;
    assert.ok(error instanceof ConnectionClosedError);
    assert.equal(
      error.message,
      "Cannot send request: client closed before reconnecting",
    );
    assert.equal(client.closed, true);
    const attempts = client.reconnectAttempts;
    await delay(50);
    assert.equal(client.reconnectAttempts, attempts, "no redial after close()");
    await assert.rejects(client.request(text("late")), ConnectionClosedError);
  });

  t(
    "an oversized response header fails the requests in flight and closes the connection",
    async () => {
      const raw = await rawServer(network);
      const client = await connect({
        network,
        host: "127.0.0.1",
        port: raw.port,
        maxFrameSize: 1024,
      });
      const first = client.request(text("a"));
      const second = rejection(client.request(text("b")));
      await waitFor(() => raw.framesReceived() === 2, "both requests");
      const header = new Uint8Array(4);
      new DataView(header.buffer).setUint32(0, 1025, true);
      raw.connections[0].write(encodeFrames([text("A")]));
      raw.connections[0].write(header); // and no payload: refused from the header
      assert.equal(str(await first), "A");
      const error = await second;
      assert.ok(error instanceof ConnectionClosedError);
      assert.ok(error.cause instanceof FrameTooLargeError);
      assert.equal(error.cause.length, 1025);
      assert.equal(error.cause.maxFrameSize, 1024);
      await raw.connections[0].waitClosed(); // the client closed it
      assert.equal(client.closed, true);
      await client.close();
      await raw.close();
    },
  );
}

for (const [name, network] of availableNetworks()) {
  reliabilitySuite(name, network);
}
