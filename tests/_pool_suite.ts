// The client pool over real loopback servers, written once as a function of
// a runtime's Network adapter: least-in-flight routing, an endpoint down at
// start that joins later, a graceful server close that loses nothing, a
// killed connection (idempotent requests retried once), request ids
// (u32le-id, dns) through the pool, close() draining, and the counters.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Server, type ServerOptions } from "../src/server.ts";
import { Pool, type PoolOptions } from "../src/pool.ts";
import { ConnectionClosedError } from "../src/errors.ts";
import type { Network } from "../src/transport.ts";
import { concat, delay, str, text, waitFor } from "./_helpers.ts";
import { startServer } from "./_network_suite.ts";

/** A free loopback port: bound by a server, then released. */
async function freePort(network: Network): Promise<number> {
  const { server, port } = await startServer(network);
  await server.close();
  return port;
}

/** A server on a given loopback port. */
async function serverOnPort(
  network: Network,
  port: number,
  options: ServerOptions = {},
): Promise<Server> {
  const server = new Server(options);
  await server.listen(network, { host: "127.0.0.1", port });
  return server;
}

/** An echo handler that answers after `ms` milliseconds. */
const slowEcho = (ms: number) => async (request: Uint8Array) => {
  await delay(ms);
  return request.slice();
};

const FAST_BACKOFF = { initialDelay: 10, maxDelay: 50 };

/** Registers the pool suite for one adapter. */
export function poolSuite(name: string, network: Network): void {
  const t = (title: string, fn: () => Promise<void>) =>
    test(`${name}: pool: ${title}`, fn);

  const poolOf = async (
    ports: number[],
    options: Partial<PoolOptions> = {},
  ): Promise<Pool> => {
    const pool = new Pool({
      endpoints: ports.map((port) => ({ host: "127.0.0.1", port })),
      connectionsPerEndpoint: 1,
      reconnect: FAST_BACKOFF,
      ...options,
      network,
    });
    await pool.ready();
    return pool;
  };

  t("least in flight spreads requests over the endpoints", async () => {
    const a = await startServer(network, { handler: slowEcho(20) });
    const b = await startServer(network, { handler: slowEcho(20) });
    const pool = await poolOf([a.port, b.port], { connectionsPerEndpoint: 2 });
    const bodies = Array.from({ length: 40 }, (_, i) => `r${i}`);
    const answers = await Promise.all(
      bodies.map((body) => pool.request(text(body))),
    );
    assert.deepEqual(answers.map(str), bodies);
    const [ea, eb] = pool.stats().endpoints;
    assert.equal(ea.sent, 20);
    assert.equal(eb.sent, 20);
    assert.equal(ea.answered + eb.answered, 40);
    assert.equal(ea.state, "up");
    assert.equal(ea.connected, 2);
    assert.equal(pool.stats().queued, 0);
    await pool.close();
    await a.server.close();
    await b.server.close();
  });

  t("an endpoint down at start is skipped, then joins", async () => {
    const a = await startServer(network, { handler: slowEcho(10) });
    const portB = await freePort(network);
    const pool = await poolOf([a.port, portB]);
    assert.notEqual(pool.stats().endpoints[1].state, "up");
    const first = await Promise.all(
      Array.from({ length: 10 }, (_, i) => pool.request(text(`a${i}`))),
    );
    assert.equal(first.length, 10);
    assert.equal(pool.stats().endpoints[0].sent, 10);
    assert.equal(pool.stats().endpoints[1].sent, 0);
    const b = await serverOnPort(network, portB, { handler: slowEcho(10) });
    await waitFor(() => pool.stats().endpoints[1].state === "up", "B up");
    await Promise.all(
      Array.from({ length: 10 }, (_, i) => pool.request(text(`b${i}`))),
    );
    assert.ok(pool.stats().endpoints[1].answered > 0, "B answers");
    await pool.close();
    await a.server.close();
    await b.close();
  });

  t("a server closed gracefully loses no request", async () => {
    let receivedA = 0;
    const a = await startServer(network, {
      handler: async (request) => {
        receivedA++;
        await delay(40);
        return request.slice();
      },
    });
    const b = await startServer(network, { handler: slowEcho(5) });
    const pool = await poolOf([a.port, b.port], { connectionsPerEndpoint: 2 });
    const bodies = Array.from({ length: 30 }, (_, i) => `g${i}`);
    const pending = bodies.map((body) => pool.request(text(body)));
    await waitFor(() => receivedA > 0, "A received requests");
    const closed = a.server.close();
    assert.deepEqual((await Promise.all(pending)).map(str), bodies);
    await closed;
    await waitFor(() => pool.stats().endpoints[0].state !== "up", "A down");
    const after = await pool.request(text("after"));
    assert.equal(str(after), "after");
    const stats = pool.stats().endpoints;
    assert.equal(stats[0].failed + stats[1].failed, 0);
    assert.equal(stats[0].answered + stats[1].answered, 31);
    await pool.close();
    await b.server.close();
  });

  t(
    "a killed connection rejects written requests; idempotent ones retry once",
    async () => {
      let heldA = 0;
      const a = await startServer(network, {
        handler: () => {
          heldA++;
          return new Promise<Uint8Array>(() => {});
        },
      });
      const portB = await freePort(network);
      const pool = await poolOf([a.port, portB]);
      const plain = pool.request(text("plain"));
      const idempotent = pool.request(text("again"), { idempotent: true });
      await waitFor(() => heldA === 2, "A holds both requests");
      const b = await serverOnPort(network, portB);
      await waitFor(() => pool.stats().endpoints[1].state === "up", "B up");
      // Handled before it rejects (Node reports a late handler).
      const plainRejects = assert.rejects(plain, (error: unknown) => {
        assert.ok(error instanceof ConnectionClosedError);
        assert.equal(error.sent, true);
        return true;
      });
      await a.server.close({ force: true });
      await plainRejects;
      assert.equal(str(await idempotent), "again");
      const [ea, eb] = pool.stats().endpoints;
      assert.equal(ea.failed, 1);
      assert.equal(ea.retried, 1);
      assert.equal(eb.answered, 1);
      await pool.close();
      await b.close();
    },
  );

  for (const [format, end] of [["u32le-id", 4], ["dns", 2]] as const) {
    t(`request ids (${format}) through the pool`, async () => {
      const handler = async (request: Uint8Array) => {
        await delay(request[request.length - 1] % 7); // out of order
        return concat([
          request.subarray(0, end),
          text("re:"),
          request.subarray(end),
        ]);
      };
      const a = await startServer(network, { format, handler });
      const b = await startServer(network, { format, handler });
      const pool = await poolOf([a.port, b.port], {
        format,
        connectionsPerEndpoint: 2,
      });
      const bodies = Array.from({ length: 60 }, (_, i) => `id${i}`);
      const answers = await Promise.all(
        bodies.map((body) =>
          pool.request(concat([new Uint8Array(end), text(body)]))
        ),
      );
      answers.forEach((answer, i) => {
        assert.equal(str(answer.subarray(end)), `re:${bodies[i]}`);
      });
      await pool.close();
      await a.server.close();
      await b.server.close();
    });
  }

  t("close() drains: answers come, then new requests reject", async () => {
    const a = await startServer(network, { handler: slowEcho(30) });
    const pool = await poolOf([a.port], { maxInFlight: 2 });
    const pending = Array.from(
      { length: 6 },
      (_, i) => pool.request(text(`c${i}`)),
    );
    const closed = pool.close();
    await assert.rejects(pool.request(text("late")), ConnectionClosedError);
    assert.deepEqual(
      (await Promise.all(pending)).map(str),
      ["c0", "c1", "c2", "c3", "c4", "c5"],
    );
    await closed;
    assert.equal(pool.stats().endpoints[0].state, "closed");
    assert.equal(pool.stats().endpoints[0].answered, 6);
    await a.server.close();
  });
}
