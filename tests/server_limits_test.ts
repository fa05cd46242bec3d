// Server limits and faults over real sockets, on every adapter of this
// runtime: maxConnections, the memory budget, the idle, stalled-frame,
// stalled-write and handler timeouts, resets, and close() under load. Every
// test ends by checking that the server still answers a fresh client.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Server, type ServerOptions } from "../src/server.ts";
import { Client } from "../src/client.ts";
import {
  ConnectionClosedError,
  ConnectionTimeoutError,
} from "../src/errors.ts";
import { encodeFrames } from "../src/frame_encoder.ts";
import type { Network } from "../src/transport.ts";
import { availableNetworks } from "./_runtime.ts";
import {
  delay,
  patternBytes,
  RawConnection,
  sameBytes,
  str,
  text,
  waitFor,
} from "./_helpers.ts";

const MiB = 1024 * 1024;

async function startServer(network: Network, options: ServerOptions = {}) {
  const errors: unknown[] = [];
  const server = new Server({
    onError: (error) => errors.push(error),
    ...options,
  });
  const addr = await server.listen(network, { host: "127.0.0.1", port: 0 });
  return { server, port: addr.port, errors };
}

async function openClient(network: Network, port: number): Promise<Client> {
  return new Client(await network.connect({ host: "127.0.0.1", port }));
}

async function assertServes(network: Network, port: number): Promise<void> {
  const client = await openClient(network, port);
  assert.equal(str(await client.request(text("still there?"))), "still there?");
  await client.close();
}

function timeoutReasons(errors: unknown[]): string[] {
  return errors.flatMap((e) =>
    e instanceof ConnectionTimeoutError ? [e.reason] : []
  );
}

/** A frame header declaring `length` payload bytes. */
function header(length: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, length, true);
  return bytes;
}

function limitsSuite(name: string, network: Network): void {
  const t = (title: string, fn: () => Promise<void>) =>
    test(`${name}: ${title}`, fn);

  t(
    "connections past maxConnections are closed at once and counted",
    async () => {
      const { server, port } = await startServer(network, {
        maxConnections: 3,
      });
      const kept = await Promise.all(
        [1, 2, 3].map(() => openClient(network, port)),
      );
      for (const client of kept) {
        assert.equal(str(await client.request(text("in"))), "in");
      }
      const flood = await Promise.all(
        Array.from({ length: 40 }, () => RawConnection.open(network, port)),
      );
      for (const raw of flood) raw.write(encodeFrames([text("let me in")]));
      await Promise.all(flood.map((raw) => raw.waitClosed()));
      assert.ok(flood.every((raw) => raw.frames.length === 0), "none answered");
      assert.equal(server.stats().rejectedConnections, 40);
      assert.equal(server.stats().connections, 3);
      for (const client of kept) {
        assert.equal(str(await client.request(text("still"))), "still");
      }
      await kept[0].close();
      await waitFor(() => server.stats().connections === 2, "a free place");
      await assertServes(network, port);
      await Promise.all(kept.slice(1).map((c) => c.close()));
      await server.close();
    },
  );

  t(
    "an idle connection is closed after idleTimeout; a busy one is not",
    async () => {
      const { server, port, errors } = await startServer(network, {
        idleTimeout: 300,
      });
      const idle = await RawConnection.open(network, port);
      const busy = await openClient(network, port);
      const started = Date.now();
      while (!idle.closed && Date.now() - started < 5_000) {
        assert.equal(str(await busy.request(text("ping"))), "ping");
        await delay(50);
      }
      assert.ok(idle.closed, "the idle connection was closed");
      assert.equal(server.stats().idleTimeouts, 1);
      assert.deepEqual(timeoutReasons(errors), ["idle"]);
      assert.equal(str(await busy.request(text("busy"))), "busy");
      await busy.close();
      await assertServes(network, port);
      await server.close();
    },
  );

  t(
    "a trickled frame (slowloris) is closed after frameTimeout, earlier requests answered",
    async () => {
      const { server, port, errors } = await startServer(network, {
        frameTimeout: 400,
      });
      const raw = await RawConnection.open(network, port);
      raw.write(encodeFrames([text("first")]));
      raw.write(header(100));
      for (let i = 0; i < 60 && !raw.closed; i++) {
        raw.write(new Uint8Array([i])); // one byte every 50 ms: never done in time
        await delay(50);
      }
      await raw.waitClosed();
      assert.deepEqual(raw.frames.map(str), ["first"]);
      assert.equal(server.stats().frameTimeouts, 1);
      assert.deepEqual(timeoutReasons(errors), ["frame"]);
      // A header that stops half-way is a stalled frame too.
      const half = await RawConnection.open(network, port);
      half.write(header(10).subarray(0, 2));
      await half.waitClosed();
      assert.equal(server.stats().frameTimeouts, 2);
      await assertServes(network, port);
      await server.close();
    },
  );

  t(
    "a peer that reads none of its responses is closed after writeTimeout",
    async () => {
      const { server, port, errors } = await startServer(network, {
        writeTimeout: 400,
        highWaterMark: 256 * 1024,
      });
      const raw = await RawConnection.open(network, port);
      raw.transport.pause(); // never reads
      const payload = patternBytes(2 * MiB, 3);
      for (let i = 0; i < 32; i++) raw.write(encodeFrames([payload]));
      await raw.waitClosed(15_000);
      assert.equal(server.stats().writeTimeouts, 1);
      assert.deepEqual(timeoutReasons(errors), ["write"]);
      await assertServes(network, port);
      await server.close();
    },
  );

  t(
    "a handler that exceeds handlerTimeout fails its connection cleanly",
    async () => {
      const { server, port, errors } = await startServer(network, {
        handlerTimeout: 300,
        handler: (request) =>
          str(request) === "hang"
            ? new Promise<Uint8Array>(() => {})
            : Promise.resolve(request),
      });
      const client = await openClient(network, port);
      const results = await Promise.allSettled(
        ["a", "hang", "c"].map((m) => client.request(text(m))),
      );
      assert.equal(results[0].status, "fulfilled");
      assert.equal(
        str((results[0] as PromiseFulfilledResult<Uint8Array>).value),
        "a",
      );
      for (const result of results.slice(1)) {
        assert.equal(result.status, "rejected");
        assert.ok(
          (result as PromiseRejectedResult).reason instanceof
            ConnectionClosedError,
        );
      }
      assert.equal(server.stats().handlerTimeouts, 1);
      assert.deepEqual(timeoutReasons(errors), ["handler"]);
      await client.close();
      await assertServes(network, port);
      await server.close();
    },
  );

  t(
    "over maxBufferedBytes, frames wait for memory and all complete in turn",
    async () => {
      const { server, port } = await startServer(network, {
        maxFrameSize: 4 * MiB,
        maxBufferedBytes: 4 * MiB,
      });
      const payloads = [0, 1, 2].map((i) => patternBytes(3 * MiB, i));
      const raws = await Promise.all(
        payloads.map(() => RawConnection.open(network, port)),
      );
      // Each starts a 3 MiB frame: only one fits in the budget at a time.
      raws.forEach((raw, i) =>
        raw.write(encodeFrames([payloads[i]]).subarray(0, 64 * 1024))
      );
      await waitFor(
        () => server.stats().memoryDeferrals >= 2,
        "frames to wait",
      );
      assert.ok(server.stats().bufferedBytes <= 4 * MiB);
      raws.forEach((raw, i) =>
        raw.write(encodeFrames([payloads[i]]).subarray(64 * 1024))
      );
      await waitFor(
        () => raws.every((raw) => raw.frames.length === 1),
        "every frame answered",
        20_000,
      );
      raws.forEach((raw, i) =>
        assert.ok(sameBytes(raw.frames[0], payloads[i]))
      );
      await waitFor(() => server.stats().bufferedBytes === 0, "memory to free");
      for (const raw of raws) raw.transport.close();
      await assertServes(network, port);
      await server.close();
    },
  );

  t("resets mid-frame and mid-response leave the server serving", async () => {
    const { server, port } = await startServer(network);
    for (let i = 0; i < 5; i++) {
      const midFrame = await RawConnection.open(network, port);
      midFrame.write(
        encodeFrames([patternBytes(100_000, i)]).subarray(0, 50_000),
      );
      await delay(10);
      midFrame.transport.close();
      const midResponse = await RawConnection.open(network, port);
      midResponse.transport.pause();
      midResponse.write(encodeFrames([patternBytes(8 * MiB, i)]));
      await delay(20);
      midResponse.transport.close();
    }
    await waitFor(() => server.stats().connections === 0, "all to close");
    await assertServes(network, port);
    await server.close();
  });

  t(
    "close() during heavy pipelining: each request is answered or rejected with ConnectionClosedError",
    async () => {
      const { server, port } = await startServer(network);
      const clients = await Promise.all(
        [1, 2, 3, 4].map(() => openClient(network, port)),
      );
      const sent: Array<{ payload: Uint8Array; result: Promise<Uint8Array> }> =
        [];
      const send = (from: number, to: number) => {
        for (let i = from; i < to; i++) {
          for (const client of clients) {
            const payload = patternBytes(i % 200, i);
            sent.push({ payload, result: client.request(payload) });
          }
        }
      };
      send(0, 2_000);
      await sent[0].result; // the server is busy with the first batch
      send(2_000, 4_000);
      const closing = server.close();
      send(4_000, 4_100);
      const settled = await Promise.allSettled(sent.map((s) => s.result));
      let answered = 0;
      settled.forEach((outcome, i) => {
        if (outcome.status === "fulfilled") {
          assert.ok(sameBytes(outcome.value, sent[i].payload), `request ${i}`);
          answered++;
        } else {
          assert.ok(
            outcome.reason instanceof ConnectionClosedError,
            String(outcome.reason),
          );
        }
      });
      assert.ok(answered > 0, "the requests before close() were answered");
      await closing;
      await Promise.all(clients.map((c) => c.close()));
      // A fresh server on the same network still serves.
      const again = await startServer(network);
      await assertServes(network, again.port);
      await again.server.close();
    },
  );
}

for (const [name, network] of availableNetworks()) limitsSuite(name, network);

test("handlerTime() times every async handler call and samples synchronous ones", async () => {
  const network = availableNetworks()[0][1];
  const { server, port } = await startServer(network, {
    handler: async (request) => {
      if (str(request) === "slow") await delay(30);
      return request;
    },
  });
  const client = await openClient(network, port);
  await Promise.all(
    ["slow", "slow", "slow", "slow"].map((m) => client.request(text(m))),
  );
  const time = server.handlerTime();
  assert.equal(time.samples, 4);
  assert.ok(time.p50 >= 20_000, `p50 ${time.p50} us`);
  assert.ok(time.max >= time.p50 && time.sum >= 4 * 20_000);
  await client.close();
  const sync = await startServer(network);
  const echo = await openClient(network, sync.port);
  await Promise.all(
    Array.from({ length: 640 }, (_, i) => echo.request(text(`${i}`))),
  );
  assert.equal(sync.server.handlerTime().samples, 10, "one call in 64");
  await echo.close();
  await sync.server.close();
  await server.close();
});
