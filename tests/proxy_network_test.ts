// The server's proxyProtocol option over real loopback sockets, on every
// adapter this runtime has: a raw connection writes a PROXY header, then
// frames; handlers see the proxied address; bad, missing and late headers
// close only their connection; with the option off, a header is frame bytes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Server, type ServerOptions } from "../src/server.ts";
import { Client } from "../src/client.ts";
import { FrameTooLargeError, ProxyProtocolError } from "../src/errors.ts";
import { encodeFrames } from "../src/frame_encoder.ts";
import type { Network } from "../src/transport.ts";
import { availableNetworks } from "./_runtime.ts";
import {
  concat,
  delay,
  RawConnection,
  str,
  text,
  waitFor,
} from "./_helpers.ts";
import { proxyV1, proxyV2 } from "./_proxy_headers.ts";

/** Answers every request with the addresses its handler is shown. */
const whoAmI: ServerOptions["handler"] = (_request, context) =>
  text(
    `${context.remoteAddr.hostname}:${context.remoteAddr.port} -> ${context.localAddr.hostname}:${context.localAddr.port}`,
  );

async function startServer(network: Network, options: ServerOptions = {}) {
  const errors: unknown[] = [];
  const server = new Server({
    handler: whoAmI,
    onError: (error) => errors.push(error),
    ...options,
  });
  const addr = await server.listen(network, { host: "127.0.0.1", port: 0 });
  return { server, port: addr.port, errors };
}

const REQUESTS = encodeFrames(
  Array.from({ length: 50 }, (_, i) => text(`r${i}`)),
);

for (const [name, network] of availableNetworks()) {
  const t = (title: string, fn: () => Promise<void>) =>
    test(`proxy protocol on ${name}: ${title}`, fn);

  const headers: Array<[string, Uint8Array, string]> = [
    [
      "v1 TCP4",
      proxyV1("PROXY TCP4 198.51.100.20 192.0.2.10 61000 4000"),
      "198.51.100.20:61000 -> 192.0.2.10:4000",
    ],
    [
      "v1 TCP6",
      proxyV1("PROXY TCP6 2001:db8::20 2001:db8::10 61001 4001"),
      "2001:db8::20:61001 -> 2001:db8::10:4001",
    ],
    [
      "v2 TCP4",
      proxyV2({
        source: ["198.51.100.21", 61002],
        destination: ["192.0.2.11", 4002],
      }),
      "198.51.100.21:61002 -> 192.0.2.11:4002",
    ],
    [
      "v2 TCP6",
      proxyV2({
        source: ["2001:db8::21", 61003],
        destination: ["2001:db8::11", 4003],
      }),
      "2001:db8::21:61003 -> 2001:db8::11:4003",
    ],
  ];
  for (const [kind, header, expected] of headers) {
    t(
      `${kind} header and 50 pipelined frames in one write: ctx.remoteAddr is the proxied client`,
      async () => {
        const { server, port, errors } = await startServer(network, {
          proxyProtocol: true,
        });
        const raw = await RawConnection.open(network, port);
        raw.write(concat([header, REQUESTS]));
        await waitFor(() => raw.frames.length === 50, "50 responses");
        assert.ok(
          raw.frames.every((frame) => str(frame) === expected),
          str(raw.frames[0]),
        );
        assert.equal(server.stats().framesIn, 50);
        assert.equal(
          server.stats().bytesIn,
          REQUESTS.length,
          "header bytes are not frame bytes",
        );
        assert.deepEqual(errors, []);
        raw.transport.close();
        await server.close();
      },
    );
  }

  t("a header split over writes, then frames in later writes", async () => {
    const { server, port } = await startServer(network, {
      proxyProtocol: true,
    });
    const header = proxyV2({
      source: ["203.0.113.50", 5050],
      destination: ["192.0.2.1", 1],
    });
    const raw = await RawConnection.open(network, port);
    for (
      const piece of [
        header.subarray(0, 7),
        header.subarray(7, 15),
        header.subarray(15, 20),
        header.subarray(20),
      ]
    ) {
      raw.write(piece);
      await delay(20);
    }
    raw.write(REQUESTS.subarray(0, 10));
    await delay(20);
    raw.write(REQUESTS.subarray(10));
    await waitFor(() => raw.frames.length === 50, "50 responses");
    assert.equal(str(raw.frames[49]), "203.0.113.50:5050 -> 192.0.2.1:1");
    raw.transport.close();
    await server.close();
  });

  t(
    "a v2 LOCAL connection (a health check) is served with its real addresses",
    async () => {
      const { server, port } = await startServer(network, {
        proxyProtocol: true,
      });
      const raw = await RawConnection.open(network, port);
      raw.write(
        concat([proxyV2({ command: 0 }), encodeFrames([text("ping")])]),
      );
      await waitFor(() => raw.frames.length === 1, "the response");
      assert.equal(
        str(raw.frames[0]),
        `127.0.0.1:${raw.transport.localAddr.port} -> 127.0.0.1:${port}`,
      );
      raw.transport.closeWrite();
      await raw.waitClosed();
      await server.close();
    },
  );

  t(
    "a malformed header closes only that connection, counted and reported",
    async () => {
      const { server, port, errors } = await startServer(network, {
        proxyProtocol: true,
      });
      const good = await RawConnection.open(network, port);
      good.write(proxyV1("PROXY TCP4 10.0.0.1 10.0.0.2 1111 2222"));
      const bad = await RawConnection.open(network, port);
      bad.write(
        concat([proxyV1("PROXY TCP4 10.0.0.300 10.0.0.2 1111 2222"), REQUESTS]),
      );
      await bad.waitClosed();
      assert.deepEqual(bad.frames, [], "nothing answered");
      assert.equal(server.stats().proxyProtocolErrors, 1);
      assert.equal(errors.length, 1);
      assert.ok(errors[0] instanceof ProxyProtocolError);
      assert.match(
        (errors[0] as Error).message,
        /"10\.0\.0\.300" is not an IPv4 address/,
      );
      good.write(REQUESTS);
      await waitFor(
        () => good.frames.length === 50,
        "the good connection's responses",
      );
      assert.equal(str(good.frames[0]), "10.0.0.1:1111 -> 10.0.0.2:2222");
      good.transport.close();
      await server.close();
    },
  );

  t(
    "a client that sends frames without a header is refused; the server serves others",
    async () => {
      const { server, port, errors } = await startServer(network, {
        proxyProtocol: true,
      });
      const client = new Client(
        await network.connect({ host: "127.0.0.1", port }),
      );
      await assert.rejects(client.request(text("no header")));
      await waitFor(
        () => server.stats().proxyProtocolErrors === 1,
        "the count",
      );
      assert.equal((errors[0] as ProxyProtocolError).reason, "invalid");
      const raw = await RawConnection.open(network, port);
      raw.write(concat([proxyV2({ command: 0 }), REQUESTS]));
      await waitFor(() => raw.frames.length === 50, "responses");
      raw.transport.close();
      await server.close();
    },
  );

  t(
    "a connection that sends no complete header within the timeout is closed",
    async () => {
      const { server, port, errors } = await startServer(network, {
        proxyProtocol: { timeout: 200 },
      });
      const silent = await RawConnection.open(network, port);
      const partial = await RawConnection.open(network, port);
      partial.write(proxyV1("PROXY TCP4 1.2.3.4 5.6.7.8 1 2").subarray(0, 12));
      const started = Date.now();
      await Promise.all([silent.waitClosed(), partial.waitClosed()]);
      assert.ok(Date.now() - started >= 150, "not before the timeout");
      assert.equal(server.stats().proxyProtocolErrors, 2);
      assert.deepEqual(errors.map((e) => (e as ProxyProtocolError).reason), [
        "timeout",
        "timeout",
      ]);
      assert.match(
        String(errors.map(String)),
        /incomplete after 200 ms \(12 bytes received\)/,
      );
      await server.close();
    },
  );

  t(
    "server close() closes connections still waiting for their header",
    async () => {
      const { server, port, errors } = await startServer(network, {
        proxyProtocol: true,
      });
      const raw = await RawConnection.open(network, port);
      raw.write(new Uint8Array([0x0d, 0x0a]));
      await delay(50);
      await server.close();
      await raw.waitClosed();
      assert.deepEqual(errors, []);
    },
  );

  for (
    const [kind, header] of [
      ["v1", proxyV1("PROXY TCP4 1.2.3.4 5.6.7.8 1 2")],
      ["v2", proxyV2({ command: 0 })],
    ] as const
  ) {
    t(
      `option off: a ${kind} PROXY header is frame bytes, an oversize frame`,
      async () => {
        const { server, port, errors } = await startServer(network);
        const raw = await RawConnection.open(network, port);
        raw.write(concat([header, REQUESTS]));
        await raw.waitClosed();
        assert.deepEqual(raw.frames, []);
        assert.equal(server.stats().protocolErrors, 1);
        assert.equal(server.stats().proxyProtocolErrors, 0);
        assert.ok(errors[0] instanceof FrameTooLargeError);
        const length = new DataView(header.buffer, header.byteOffset).getUint32(
          0,
          true,
        );
        assert.equal((errors[0] as FrameTooLargeError).length, length);
        await server.close();
      },
    );
  }
}
