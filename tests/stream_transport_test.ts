// The server and client over generic Web Streams duplexes: an in-memory pair
// and, where the runtime offers one, a real socket's streams.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Server } from "../src/server.ts";
import { Client } from "../src/client.ts";
import { ConnectionClosedError } from "../src/errors.ts";
import { encodeFrames } from "../src/frame_encoder.ts";
import { streamTransport } from "../src/stream_transport.ts";
import {
  duplexPair,
  patternBytes,
  RawConnection,
  sameBytes,
  str,
  text,
  waitFor,
} from "./_helpers.ts";
import { availableNetworks, connectStream, listenStreams } from "./_runtime.ts";

test("streams: server and client over an in-memory duplex pair", async () => {
  const [serverSide, clientSide] = duplexPair();
  const server = new Server();
  server.serveStream(serverSide);
  const client = Client.fromStream(clientSide);
  const requests = Array.from(
    { length: 2000 },
    (_, i) => patternBytes(i % 300, i),
  );
  const responses = await Promise.all(requests.map((r) => client.request(r)));
  responses.forEach((r, i) =>
    assert.ok(sameBytes(r, requests[i]), `request ${i}`)
  );
  const large = patternBytes(5 * 1024 * 1024, 3);
  assert.ok(sameBytes(await client.request(large), large));
  await client.close();
  await server.close();
  assert.equal(server.stats().connections, 0);
  assert.equal(server.stats().framesIn, 2001);
});

test("streams: a half-closed stream peer still gets its answers", async () => {
  const [serverSide, clientSide] = duplexPair();
  const server = new Server();
  server.serveStream(serverSide);
  const raw = new RawConnection(streamTransport(clientSide));
  raw.write(encodeFrames([text("x"), text("y")]));
  raw.transport.closeWrite();
  await raw.waitClosed();
  assert.deepEqual(raw.frames.map(str), ["x", "y"]);
  await server.close();
});

test("streams: a stream that errors rejects the client's pending requests", async () => {
  const [, clientSide] = duplexPair();
  let fail!: (error: unknown) => void;
  const readable = new ReadableStream<Uint8Array>({
    start: (c) => (fail = (e) => c.error(e)),
  });
  const client = Client.fromStream({ readable, writable: clientSide.writable });
  const pending = client.request(text("lost"));
  fail(new Error("carrier failed"));
  await assert.rejects(pending, (error: unknown) => {
    assert.ok(error instanceof ConnectionClosedError);
    assert.match(String((error.cause as Error).message), /carrier failed/);
    return true;
  });
});

/** Checks 1,000 pipelined requests and a 32 MiB frame, then closes the client. */
async function assertEchoes(client: Client, prefix: string): Promise<void> {
  const expected = Array.from({ length: 1000 }, (_, i) => `${prefix}${i}`);
  const responses = await Promise.all(
    expected.map((s) => client.request(text(s))),
  );
  assert.deepEqual(responses.map(str), expected);
  const large = patternBytes(32 * 1024 * 1024, prefix.length);
  assert.ok(sameBytes(await client.request(large), large));
  await client.close();
}

test("streams: a client over a real socket's Web Streams", async () => {
  const server = new Server();
  const network = availableNetworks()[0][1];
  const { port } = await server.listen(network, { host: "127.0.0.1", port: 0 });
  await assertEchoes(Client.fromStream(await connectStream(port)), "s");
  await waitFor(
    () => server.stats().connections === 0,
    "the server to see the close",
  );
  await server.close();
});

test("streams: the server serving real sockets as Web Streams", async () => {
  const server = new Server();
  const listener = await listenStreams((duplex) => server.serveStream(duplex));
  const network = availableNetworks()[0][1];
  const transport = await network.connect({
    host: "127.0.0.1",
    port: listener.port,
  });
  await assertEchoes(new Client(transport), "w");
  await waitFor(
    () => server.stats().connections === 0,
    "the server to see the close",
  );
  listener.close();
  await server.close();
});
