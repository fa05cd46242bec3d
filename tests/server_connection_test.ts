// What a server connection holds and when: frames that span reads (a
// decoder made and dropped again), the read queue shared by connections, the
// request context made on first use, and the addresses a server socket reads
// only when asked, over a fake transport and over real sockets.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Server, type ServerOptions } from "../src/server.ts";
import { encodeFrames } from "../src/frame_encoder.ts";
import { FrameDecoder } from "../src/frame_decoder.ts";
import type { NetAddr, Transport, TransportEvents } from "../src/transport.ts";
import type { RequestContext } from "../src/handler.ts";
import { FakeTransport } from "./_fake_transport.ts";
import { availableNetworks } from "./_runtime.ts";
import {
  concat,
  patternBytes,
  RawConnection,
  seededRandom,
  str,
  text,
  waitFor,
} from "./_helpers.ts";

function decode(bytes: Uint8Array): Uint8Array[] {
  const frames: Uint8Array[] = [];
  new FrameDecoder((f) => frames.push(f.slice())).push(bytes);
  return frames;
}

/** Every frame the transport was sent, in order. */
function answers(transport: FakeTransport): Uint8Array[] {
  return decode(concat(transport.writes));
}

/** A fake transport that counts how often its addresses are read. */
class CountingTransport implements Transport {
  addressReads = 0;
  readonly bufferedAmount = 0;
  readonly writes: Uint8Array[] = [];
  events: TransportEvents | null = null;
  readonly #addr: NetAddr = { transport: "fake", hostname: "peer", port: 7 };
  get localAddr(): NetAddr {
    this.addressReads++;
    return this.#addr;
  }
  get remoteAddr(): NetAddr {
    this.addressReads++;
    return this.#addr;
  }
  start(events: TransportEvents): void {
    this.events = events;
  }
  write(bytes: Uint8Array): void {
    this.writes.push(bytes.slice());
  }
  pause(): void {}
  resume(): void {}
  closeWrite(): void {}
  close(): void {
    this.events?.closed();
  }
  deliver(bytes: Uint8Array): boolean {
    return this.events!.data(bytes);
  }
}

const applications: Array<[string, ServerOptions]> = [
  ["the built-in echo", {}],
  ["an owning handler", { handler: (request) => request }],
  ["a copying handler", { handler: (request) => request.slice() }],
  ["a zeroCopy handler", { zeroCopy: true, handler: (request) => request }],
];

for (const [name, options] of applications) {
  test(`server connection, ${name}: frames split at every byte, at random and not at all are answered in order`, () => {
    const server = new Server(options);
    const transport = new FakeTransport();
    server.serveConnection(transport);
    const requests = Array.from(
      { length: 60 },
      (_, i) => patternBytes(i % 3 === 0 ? 0 : 1 + (i * 37) % 300, i),
    );
    const wire = encodeFrames(requests);
    const third = Math.floor(wire.length / 3);
    // One byte per read, then random splits, then the rest in one read: a
    // decoder is made for frames that span reads and dropped between them.
    for (let i = 0; i < third; i++) {
      transport.deliver(wire.slice(i, i + 1));
    }
    const random = seededRandom(7);
    let offset = third;
    while (offset < 2 * third) {
      const next = Math.min(2 * third, offset + 1 + Math.floor(random() * 90));
      transport.deliver(wire.slice(offset, next));
      offset = next;
    }
    transport.deliver(wire.slice(offset));
    assert.deepEqual(answers(transport), requests);
    const stats = server.stats();
    assert.equal(stats.framesIn, requests.length);
    assert.equal(stats.framesOut, requests.length);
    assert.equal(stats.bytesIn, wire.length);
    assert.equal(stats.bytesOut, wire.length);
    assert.equal(stats.bufferedBytes, 0);
  });
}

test("server connection: a frame that ends a read after whole frames is assembled and answered", () => {
  const server = new Server({ handler: (request) => request.slice() });
  const transport = new FakeTransport();
  server.serveConnection(transport);
  const requests = [
    patternBytes(10, 1),
    patternBytes(2000, 2),
    patternBytes(3),
  ];
  const wire = encodeFrames(requests);
  transport.deliver(wire.slice(0, 20)); // the first frame, then 6 bytes of the second
  assert.deepEqual(answers(transport), requests.slice(0, 1));
  transport.deliver(wire.slice(20, 1000));
  transport.deliver(wire.slice(1000));
  assert.deepEqual(answers(transport), requests);
});

test("server connection: the built-in echo counts its requests and samples handler time as a handler would", () => {
  const server = new Server();
  const transport = new FakeTransport();
  server.serveConnection(transport);
  const requests = Array.from({ length: 128 }, (_, i) => patternBytes(8, i));
  transport.deliver(encodeFrames(requests));
  assert.deepEqual(answers(transport), requests);
  // One synchronous call in 64 is timed: 128 calls in a row hold two.
  assert.equal(server.handlerTime().samples, 2);
});

test("server connection: a handler that feeds another connection inside its read leaves each its own answers", () => {
  const inner = new FakeTransport();
  const outer = new FakeTransport();
  const server = new Server({
    handler: (request) => {
      if (str(request) === "feed") {
        inner.deliver(encodeFrames([text("inner-1"), text("inner-2")]));
      }
      return text(`ok:${str(request)}`);
    },
  });
  server.serveConnection(inner);
  server.serveConnection(outer);
  outer.deliver(encodeFrames([text("a"), text("feed"), text("b")]));
  assert.deepEqual(answers(outer).map(str), ["ok:a", "ok:feed", "ok:b"]);
  assert.deepEqual(answers(inner).map(str), ["ok:inner-1", "ok:inner-2"]);
  // Both connections go on as usual afterwards.
  outer.deliver(encodeFrames([text("c")]));
  inner.deliver(encodeFrames([text("d")]));
  assert.deepEqual(answers(outer).map(str), [
    "ok:a",
    "ok:feed",
    "ok:b",
    "ok:c",
  ]);
  assert.deepEqual(answers(inner).map(str), [
    "ok:inner-1",
    "ok:inner-2",
    "ok:d",
  ]);
});

test("server connection: answers queued before an onError hook threw go to their own connection", () => {
  const server = new Server({
    handler: (request) => {
      if (str(request) === "fail") throw new Error("handler failed");
      return request;
    },
    onError: () => {
      throw new Error("onError failed");
    },
  });
  const failing = new FakeTransport();
  const other = new FakeTransport();
  server.serveConnection(failing);
  server.serveConnection(other);
  assert.throws(
    () => failing.deliver(encodeFrames([text("first"), text("fail")])),
    /onError failed/,
  );
  assert.deepEqual(answers(failing).map(str), ["first"]);
  other.deliver(encodeFrames([text("other")]));
  assert.deepEqual(answers(other).map(str), ["other"]);
});

test("server connection: no context is made for the built-in echo; a handler's is made at its first request", () => {
  const echo = new Server();
  const quiet = new CountingTransport();
  echo.serveConnection(quiet);
  quiet.deliver(encodeFrames([text("a"), text("b")]));
  quiet.events!.end();
  quiet.events!.closed();
  assert.equal(quiet.addressReads, 0);

  const contexts: RequestContext[] = [];
  const server = new Server({
    handler: (request, context) => {
      contexts.push(context);
      return request;
    },
  });
  const transport = new CountingTransport();
  server.serveConnection(transport);
  assert.equal(transport.addressReads, 0);
  transport.deliver(encodeFrames([text("a"), text("b")]));
  transport.deliver(encodeFrames([text("c")]));
  assert.equal(transport.addressReads, 2); // local and remote, once
  assert.equal(contexts.length, 3);
  assert.ok(contexts.every((c) => c === contexts[0]));
  assert.deepEqual(contexts[0].remoteAddr, {
    transport: "fake",
    hostname: "peer",
    port: 7,
  });
  assert.deepEqual(contexts[0].state, {});
});

test("server connection: with onClose the context is made as the connection opens", () => {
  const closed: RequestContext[] = [];
  const server = new Server({
    onClose: (context) => {
      closed.push(context);
    },
  });
  const transport = new CountingTransport();
  server.serveConnection(transport);
  assert.equal(transport.addressReads, 2);
  transport.events!.closed();
  assert.equal(closed.length, 1);
  assert.equal(closed[0].remoteAddr.hostname, "peer");
  assert.equal(transport.addressReads, 2);
});

for (const [networkName, network] of availableNetworks()) {
  test(`${networkName}: handlers and onClose see the sockets' addresses`, async () => {
    const seen: Array<[string, NetAddr, NetAddr]> = [];
    const record = (where: string, context: RequestContext) => {
      seen.push([where, context.remoteAddr, context.localAddr]);
    };
    for (const hooks of [false, true]) {
      seen.length = 0;
      const server = new Server({
        handler: (request, context) => {
          record("handler", context);
          return request;
        },
        ...(hooks && {
          onClose: (context: RequestContext) => record("onClose", context),
        }),
      });
      const addr = await server.listen(network, {
        host: "127.0.0.1",
        port: 0,
      });
      const raw = await RawConnection.open(network, addr.port);
      raw.transport.write(encodeFrames([text("hello")]));
      await waitFor(() => raw.frames.length === 1, "the answer");
      const local = raw.transport.localAddr;
      raw.transport.closeWrite();
      await waitFor(() => raw.closed, "the close");
      await waitFor(() => !hooks || seen.length === 2, "onClose");
      await server.close();
      assert.deepEqual(seen.map(([where]) => where), [
        "handler",
        ...(hooks ? ["onClose"] : []),
      ]);
      for (const [where, remote, serverSide] of seen) {
        assert.deepEqual(remote, {
          transport: "tcp",
          hostname: "127.0.0.1",
          port: local.port,
        }, where);
        assert.deepEqual(serverSide, {
          transport: "tcp",
          hostname: "127.0.0.1",
          port: addr.port,
        }, where);
      }
    }
  });
}
