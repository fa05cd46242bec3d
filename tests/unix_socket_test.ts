// Unix domain sockets over every adapter this runtime has: round trips,
// pipelining, a 32 MiB frame, addresses, the socket file's life cycle.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as net from "node:net";
import {
  existsSync,
  linkSync,
  lstatSync,
  mkdtempSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Server } from "../src/server.ts";
import { Client } from "../src/client.ts";
import { connect, serve } from "../src/adapters/auto.ts";
import { AddressInUseError } from "../src/errors.ts";
import { encodeFrames } from "../src/frame_encoder.ts";
import type { NetAddr, Network } from "../src/transport.ts";
import {
  delay,
  patternBytes,
  RawConnection,
  sameBytes,
  str,
  text,
  waitFor,
} from "./_helpers.ts";
import { availableNetworks } from "./_runtime.ts";

let dir: string;
let count = 0;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "framewire-unix-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A fresh socket path in the test folder. */
const socketPath = () => join(dir, `s${++count}.sock`);

async function startUnixServer(network: Network, path = socketPath()) {
  const server = new Server();
  const addr = await server.listen(network, { path });
  return { server, path, addr };
}

/**
 * Leaves a socket file with no server behind it, as a killed server does: a
 * hard link keeps the socket's file when its server closes and unlinks it.
 */
async function staleSocket(path: string): Promise<void> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen({ path }, resolve));
  linkSync(path, `${path}.link`);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(path, { force: true });
  renameSync(`${path}.link`, path);
  assert.ok(lstatSync(path).isSocket(), "a stale socket file");
}

for (const [name, network] of availableNetworks()) {
  const t = (title: string, fn: () => Promise<void>) =>
    test(`${name}: unix socket: ${title}`, fn);

  t("a round trip; addresses name the path", async () => {
    const contexts: NetAddr[] = [];
    const path = socketPath();
    const server = new Server({
      handler: (request, context) => {
        contexts.push(context.remoteAddr, context.localAddr);
        return request;
      },
    });
    const addr = await server.listen(network, { path });
    assert.deepEqual(addr, { transport: "unix", hostname: path, port: 0 });
    assert.deepEqual(server.addr, addr);
    const client = new Client(await network.connect({ path }));
    assert.deepEqual(client.remoteAddr, addr);
    assert.equal(str(await client.request(text("hello"))), "hello");
    assert.equal((await client.request(new Uint8Array(0))).length, 0);
    // The client's end is unnamed.
    assert.deepEqual(contexts[0], { transport: "unix", hostname: "", port: 0 });
    assert.deepEqual(contexts[1], addr);
    await client.close();
    await server.close();
  });

  t("1,000 pipelined requests arrive in order and intact", async () => {
    const { server, path } = await startUnixServer(network);
    const client = new Client(await network.connect({ path }));
    const requests = Array.from(
      { length: 1000 },
      (_, i) => patternBytes(i % 200, i),
    );
    const responses = await Promise.all(requests.map((r) => client.request(r)));
    responses.forEach((response, i) =>
      assert.ok(sameBytes(response, requests[i]), `request ${i}`)
    );
    assert.equal(server.stats().framesIn, 1000);
    await client.close();
    await server.close();
  });

  t("a 32 MiB frame round-trips", async () => {
    const { server, path } = await startUnixServer(network);
    const client = new Client(await network.connect({ path }));
    const payload = patternBytes(32 * 1024 * 1024, 11);
    const response = await client.request(payload);
    assert.equal(response.length, payload.length);
    assert.ok(sameBytes(response, payload));
    await client.close();
    await server.close();
  });

  t("a half-closed client still gets every answer", async () => {
    const { server, path } = await startUnixServer(network);
    const raw = new RawConnection(await network.connect({ path }));
    raw.write(encodeFrames([text("one"), text("two")]));
    raw.transport.closeWrite();
    await raw.waitClosed();
    assert.ok(raw.ended);
    assert.deepEqual(raw.frames.map(str), ["one", "two"]);
    await server.close();
  });

  t(
    "a peer that reads nothing stops the server reading; nothing is lost",
    async () => {
      const count = 128;
      const path = socketPath();
      const server = new Server({ highWaterMark: 256 * 1024 });
      await server.listen(network, { path });
      const raw = new RawConnection(await network.connect({ path }));
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
      assert.equal(server.stats().framesIn, stalledAt, "no progress meanwhile");
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

  t("the socket file is removed on close", async () => {
    const { server, path } = await startUnixServer(network);
    assert.ok(lstatSync(path).isSocket());
    const client = new Client(await network.connect({ path }));
    assert.equal(str(await client.request(text("x"))), "x");
    await client.close();
    await server.close();
    assert.equal(existsSync(path), false);
    await assert.rejects(network.connect({ path }), Error);
  });

  t("a stale socket file is replaced", async () => {
    const path = socketPath();
    await staleSocket(path);
    const { server } = await startUnixServer(network, path);
    const client = new Client(await network.connect({ path }));
    assert.equal(str(await client.request(text("fresh"))), "fresh");
    await client.close();
    await server.close();
    assert.equal(existsSync(path), false);
  });

  t(
    "a path where a server answers is refused; that server keeps its file and serves",
    async () => {
      const { server, path } = await startUnixServer(network);
      const second = new Server();
      await assert.rejects(
        second.listen(network, { path }),
        (error: unknown) => {
          assert.ok(error instanceof AddressInUseError, String(error));
          assert.equal(error.address, path);
          assert.match(error.message, /a server is answering there/);
          return true;
        },
      );
      await second.close();
      const client = new Client(await network.connect({ path }));
      assert.equal(str(await client.request(text("first"))), "first");
      await client.close();
      await server.close();
      assert.equal(existsSync(path), false);
    },
  );

  t("a path that is not a socket is refused and left alone", async () => {
    const path = socketPath();
    writeFileSync(path, "not a socket");
    const server = new Server();
    await assert.rejects(
      server.listen(network, { path }),
      /Cannot listen on .*: the path exists and is not a socket/,
    );
    assert.ok(lstatSync(path).isFile());
    await server.close();
  });
}

test("unix socket: serve() and connect() pass path through", async () => {
  const [[, network]] = availableNetworks();
  const path = socketPath();
  const server = await serve({ path, network });
  const client = await connect({ path, network });
  assert.equal(str(await client.request(text("auto"))), "auto");
  await waitFor(() => server.stats().connections === 1, "the connection");
  await client.close();
  await server.close();
  assert.equal(existsSync(path), false);
});
