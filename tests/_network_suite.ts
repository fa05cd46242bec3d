// The integration suite, written once as a function of a runtime's Network
// adapter and run against every adapter the current runtime supports.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Server, type ServerOptions } from "../src/server.ts";
import { Client, type ClientOptions } from "../src/client.ts";
import { ConnectionClosedError, FrameTooLargeError } from "../src/errors.ts";
import { encodeFrames } from "../src/frame_encoder.ts";
import type { Network } from "../src/transport.ts";
import {
  delay,
  patternBytes,
  RawConnection,
  sameBytes,
  str,
  text,
  waitFor,
} from "./_helpers.ts";

/** A server listening on a free loopback port with `network`. */
export async function startServer(
  network: Network,
  options: ServerOptions = {},
) {
  const server = new Server(options);
  const addr = await server.listen(network, { host: "127.0.0.1", port: 0 });
  return { server, port: addr.port };
}

/** A client of `network` connected to the loopback `port`. */
export async function openClient(
  network: Network,
  port: number,
  options?: ClientOptions,
) {
  return new Client(
    await network.connect({ host: "127.0.0.1", port }),
    options,
  );
}

/** Checks that a fresh client still gets an answer. */
async function assertServes(network: Network, port: number): Promise<void> {
  const client = await openClient(network, port);
  assert.equal(str(await client.request(text("still there?"))), "still there?");
  await client.close();
}

/** Registers the whole suite for one adapter. */
export function networkSuite(name: string, network: Network): void {
  const t = (title: string, fn: () => Promise<void>) =>
    test(`${name}: ${title}`, fn);

  t("listen on port 0 resolves with the bound address", async () => {
    const { server, port } = await startServer(network);
    assert.ok(port > 0);
    assert.equal(server.addr?.port, port);
    assert.equal(server.addr?.hostname, "127.0.0.1");
    await server.close();
  });

  t("echo round trip, including an empty payload", async () => {
    const { server, port } = await startServer(network);
    const client = await openClient(network, port);
    assert.equal(str(await client.request(text("hello"))), "hello");
    assert.equal((await client.request(new Uint8Array(0))).length, 0);
    await client.close();
    await server.close();
  });

  t(
    "10,000 pipelined requests on one connection arrive in order and intact",
    async () => {
      const { server, port } = await startServer(network);
      const client = await openClient(network, port);
      const requests = Array.from(
        { length: 10_000 },
        (_, i) => patternBytes(i % 64, i),
      );
      const responses = await Promise.all(
        requests.map((r) => client.request(r)),
      );
      responses.forEach((response, i) =>
        assert.ok(sameBytes(response, requests[i]), `request ${i}`)
      );
      assert.equal(server.stats().framesIn, 10_000);
      await client.close();
      await server.close();
    },
  );

  t(
    "requests beyond maxInFlight wait for a free place rather than fail",
    async () => {
      const { server, port } = await startServer(network);
      const client = await openClient(network, port, { maxInFlight: 4 });
      const pending = Array.from(
        { length: 200 },
        (_, i) => client.request(text(`r${i}`)),
      );
      assert.equal(client.inFlight, 4);
      const responses = await Promise.all(pending);
      assert.deepEqual(
        responses.map(str),
        Array.from({ length: 200 }, (_, i) => `r${i}`),
      );
      await client.close();
      await server.close();
    },
  );

  t("a 32 MiB frame round-trips", async () => {
    const { server, port } = await startServer(network);
    const client = await openClient(network, port);
    const payload = patternBytes(32 * 1024 * 1024, 5);
    const response = await client.request(payload);
    assert.equal(response.length, payload.length);
    assert.ok(sameBytes(response, payload));
    await client.close();
    await server.close();
  });

  for (const mode of ["sync", "async"] as const) {
    t(
      `pipelined large frames stay intact with reused memory (${mode} handler)`,
      async () => {
        const { server, port } = await startServer(network, {
          handler: mode === "sync" ? (request) => request : async (request) => {
            await delay(5); // the next frames arrive while this one is held
            return request;
          },
        });
        const client = await openClient(network, port);
        const sizes = [2, 3, 1.5, 2, 3, 1.25].map((m) => m * 1024 * 1024);
        for (let round = 0; round < 2; round++) {
          const payloads = sizes.map((size, i) =>
            patternBytes(size, 7 * i + round)
          );
          const responses = await Promise.all(
            payloads.map((p) => client.request(p)),
          );
          responses.forEach((response, i) =>
            assert.ok(
              sameBytes(response, payloads[i]),
              `round ${round} frame ${i}`,
            )
          );
        }
        await client.close();
        await server.close();
      },
    );
  }

  t(
    "peers that connect and leave at once (health checks) do not stop the listener",
    async () => {
      const { server, port } = await startServer(network);
      for (let round = 0; round < 5; round++) {
        const quick = await Promise.all(
          Array.from(
            { length: 40 },
            () => network.connect({ host: "127.0.0.1", port }),
          ),
        );
        quick.forEach((transport, i) => {
          if (i % 2 === 0) transport.write(encodeFrames([text("ping")]));
          transport.close();
        });
        await assertServes(network, port);
      }
      await server.close();
    },
  );

  t(
    "close() ends a half-closed connection whose handler never settles",
    async () => {
      const { server, port } = await startServer(network, {
        handler: () => new Promise<Uint8Array>(() => {}),
        closeTimeout: 50,
      });
      const raw = new RawConnection(
        await network.connect({ host: "127.0.0.1", port }),
      );
      raw.write(encodeFrames([text("never answered")]));
      await waitFor(() => server.stats().framesIn === 1, "the request");
      raw.transport.closeWrite(); // the peer is done sending and waits
      await delay(50);
      assert.equal(
        server.stats().connections,
        1,
        "still waiting for the handler",
      );
      await server.close(); // must not wait for the handler
      assert.equal(server.stats().connections, 0);
      await waitFor(() => raw.closed, "the peer to see the close");
    },
  );

  t(
    "an oversize header closes only that connection and is counted",
    async () => {
      const errors: unknown[] = [];
      const { server, port } = await startServer(network, {
        maxFrameSize: 1024,
        onError: (error) => errors.push(error),
      });
      const good = await openClient(network, port);
      assert.equal(str(await good.request(text("before"))), "before");
      const bad = await RawConnection.open(network, port);
      const header = new Uint8Array(4);
      new DataView(header.buffer).setUint32(0, 1025, true);
      // A valid request, then a header one byte over the limit, with no payload.
      bad.write(encodeFrames([text("ok")]));
      bad.write(header);
      await bad.waitClosed();
      assert.deepEqual(
        bad.frames.map(str),
        ["ok"],
        "requests before the bad header are answered",
      );
      assert.equal(server.stats().protocolErrors, 1);
      assert.equal(errors.length, 1);
      assert.ok(errors[0] instanceof FrameTooLargeError);
      assert.equal(str(await good.request(text("after"))), "after");
      await good.close();
      await assertServes(network, port);
      await server.close();
    },
  );

  t("1,000 concurrent client connections", async () => {
    const { server, port } = await startServer(network);
    const clients: Client[] = [];
    for (let batch = 0; batch < 10; batch++) {
      clients.push(
        ...await Promise.all(
          Array.from({ length: 100 }, () => openClient(network, port)),
        ),
      );
    }
    await waitFor(
      () => server.stats().connections === 1000,
      "1000 connections",
    );
    const responses = await Promise.all(
      clients.map((c, i) => c.request(text(`c${i}`))),
    );
    responses.forEach((r, i) => assert.equal(str(r), `c${i}`));
    await Promise.all(clients.map((c) => c.close()));
    await waitFor(
      () => server.stats().connections === 0,
      "all connections closed",
    );
    assert.equal(server.stats().totalConnections, 1000);
    await server.close();
  });

  t(
    "a half-closed client still gets every answer; a trailing partial frame is counted",
    async () => {
      const { server, port } = await startServer(network);
      const raw = await RawConnection.open(network, port);
      const partial = encodeFrames([text("never finished")]).subarray(0, 9);
      raw.write(encodeFrames([text("one"), text("two"), text("three")]));
      raw.write(partial);
      raw.transport.closeWrite();
      await raw.waitClosed();
      assert.ok(raw.ended, "the server ended its side after answering");
      assert.deepEqual(raw.frames.map(str), ["one", "two", "three"]);
      await waitFor(
        () => server.stats().truncatedFrames === 1,
        "truncated frame count",
      );
      assert.equal(server.stats().truncatedBytes, 9);
      await server.close();
    },
  );

  t(
    "async handlers completing out of order are answered in order",
    async () => {
      const { server, port } = await startServer(network, {
        handler: async (request) => {
          const n = Number(str(request));
          await delay((50 - n) % 7 * 3); // later requests finish first
          return text(`done ${n}`);
        },
      });
      const client = await openClient(network, port);
      const responses = await Promise.all(
        Array.from({ length: 50 }, (_, i) => client.request(text(String(i)))),
      );
      assert.deepEqual(
        responses.map(str),
        Array.from({ length: 50 }, (_, i) => `done ${i}`),
      );
      await client.close();
      await server.close();
    },
  );

  t("mixed sync and async handler results keep request order", async () => {
    const { server, port } = await startServer(network, {
      handler: (request) => {
        const n = Number(str(request));
        if (n % 3 !== 0) return request;
        return delay(5 + (n % 2)).then(() => request.slice());
      },
    });
    const client = await openClient(network, port);
    const responses = await Promise.all(
      Array.from({ length: 300 }, (_, i) => client.request(text(String(i)))),
    );
    assert.deepEqual(
      responses.map(str),
      Array.from({ length: 300 }, (_, i) => String(i)),
    );
    await client.close();
    await server.close();
  });

  t(
    "server close() answers requests already received, then closes; twice is harmless",
    async () => {
      let started = 0;
      const { server, port } = await startServer(network, {
        handler: async (request) => {
          started++;
          await delay(50);
          return request.slice();
        },
      });
      const client = await openClient(network, port);
      const pending = Array.from(
        { length: 100 },
        (_, i) => client.request(text(`q${i}`)),
      );
      await waitFor(() => started === 100, "all requests received");
      const closing = server.close();
      assert.equal(
        server.close(),
        closing,
        "a second close() returns the same promise",
      );
      const responses = await Promise.all(pending);
      assert.deepEqual(
        responses.map(str),
        Array.from({ length: 100 }, (_, i) => `q${i}`),
      );
      await closing;
      await waitFor(() => client.closed, "the client to see the close");
      await assert.rejects(client.request(text("late")), ConnectionClosedError);
      // The listener is closed: a new connection is refused.
      await assert.rejects(network.connect({ host: "127.0.0.1", port }));
    },
  );

  t(
    "the client rejects every pending request when the server goes away",
    async () => {
      const { server, port } = await startServer(network, {
        handler: () => new Promise<Uint8Array>(() => {}), // never answers
        closeTimeout: 50,
      });
      const client = await openClient(network, port, { maxInFlight: 10 });
      const pending = Array.from(
        { length: 20 },
        (_, i) => client.request(text(`p${i}`)),
      );
      const settled = Promise.allSettled(pending); // handled before they reject
      await waitFor(
        () => server.stats().framesIn === 10,
        "requests at the server",
      );
      await server.close(); // forced after closeTimeout
      const results = await settled;
      for (const result of results) {
        assert.equal(result.status, "rejected");
        assert.ok(
          (result as PromiseRejectedResult).reason instanceof
            ConnectionClosedError,
        );
      }
      assert.ok(client.closed);
    },
  );

  t(
    "a throwing handler closes its connection with a logged error; the server keeps serving",
    async () => {
      const errors: unknown[] = [];
      const { server, port } = await startServer(network, {
        handler: (request) => {
          if (str(request) === "boom") throw new Error("handler exploded");
          return request;
        },
        onError: (error) => errors.push(error),
      });
      const client = await openClient(network, port);
      const results = await Promise.allSettled([
        client.request(text("a")),
        client.request(text("boom")),
        client.request(text("c")),
      ]);
      assert.equal(results[0].status, "fulfilled");
      assert.equal(
        str((results[0] as PromiseFulfilledResult<Uint8Array>).value),
        "a",
      );
      assert.equal(results[1].status, "rejected");
      assert.equal(results[2].status, "rejected");
      assert.ok(
        (results[1] as PromiseRejectedResult).reason instanceof
          ConnectionClosedError,
      );
      assert.equal(errors.length, 1);
      assert.match(String(errors[0]), /handler exploded/);
      assert.equal(server.stats().handlerErrors, 1);
      await assertServes(network, port);
      await server.close();
    },
  );

  t("an async handler rejection is contained the same way", async () => {
    const errors: unknown[] = [];
    const { server, port } = await startServer(network, {
      handler: (request) =>
        str(request) === "bad"
          ? Promise.reject(new Error("rejected"))
          : Promise.resolve(request),
      onError: (error) => errors.push(error),
    });
    const client = await openClient(network, port);
    await assert.rejects(client.request(text("bad")), ConnectionClosedError);
    assert.equal(errors.length, 1);
    await assertServes(network, port);
    await server.close();
  });

  t("the client enforces its own maxFrameSize on responses", async () => {
    const { server, port } = await startServer(network, {
      handler: () => new Uint8Array(2048),
    });
    const client = await openClient(network, port, { maxFrameSize: 1024 });
    await assert.rejects(client.request(text("x")), (error: unknown) => {
      assert.ok(error instanceof ConnectionClosedError);
      assert.ok(error.cause instanceof FrameTooLargeError);
      return true;
    });
    await assert.rejects(
      client.request(new Uint8Array(1025)),
      ConnectionClosedError,
    );
    await server.close();
  });

  t(
    "a request over the client's maxFrameSize is refused before sending",
    async () => {
      const { server, port } = await startServer(network);
      const client = await openClient(network, port, { maxFrameSize: 16 });
      await assert.rejects(
        client.request(new Uint8Array(17)),
        FrameTooLargeError,
      );
      assert.equal(str(await client.request(text("fine"))), "fine");
      await client.close();
      await server.close();
    },
  );

  t(
    "a slow reader triggers the outbound cap, then recovers with nothing lost",
    async () => {
      const highWaterMark = 256 * 1024;
      const { server, port } = await startServer(network, { highWaterMark });
      const raw = await RawConnection.open(network, port);
      raw.transport.pause(); // the client does not read its responses
      const count = 256;
      const payloads = Array.from(
        { length: count },
        (_, i) => patternBytes(256 * 1024, i),
      );
      for (const payload of payloads) {
        raw.write(encodeFrames([payload]));
      }
      // The server stops reading once responses pile up: requests stall well short of the total.
      await waitFor(
        () => server.stats().backpressurePauses > 0,
        "the server to pause reading",
      );
      await delay(300);
      const stalledAt = server.stats().framesIn;
      await delay(200);
      assert.equal(
        server.stats().framesIn,
        stalledAt,
        "no progress while the peer does not read",
      );
      assert.ok(
        stalledAt < count,
        `server read ${stalledAt} of ${count} 256 KiB requests`,
      );
      raw.transport.resume();
      await waitFor(
        () => raw.frames.length === count,
        "every response",
        30_000,
      );
      raw.frames.forEach((frame, i) =>
        assert.ok(sameBytes(frame, payloads[i]), `response ${i}`)
      );
      raw.transport.close();
      await assertServes(network, port);
      await server.close();
    },
  );

  t(
    "a slowly reading client gets many MiB of responses intact and in order",
    async () => {
      // The server's writes outrun the reader, so the adapter must queue what the
      // socket did not take (partial writes on Bun) and send it from 'drain'.
      const { server, port } = await startServer(network, {
        highWaterMark: 64 * 1024,
      });
      const raw = await RawConnection.open(network, port, 1);
      const count = 48;
      const payloads = Array.from(
        { length: count },
        (_, i) => patternBytes(1024 * 1024 + i, i),
      );
      raw.write(encodeFrames(payloads));
      await waitFor(
        () => raw.frames.length === count,
        "every response",
        60_000,
      );
      raw.frames.forEach((frame, i) =>
        assert.ok(sameBytes(frame, payloads[i]), `response ${i}`)
      );
      assert.ok(
        server.stats().backpressurePauses > 0,
        "the socket could not take the responses at once",
      );
      raw.transport.close();
      await assertServes(network, port);
      await server.close();
    },
  );

  t(
    "Symbol.asyncDispose closes the client, then the server, gracefully",
    async () => {
      const { server, port } = await startServer(network);
      const client = await openClient(network, port);
      const pending = client.request(text("last words"));
      await client[Symbol.asyncDispose](); // waits for the answer first
      assert.equal(str(await pending), "last words");
      assert.ok(client.closed);
      await server[Symbol.asyncDispose]();
      assert.ok(server.closing);
      assert.equal(server.stats().connections, 0);
      await assert.rejects(network.connect({ host: "127.0.0.1", port }));
    },
  );
}
