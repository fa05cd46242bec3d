// The drain notice over real loopback connections, written once as a function
// of a runtime's Network adapter. A server with `drainNotice` that closes
// while requests are on their way ends the connection with the notice: the
// requests it discarded unread come back to the client as never processed
// (`sent: false`), a reconnecting client sends them on its next connection
// and a pool on another endpoint, so each request runs exactly once. Without
// the notice they reject as maybe processed. The server sends the notice on
// close() and an idle timeout, never after a handler error.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Server, ServerOptions } from "../src/server.ts";
import { Client } from "../src/client.ts";
import { Pool } from "../src/pool.ts";
import { ConnectionClosedError, DrainNoticeError } from "../src/errors.ts";
import type { Network } from "../src/transport.ts";
import { encodeFrame } from "../src/frame_encoder.ts";
import { concat, RawConnection, str, text, waitFor } from "./_helpers.ts";
import { startServer } from "./_network_suite.ts";

/** How many requests each test pipelines at once. */
const BATCH = 10;

/**
 * A server whose echo closes it gracefully on the first request it gets:
 * the requests behind that one are never processed. `ran` lists every
 * request the handler processed.
 */
async function closingServer(
  network: Network,
  options: ServerOptions = {},
): Promise<{ server: Server; port: number; ran: string[] }> {
  const ran: string[] = [];
  const started = await startServer(network, {
    ...options,
    handler: (request) => {
      ran.push(str(request.subarray(idBytes(options))));
      if (ran.length === 1) started.server.close();
      return request.slice();
    },
  });
  return { ...started, ran };
}

/** The bytes a request gives its id (u32le-id: the first 4), else 0. */
const idBytes = (options: ServerOptions) =>
  options.format === "u32le-id" ? 4 : 0;

/** An echo server recording what it processed. */
async function recordingServer(network: Network) {
  const ran: string[] = [];
  const started = await startServer(network, {
    handler: (request) => {
      ran.push(str(request));
      return request.slice();
    },
  });
  return { ...started, ran };
}

const bodies = (prefix: string) =>
  Array.from({ length: BATCH }, (_, i) => `${prefix}${i}`);

/** Each settled result: the answer's text, or the error. */
async function settle(
  requests: Promise<Uint8Array>[],
): Promise<Array<string | unknown>> {
  return await Promise.all(requests.map((r) => r.then(str, (error) => error)));
}

/** Registers the drain notice suite for one adapter. */
export function drainNoticeSuite(name: string, network: Network): void {
  const t = (title: string, fn: () => Promise<void>) =>
    test(`${name}: drain notice: ${title}`, fn);

  for (const format of ["u32le", "u32le-id"] as const) {
    t(
      `(${format}) requests the server discarded reject as not sent`,
      async () => {
        const a = await closingServer(network, { drainNotice: true, format });
        const client = await Client.dial(
          () => network.connect({ host: "127.0.0.1", port: a.port }),
          { format },
        );
        const id = new Uint8Array(idBytes({ format }));
        const results = await settle(
          bodies("n").map((b) => client.request(concat([id, text(b)]))),
        );
        assert.deepEqual(a.ran, ["n0"], "the server processed one request");
        assert.equal((results[0] as string).slice(id.length), "n0");
        for (const result of results.slice(1)) {
          assert.ok(result instanceof ConnectionClosedError, String(result));
          assert.equal(result.sent, false);
          assert.ok(result.cause instanceof DrainNoticeError);
        }
        await client.close();
      },
    );
  }

  t("without the notice, the same requests reject as maybe sent", async () => {
    const a = await closingServer(network);
    const client = await Client.dial(
      () => network.connect({ host: "127.0.0.1", port: a.port }),
    );
    const results = await settle(
      bodies("m").map((b) => client.request(text(b))),
    );
    assert.deepEqual(a.ran, ["m0"]);
    for (const result of results.slice(1)) {
      assert.ok(result instanceof ConnectionClosedError, String(result));
      assert.equal(result.sent, true);
    }
    await client.close();
  });

  t("a reconnecting client sends them on its next connection", async () => {
    const a = await closingServer(network, { drainNotice: true });
    const b = await recordingServer(network);
    const ports = [a.port, b.port];
    let dials = 0;
    const client = await Client.dial(
      () => network.connect({ host: "127.0.0.1", port: ports[dials++] ?? 0 }),
      { reconnect: { initialDelay: 10, maxAttempts: 1 } },
    );
    const sent = bodies("r");
    const results = await settle(sent.map((b) => client.request(text(b))));
    assert.deepEqual(results, sent);
    assert.deepEqual(a.ran, ["r0"]);
    assert.deepEqual(b.ran, sent.slice(1), "each request ran once, in order");
    await client.close();
    await b.server.close();
  });

  t("a pool sends them to another endpoint: each runs once", async () => {
    const a = await closingServer(network, { drainNotice: true });
    const b = await recordingServer(network);
    const pool = new Pool({
      endpoints: [a.port, b.port].map((port) => ({ host: "127.0.0.1", port })),
      connectionsPerEndpoint: 1,
      reconnect: { initialDelay: 10, maxDelay: 50 },
      network,
    });
    await pool.ready();
    const sent = bodies("p").concat(bodies("q"));
    const results = await settle(sent.map((b) => pool.request(text(b))));
    assert.deepEqual(results, sent);
    assert.equal(a.ran.length, 1);
    assert.deepEqual([...a.ran, ...b.ran].sort(), [...sent].sort());
    const [ea, eb] = pool.stats().endpoints;
    assert.equal(ea.retried, ea.sent - 1, "A's unprocessed requests moved");
    assert.equal(ea.failed + eb.failed, 0);
    await pool.close();
    await b.server.close();
  });

  t("an idle timeout ends with the notice too", async () => {
    const { server, port } = await startServer(network, {
      drainNotice: true,
      idleTimeout: 50,
      onError: () => {},
    });
    const raw = await RawConnection.open(network, port, undefined, true);
    raw.write(encodeFrame(text("hi")));
    await raw.waitClosed();
    assert.deepEqual(raw.frames.map(str), ["hi"]);
    assert.ok(raw.notice, "the drain notice came after the answer");
    await server.close();
  });

  t("a handler error ends without it", async () => {
    const { server, port } = await startServer(network, {
      drainNotice: true,
      handler: (request) => {
        if (str(request) === "fail") throw new Error("handler failed");
        return request.slice();
      },
      onError: () => {},
    });
    const raw = await RawConnection.open(network, port, undefined, true);
    raw.write(encodeFrame(text("ok")));
    raw.write(encodeFrame(text("fail")));
    await raw.waitClosed();
    assert.deepEqual(raw.frames.map(str), ["ok"]);
    assert.equal(raw.notice, false);
    await server.close();
  });

  t("close() ends an idle connection with the notice", async () => {
    const { server, port } = await startServer(network, { drainNotice: true });
    const raw = await RawConnection.open(network, port, undefined, true);
    raw.write(encodeFrame(text("x")));
    await waitFor(() => raw.frames.length === 1, "the answer");
    assert.equal(raw.notice, false, "no notice while the server serves");
    await server.close();
    await raw.waitClosed();
    assert.ok(raw.notice);
  });
}
