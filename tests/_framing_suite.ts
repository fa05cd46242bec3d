// The frame formats over real sockets, written once as a function of a
// runtime's Network adapter and run against every adapter: the presets
// through the built-in echo and a handler, a format that keeps its header
// (whole frames both ways), and what the server does with malformed headers
// and responses.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Server } from "../src/server.ts";
import { Client } from "../src/client.ts";
import { FrameTooLargeError, ProtocolError } from "../src/errors.ts";
import type { FrameFormat, FrameFormatName } from "../src/frame_format.ts";
import type { Network, Transport } from "../src/transport.ts";
import { patternBytes, sameBytes, waitFor } from "./_helpers.ts";
import { openClient, startServer } from "./_network_suite.ts";

/** memcached's binary protocol: a 24-byte header kept, body length at 8. */
const WHOLE: FrameFormat = {
  lengthFieldOffset: 8,
  lengthFieldLength: 4,
  byteOrder: "big",
  lengthAdjustment: 12,
  initialBytesToStrip: 0,
};

/** A frame of WHOLE: 24 header bytes (the first `tag`), `body` after. */
function wholeFrame(tag: number, body: Uint8Array): Uint8Array {
  const frame = new Uint8Array(24 + body.length);
  frame[0] = tag;
  new DataView(frame.buffer).setUint32(8, body.length, false);
  frame.set(body, 24);
  return frame;
}

/** Bytes the peer sends and what it reads until the server closes. */
async function rawExchange(
  network: Network,
  port: number,
  bytes: Uint8Array,
): Promise<number> {
  const transport: Transport = await network.connect({
    host: "127.0.0.1",
    port,
  });
  let received = 0;
  let closed = false;
  transport.start({
    data: (chunk) => {
      received += chunk.length;
      return true;
    },
    end: () => transport.closeWrite(),
    drain: () => {},
    closed: () => {
      closed = true;
    },
  });
  transport.write(bytes);
  await waitFor(() => closed, "the server closes");
  return received;
}

/** Registers the suite for one adapter. */
export function framingSuite(name: string, network: Network): void {
  const t = (title: string, fn: () => Promise<void>) =>
    test(`${name}: framing: ${title}`, fn);

  const presets: [FrameFormatName, number][] = [
    ["u32be", 300_000],
    ["u16be", 65_535],
    ["varint", 300_000],
  ];
  for (const [format, largest] of presets) {
    t(
      `${format}: echo and a handler, pipelined, small and large frames`,
      async () => {
        const sizes = [0, 1, 127, 128, 255, 256, 1000, 16_384, largest];
        const requests = Array.from(
          { length: 600 },
          (_, i) => patternBytes(sizes[i % sizes.length], i),
        );
        // The built-in echo writes each request frame back as it came.
        const echo = await startServer(network, { format });
        const echoClient = await openClient(network, echo.port, { format });
        const echoed = await Promise.all(
          requests.map((r) => echoClient.request(r)),
        );
        echoed.forEach((response, i) =>
          assert.ok(sameBytes(response, requests[i]), `echo ${i}`)
        );
        await echoClient.close();
        await echo.server.close();
        // A handler's responses get the format's headers.
        const reversed = await startServer(network, {
          format,
          handler: (request) => request.slice().reverse(),
        });
        const client = await openClient(network, reversed.port, { format });
        const responses = await Promise.all(
          requests.map((r) => client.request(r)),
        );
        responses.forEach((response, i) =>
          assert.ok(
            sameBytes(response, requests[i].slice().reverse()),
            `handler ${i}`,
          )
        );
        assert.equal(reversed.server.stats().protocolErrors, 0);
        await client.close();
        await reversed.server.close();
      },
    );
  }

  t("a format that keeps its header: whole frames both ways", async () => {
    const { server, port } = await startServer(network, {
      format: WHOLE,
      // Answers with the request's header (tag + 1) and its body reversed.
      handler: (frame) =>
        wholeFrame(frame[0] + 1, frame.subarray(24).slice().reverse()),
    });
    const client = await openClient(network, port, { format: WHOLE });
    const bodies = Array.from(
      { length: 1000 },
      (_, i) => patternBytes(i % 3 === 0 ? 100_000 : i % 97, i),
    );
    const responses = await Promise.all(
      bodies.map((body, i) => client.request(wholeFrame(i % 200, body))),
    );
    responses.forEach((response, i) => {
      assert.equal(response.length, 24 + bodies[i].length, `length ${i}`);
      assert.equal(response[0], (i % 200) + 1, `tag ${i}`);
      assert.ok(
        sameBytes(response.subarray(24), bodies[i].slice().reverse()),
        `body ${i}`,
      );
    });
    // A request that is not one frame of the format is refused before it
    // is sent, and the connection goes on.
    const bad = wholeFrame(1, new Uint8Array(8)).subarray(0, 30);
    await assert.rejects(client.request(bad), RangeError);
    const after = await client.request(wholeFrame(7, new Uint8Array(3)));
    assert.equal(after[0], 8);
    await client.close();
    await server.close();
  });

  t(
    "a handler's response that is not one frame of the format fails it, typed",
    async () => {
      const errors: unknown[] = [];
      const { server, port } = await startServer(network, {
        format: WHOLE,
        handler: (frame) => frame.subarray(0, frame.length - 1),
        onError: (error) => errors.push(error),
      });
      const client = await openClient(network, port, { format: WHOLE });
      await assert.rejects(client.request(wholeFrame(1, new Uint8Array(5))));
      await waitFor(() => errors.length > 0, "an error is reported");
      assert.ok(errors[0] instanceof RangeError, String(errors[0]));
      assert.match(
        String((errors[0] as Error).message),
        /^Cannot encode frame/,
      );
      await client.close();
      await server.close();
    },
  );

  t(
    "u16be: a response longer than the field holds is refused, not truncated",
    async () => {
      const errors: unknown[] = [];
      const { server, port } = await startServer(network, {
        format: "u16be",
        handler: () => new Uint8Array(70_000),
        onError: (error) => errors.push(error),
      });
      const client = await openClient(network, port, { format: "u16be" });
      await assert.rejects(client.request(new Uint8Array(1)));
      await waitFor(() => errors.length > 0, "an error is reported");
      assert.ok(errors[0] instanceof FrameTooLargeError, String(errors[0]));
      assert.equal((errors[0] as FrameTooLargeError).maxFrameSize, 65_535);
      await client.close();
      await server.close();
    },
  );

  t(
    "varint: an overlong or oversize length closes only that connection",
    async () => {
      const errors: unknown[] = [];
      const { server, port } = await startServer(network, {
        format: "varint",
        maxFrameSize: 1000,
        onError: (error) => errors.push(error),
      });
      // A frame first, then a varint with a final 0 byte (not minimal).
      const overlong = new Uint8Array([2, 7, 7, 0x81, 0x00, 1]);
      assert.equal(await rawExchange(network, port, overlong), 3);
      // 1001 bytes declared (0xe9 0x07), over maxFrameSize 1000.
      await rawExchange(network, port, new Uint8Array([0xe9, 0x07]));
      // Three continuation bytes: longer than 1000 needs (2 bytes).
      await rawExchange(network, port, new Uint8Array([0x80, 0x80, 0x80]));
      await waitFor(() => errors.length === 3, "three errors are reported");
      assert.ok(errors[0] instanceof ProtocolError);
      assert.match((errors[0] as Error).message, /overlong varint/);
      assert.ok(errors[1] instanceof FrameTooLargeError);
      assert.match((errors[2] as Error).message, /longer than 2 bytes/);
      assert.equal(server.stats().protocolErrors, 3);
      const client = await openClient(network, port, { format: "varint" });
      assert.ok(
        sameBytes(await client.request(patternBytes(1000)), patternBytes(1000)),
      );
      await client.close();
      await server.close();
    },
  );

  t(
    "a format that cannot be written is refused when the server or client is made",
    async () => {
      const format: FrameFormat = {
        lengthFieldOffset: 2,
        lengthFieldLength: 2,
        byteOrder: "big",
      };
      assert.throws(
        () => new Server({ format }),
        /cannot be written|not written/,
      );
      const { server, port } = await startServer(network, { format: "u16be" });
      const transport = await network.connect({ host: "127.0.0.1", port });
      assert.throws(() => new Client(transport, { format }), RangeError);
      transport.close();
      await server.close();
    },
  );
}
