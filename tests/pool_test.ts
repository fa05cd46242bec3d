// The client pool over fake transports: a request lost before it was written
// is sent on another endpoint, one lost after it was written rejects, and
// endpoints are parsed and checked.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Pool } from "../src/pool.ts";
import { ConnectionClosedError, RequestTimeoutError } from "../src/errors.ts";
import type { ConnectOptions, Network } from "../src/transport.ts";
import { FakeTransport } from "./_fake_transport.ts";
import { concat, delay, str, text } from "./_helpers.ts";

/** A network of fake transports, by port, each dial recorded. */
function fakeNetwork() {
  const dialed: Array<{ port: number; transport: FakeTransport }> = [];
  const network: Network = {
    listen: () => Promise.reject(new Error("not here")),
    connect: (options: ConnectOptions) => {
      const transport = new FakeTransport();
      dialed.push({ port: options.port!, transport });
      return Promise.resolve(transport);
    },
  };
  return { network, dialed };
}

/** One u32le frame. */
function frame(payload: Uint8Array): Uint8Array {
  const header = new Uint8Array(4);
  new DataView(header.buffer).setUint32(0, payload.length, true);
  return concat([header, payload]);
}

const poolOn = async (network: Network) => {
  const pool = new Pool({
    endpoints: ["127.0.0.1:1", { port: 2 }],
    connectionsPerEndpoint: 1,
    reconnect: { initialDelay: 1000 },
    network,
  });
  await pool.ready();
  return pool;
};

test("pool: a request lost before it was written goes to another endpoint", async () => {
  const { network, dialed } = fakeNetwork();
  const pool = await poolOn(network);
  const [a, b] = dialed;
  const response = pool.request(text("once"));
  a.transport.events!.end(); // lost in the same tick: never written
  await delay(0);
  assert.equal(a.transport.writes.length, 0);
  assert.equal(b.transport.writes.length, 1);
  b.transport.deliver(frame(text("done")));
  assert.equal(str(await response), "done");
  const [ea, eb] = pool.stats().endpoints;
  assert.deepEqual([ea.sent, ea.retried, ea.failed], [1, 1, 0]);
  assert.deepEqual([eb.sent, eb.answered], [1, 1]);
  assert.equal(ea.state, "backoff");
  await pool.close({ force: true });
});

test("pool: a written request lost with its connection rejects, sent", async () => {
  const { network, dialed } = fakeNetwork();
  const pool = await poolOn(network);
  const [a, b] = dialed;
  const response = pool.request(text("once"));
  await delay(0);
  assert.equal(a.transport.writes.length, 1);
  a.transport.events!.end();
  await assert.rejects(response, (error: unknown) => {
    assert.ok(error instanceof ConnectionClosedError);
    assert.equal(error.sent, true);
    return true;
  });
  assert.equal(b.transport.writes.length, 0, "not replayed");
  assert.equal(pool.stats().endpoints[0].failed, 1);
  await pool.close({ force: true });
});

test("pool: endpoints are checked", () => {
  const { network } = fakeNetwork();
  assert.throws(() => new Pool({ endpoints: [], network }), TypeError);
  assert.throws(() => new Pool({ endpoints: ["nohost"], network }), TypeError);
  assert.throws(
    () => new Pool({ endpoints: [{ port: 70000 }], network }),
    RangeError,
  );
  assert.throws(
    () => new Pool({ endpoints: ["a:1"], connectionsPerEndpoint: 0, network }),
    RangeError,
  );
});

test("pool: with every endpoint down, requests wait in the pool until requestTimeout or abort", async () => {
  const network: Network = {
    listen: () => Promise.reject(new Error("not here")),
    connect: () => Promise.reject(new Error("refused")),
  };
  const pool = new Pool({
    endpoints: ["127.0.0.1:1"],
    requestTimeout: 20,
    reconnect: { initialDelay: 1000 },
    network,
  });
  await pool.ready();
  assert.equal(pool.stats().endpoints[0].state, "backoff");
  const controller = new AbortController();
  const aborted = pool.request(text("a"), { signal: controller.signal });
  const timed = pool.request(text("b"));
  assert.equal(pool.stats().queued, 2);
  controller.abort(new Error("stop"));
  await assert.rejects(aborted, /stop/);
  await assert.rejects(timed, (error: unknown) => {
    assert.ok(error instanceof RequestTimeoutError);
    assert.equal(error.sent, false);
    return true;
  });
  assert.equal(pool.stats().queued, 0);
  await pool.close();
});
