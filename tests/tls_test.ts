// TLS over real loopback sockets on every adapter this runtime has, with a
// throwaway CA and server certificate made by openssl at test time.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Server, type ServerOptions } from "../src/server.ts";
import { Client } from "../src/client.ts";
import { connect, serve } from "../src/adapters/auto.ts";
import { encodeFrames } from "../src/frame_encoder.ts";
import type { Network, TlsConnectOptions } from "../src/transport.ts";
import {
  delay,
  patternBytes,
  RawConnection,
  sameBytes,
  str,
  text,
  waitFor,
} from "./_helpers.ts";
import { availableNetworks, runtime } from "./_runtime.ts";
import { nodeNetwork } from "../src/adapters/node.ts";
import { FramewireError } from "../src/errors.ts";
import { makeTlsFixture, type TlsFixture } from "./_tls_fixture.ts";
import { requireProgram } from "./_requires.ts";

// Every test here needs openssl's certificates: skipped without it (failed
// under FRAMEWIRE_REQUIRE_ALL=1).
const openssl = requireProgram("openssl", import.meta.url);
const { skip } = openssl;

let fixture: TlsFixture;
before(async () => {
  if (openssl.installed) fixture = await makeTlsFixture();
});
after(() => fixture?.remove());

const networks = availableNetworks();

/**
 * Whether `network` serves TLS here. node:tls under Deno does not (see
 * NODE_TLS_ON_DENO in src/adapters/node.ts): its writes complete before they
 * are sent, and pause() does not stop it reading from the socket. Its client
 * is tested against the Deno adapter's server instead.
 */
const servesTls = (network: Network) =>
  !(runtime === "deno" && network === nodeNetwork);

/** The adapter that serves TLS in tests of `network`'s client. */
const tlsServerNetwork = (network: Network) =>
  servesTls(network) ? network : networks[0][1];

async function startTlsServer(network: Network, options: ServerOptions = {}) {
  network = tlsServerNetwork(network);
  const server = new Server(options);
  const addr = await server.listen(network, {
    host: "127.0.0.1",
    port: 0,
    tls: { cert: fixture.cert, key: fixture.key },
  });
  return { server, port: addr.port };
}

async function openTlsClient(
  network: Network,
  port: number,
  tls: TlsConnectOptions = { ca: fixture.ca },
) {
  return new Client(await network.connect({ host: "127.0.0.1", port, tls }));
}

/** Checks that a client that trusts the CA still gets an answer. */
async function assertServes(network: Network, port: number): Promise<void> {
  const client = await openTlsClient(network, port);
  assert.equal(str(await client.request(text("still there?"))), "still there?");
  await client.close();
}

for (const [name, network] of networks) {
  const t = (title: string, fn: () => Promise<void>) =>
    test(`${name}: TLS: ${title}`, { skip }, () => {
      openssl.check();
      return fn();
    });

  t("1,000 pipelined requests round-trip in order and intact", async () => {
    const { server, port } = await startTlsServer(network);
    const client = await openTlsClient(network, port);
    const requests = Array.from(
      { length: 1000 },
      (_, i) => patternBytes(1 + (i % 100), i),
    );
    const responses = await Promise.all(requests.map((r) => client.request(r)));
    responses.forEach((response, i) =>
      assert.ok(sameBytes(response, requests[i]), `request ${i}`)
    );
    assert.equal(server.stats().framesIn, 1000);
    assert.equal(client.remoteAddr.transport, "tcp");
    assert.equal(client.remoteAddr.port, port);
    await client.close();
    await server.close();
  });

  t("a 32 MiB frame round-trips", async () => {
    const { server, port } = await startTlsServer(network);
    const client = await openTlsClient(network, port);
    const payload = patternBytes(32 * 1024 * 1024, 3);
    const [small, large] = await Promise.all([
      client.request(text("before")),
      client.request(payload),
    ]);
    assert.equal(str(small), "before");
    assert.equal(large.length, payload.length);
    assert.ok(sameBytes(large, payload));
    await client.close();
    await server.close();
  });

  t(
    "a client that does not trust the server's CA is refused; the server keeps serving",
    async () => {
      const { server, port } = await startTlsServer(network);
      await assert.rejects(
        network.connect({
          host: "127.0.0.1",
          port,
          tls: { ca: fixture.otherCa },
        }),
        (error: unknown) => {
          assert.ok(error instanceof Error, String(error));
          return true;
        },
      );
      // tls: true trusts only the runtime's default roots, not the test CA.
      await assert.rejects(
        network.connect({ host: "127.0.0.1", port, tls: true }),
        Error,
      );
      await assertServes(network, port);
      await server.close();
    },
  );

  t(
    "the certificate is checked against serverName (default: the host)",
    async () => {
      const { server, port } = await startTlsServer(network);
      // The certificate names 127.0.0.1 and localhost, not example.com.
      await assert.rejects(
        network.connect({
          host: "127.0.0.1",
          port,
          tls: { ca: fixture.ca, serverName: "example.com" },
        }),
        Error,
      );
      const byName = await openTlsClient(network, port, {
        ca: fixture.ca,
        serverName: "localhost",
      });
      assert.equal(str(await byName.request(text("by name"))), "by name");
      await byName.close();
      const byCaList = await openTlsClient(network, port, {
        ca: [fixture.otherCa, fixture.ca],
      });
      assert.equal(str(await byCaList.request(text("ca list"))), "ca list");
      await byCaList.close();
      await server.close();
    },
  );

  t("a half-closed client still gets every answer", async () => {
    const { server, port } = await startTlsServer(network);
    const raw = new RawConnection(
      await network.connect({
        host: "127.0.0.1",
        port,
        tls: { ca: fixture.ca },
      }),
    );
    raw.write(encodeFrames([text("one"), text("two"), text("three")]));
    raw.transport.closeWrite();
    await raw.waitClosed();
    assert.ok(raw.ended, "the server ended its side after answering");
    assert.deepEqual(raw.frames.map(str), ["one", "two", "three"]);
    await server.close();
  });

  t(
    "server close() answers requests already received, then the client sees the close",
    async () => {
      const { server, port } = await startTlsServer(network, {
        handler: async (request) => {
          await delay(20);
          return request.slice();
        },
      });
      const client = await openTlsClient(network, port);
      const pending = Array.from(
        { length: 200 },
        (_, i) => client.request(text(`q${i}`)),
      );
      await waitFor(() => server.stats().framesIn === 200, "all requests");
      const closing = server.close();
      const responses = await Promise.all(pending);
      assert.deepEqual(
        responses.map(str),
        Array.from({ length: 200 }, (_, i) => `q${i}`),
      );
      await closing;
      await waitFor(() => client.closed, "the client to see the close");
      await client.close();
    },
  );

  // The server's outbound cap over TLS. It needs a client that can stop
  // reading, which node:tls under Deno cannot (see servesTls).
  if (servesTls(network)) {
    t(
      "a peer that reads nothing stops the server reading; nothing is lost",
      async () => {
        const count = 128;
        const { server, port } = await startTlsServer(network, {
          highWaterMark: 256 * 1024,
        });
        const raw = new RawConnection(
          await network.connect({
            host: "127.0.0.1",
            port,
            tls: { ca: fixture.ca },
          }),
        );
        raw.transport.pause(); // responses are not read
        const payloads = Array.from(
          { length: count },
          (_, i) => patternBytes(256 * 1024, i),
        );
        for (const payload of payloads) raw.write(encodeFrames([payload]));
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
          "no progress meanwhile",
        );
        assert.ok(stalledAt < count, `server read ${stalledAt} of ${count}`);
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
        await server.close();
      },
    );
  }

  if (!servesTls(network)) {
    t(
      "listen refuses TLS with a clear error (use the Deno adapter)",
      async () => {
        const server = new Server();
        await assert.rejects(
          server.listen(network, {
            host: "127.0.0.1",
            port: 0,
            tls: { cert: fixture.cert, key: fixture.key },
          }),
          (error: unknown) => {
            assert.ok(error instanceof FramewireError);
            assert.match(
              error.message,
              /^Cannot listen with TLS on node:tls under Deno: .*use denoNetwork$/,
            );
            return true;
          },
        );
        await server.close();
      },
    );
  }
}

test("TLS: serve() and connect() pass tls through", { skip }, async () => {
  openssl.check();
  const [, network] = networks[0]; // the runtime's own adapter serves TLS everywhere
  const server = await serve({
    host: "127.0.0.1",
    port: 0,
    network,
    tls: { cert: fixture.cert, key: fixture.key },
  });
  const client = await connect({
    host: "127.0.0.1",
    port: server.addr!.port,
    network,
    tls: { ca: fixture.ca },
  });
  assert.equal(str(await client.request(text("auto"))), "auto");
  await client.close();
  await server.close();
});

test(
  "TLS: serve() and connect() with the default network",
  { skip },
  async () => {
    openssl.check();
    // On Deno the default network listens with node:net, but with TLS it must
    // use the Deno adapter: node:tls under Deno refuses to serve.
    await using server = await serve({
      host: "127.0.0.1",
      port: 0,
      tls: { cert: fixture.cert, key: fixture.key },
    });
    await using client = await connect({
      host: "127.0.0.1",
      port: server.addr.port,
      tls: { ca: fixture.ca },
    });
    assert.equal(str(await client.request(text("default"))), "default");
  },
);

// Every pair of this runtime's adapters: a client on one, the server on the other.
for (const [serverName, serverNetwork] of networks) {
  for (const [clientName, clientNetwork] of networks) {
    if (serverName === clientName || !servesTls(serverNetwork)) continue;
    const title =
      `TLS: a ${clientName} client and a ${serverName} server interoperate`;
    test(title, { skip }, async () => {
      openssl.check();
      const { server, port } = await startTlsServer(serverNetwork);
      const client = await openTlsClient(clientNetwork, port);
      const payloads = [text("x"), patternBytes(3 * 1024 * 1024, 9), text("y")];
      const responses = await Promise.all(
        payloads.map((p) => client.request(p)),
      );
      responses.forEach((r, i) => assert.ok(sameBytes(r, payloads[i])));
      await client.close();
      await server.close();
    });
  }
}
