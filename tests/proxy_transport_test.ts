// Accepting PROXY protocol connections over a fake transport: the hand-over
// of the bytes after the header (at once, or after a late start), rejection
// of invalid, cut-short and late headers, and the server's proxyProtocol
// option (addresses seen by handlers, counters, onError, maxConnections,
// close()).
import { test } from "node:test";
import assert from "node:assert/strict";
import { acceptProxyHeader, readProxyHeader } from "../src/proxy_transport.ts";
import type { ProxiedTransport } from "../src/proxy_header.ts";
import { Server, type ServerOptions } from "../src/server.ts";
import { ProxyProtocolError } from "../src/errors.ts";
import { encodeFrames } from "../src/frame_encoder.ts";
import type { TransportEvents } from "../src/transport.ts";
import { FakeTransport } from "./_fake_transport.ts";
import { concat, delay, str, text } from "./_helpers.ts";
import { proxyV1, proxyV2 } from "./_proxy_headers.ts";

const HEADER = proxyV2({
  source: ["203.0.113.9", 40001],
  destination: ["192.0.2.1", 1234],
});
const DATA = encodeFrames([text("one"), text("two")]);

/** Events that record what they are told; `keep` is what data() answers. */
function recorder(keep = true) {
  const log: string[] = [];
  const chunks: Uint8Array[] = [];
  const events: TransportEvents = {
    data: (chunk) => {
      chunks.push(chunk);
      log.push(`data ${chunk.length}`);
      return keep;
    },
    end: () => log.push("end"),
    drain: () => log.push("drain"),
    closed: (error) => log.push(`closed ${error === undefined ? "" : error}`),
  };
  return { log, chunks, events };
}

function noReject(error: ProxyProtocolError): never {
  throw new Error(`unexpected rejection: ${error.message}`);
}

test("acceptProxyHeader: started within accept, the rest of the read is handed over as a view", () => {
  const raw = new FakeTransport();
  const { chunks, events } = recorder(false);
  let proxied: ProxiedTransport | null = null;
  acceptProxyHeader(raw, {
    accept: (transport) => {
      proxied = transport;
      transport.start(events);
    },
    reject: noReject,
  });
  const wire = concat([HEADER, DATA]);
  // The consumer's "keep this memory" answer goes back to the raw transport.
  assert.equal(raw.deliver(wire), false);
  assert.equal(chunks.length, 1);
  assert.equal(chunks[0].buffer, wire.buffer, "no copy");
  assert.equal(chunks[0].byteOffset, HEADER.length);
  assert.deepEqual(chunks[0], DATA);
  assert.ok(proxied !== null);
  const p = proxied as ProxiedTransport;
  assert.deepEqual(p.remoteAddr, {
    transport: "tcp",
    hostname: "203.0.113.9",
    port: 40001,
  });
  assert.deepEqual(p.localAddr, {
    transport: "tcp",
    hostname: "192.0.2.1",
    port: 1234,
  });
  assert.equal(p.peerAddr, raw.remoteAddr);
  assert.equal(p.proxyHeader.version, 2);
  assert.equal(raw.paused, false);
});

test("acceptProxyHeader: a header alone in its read hands over nothing until data comes", () => {
  const raw = new FakeTransport();
  const { log, events } = recorder();
  acceptProxyHeader(raw, { accept: (t) => t.start(events), reject: noReject });
  for (const byte of HEADER) raw.deliver(new Uint8Array([byte]));
  assert.deepEqual(log, []);
  raw.deliver(DATA);
  raw.events!.drain();
  raw.events!.end();
  raw.events!.closed();
  assert.deepEqual(log, [`data ${DATA.length}`, "drain", "end", "closed "]);
});

test("readProxyHeader: started later, the rest is kept, reading pauses, then all is replayed in order", async () => {
  const raw = new FakeTransport();
  const pending = readProxyHeader(raw);
  const wire = concat([HEADER, DATA]);
  assert.equal(raw.deliver(wire), true, "the rest was copied");
  wire.fill(0); // the transport reuses its read buffer
  assert.equal(raw.paused, true, "reading waits for start()");
  raw.deliver(text("late")); // a read that was already on its way
  raw.events!.end();
  const proxied = await pending;
  assert.equal(proxied.remoteAddr.hostname, "203.0.113.9");
  const { log, chunks, events } = recorder();
  proxied.start(events);
  assert.deepEqual(log, [], "replayed after start() returns");
  await delay(0);
  assert.deepEqual(log, [`data ${DATA.length}`, "data 4", "end"]);
  assert.deepEqual(chunks[0], DATA);
  assert.equal(str(chunks[1]), "late");
  assert.equal(raw.paused, false, "reading resumed");
});

test("readProxyHeader: a consumer that pauses during the replay stays paused", async () => {
  const raw = new FakeTransport();
  const pending = readProxyHeader(raw);
  raw.deliver(concat([HEADER, DATA]));
  const proxied = await pending;
  proxied.start({
    data: () => {
      proxied.pause();
      return true;
    },
    end: () => {},
    drain: () => {},
    closed: () => {},
  });
  await delay(0);
  assert.equal(raw.paused, true);
  proxied.resume();
  assert.equal(raw.paused, false);
});

test("ProxiedTransport forwards writes, backpressure and closing to the raw transport", () => {
  const raw = new FakeTransport();
  let proxied: ProxiedTransport | null = null;
  acceptProxyHeader(raw, {
    accept: (t) => {
      proxied = t;
      t.start(recorder().events);
    },
    reject: noReject,
  });
  raw.deliver(HEADER);
  const p = proxied! as ProxiedTransport;
  p.write(text("out"));
  assert.deepEqual(raw.writes.map(str), ["out"]);
  raw.bufferedAmount = 7;
  assert.equal(p.bufferedAmount, 7);
  p.pause();
  assert.equal(raw.paused, true);
  p.resume();
  assert.equal(raw.paused, false);
  p.closeWrite();
  assert.equal(raw.writeClosed, true);
  p.close();
  assert.equal(raw.closedByCore, true);
});

test("acceptProxyHeader: LOCAL and UNKNOWN headers keep the socket's own addresses", () => {
  for (
    const header of [
      proxyV2({ command: 0 }),
      proxyV1("PROXY UNKNOWN"),
      proxyV2({ family: 0 }),
    ]
  ) {
    const raw = new FakeTransport();
    let proxied: ProxiedTransport | null = null;
    acceptProxyHeader(raw, { accept: (t) => (proxied = t), reject: noReject });
    raw.deliver(header);
    const p = proxied! as ProxiedTransport;
    assert.equal(p.remoteAddr, raw.remoteAddr);
    assert.equal(p.localAddr, raw.localAddr);
  }
});

/** Runs acceptProxyHeader and collects its rejection. */
function expectReject(options?: { timeout?: number }) {
  const raw = new FakeTransport();
  const errors: ProxyProtocolError[] = [];
  const cancel = acceptProxyHeader(raw, {
    accept: () => assert.fail("accepted"),
    reject: (error) => errors.push(error),
  }, options);
  return { raw, errors, cancel };
}

test("acceptProxyHeader: an invalid header is rejected at once and the connection closed", () => {
  const { raw, errors } = expectReject();
  raw.deliver(DATA); // a client speaking frames to a proxyProtocol server
  assert.equal(errors.length, 1);
  assert.equal(errors[0].reason, "invalid");
  assert.match(
    errors[0].message,
    /no PROXY protocol signature \(first bytes 03 00 00 00 6f 6e 65 03\b/,
  );
  assert.equal(raw.closedByCore, true);
  raw.deliver(HEADER); // nothing more happens
  assert.equal(errors.length, 1);
});

test("acceptProxyHeader: a connection that ends or fails mid-header is rejected", () => {
  const ended = expectReject();
  ended.raw.deliver(HEADER.subarray(0, 20));
  ended.raw.events!.end();
  assert.equal(ended.errors[0].reason, "ended");
  assert.equal(
    ended.errors[0].message,
    "Cannot read PROXY header: connection ended after 20 bytes",
  );
  assert.equal(ended.raw.closedByCore, true);
  const failed = expectReject();
  const reset = new Error("ECONNRESET");
  failed.raw.events!.closed(reset);
  assert.equal(failed.errors.length, 1);
  assert.equal(failed.errors[0].reason, "ended");
  assert.equal(failed.errors[0].cause, reset);
});

test("acceptProxyHeader: a header not complete within the timeout is rejected", async () => {
  const { raw, errors } = expectReject({ timeout: 30 });
  raw.deliver(HEADER.subarray(0, 5));
  await delay(80);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].reason, "timeout");
  assert.equal(
    errors[0].message,
    "Cannot read PROXY header: incomplete after 30 ms (5 bytes received)",
  );
  assert.equal(raw.closedByCore, true);
});

test("acceptProxyHeader: timeout 0 waits without limit; cancel closes with no outcome", async () => {
  const { raw, errors, cancel } = expectReject({ timeout: 0 });
  await delay(30);
  assert.equal(raw.closedByCore, false);
  cancel();
  assert.equal(raw.closedByCore, true);
  assert.equal(errors.length, 0);
  cancel(); // harmless
});

test("acceptProxyHeader: a complete header clears the timeout", async () => {
  const raw = new FakeTransport();
  acceptProxyHeader(raw, {
    accept: (t) => t.start(recorder().events),
    reject: noReject,
  }, { timeout: 20 });
  raw.deliver(HEADER);
  await delay(50);
  assert.equal(raw.closedByCore, false);
});

// The server's proxyProtocol option, over fake transports.

/** A handler that answers with the addresses it is shown. */
const whoAmI: ServerOptions["handler"] = (_request, context) =>
  text(
    `${context.remoteAddr.hostname}:${context.remoteAddr.port} -> ${context.localAddr.hostname}:${context.localAddr.port}`,
  );

function responses(raw: FakeTransport): string[] {
  const out: string[] = [];
  const wire = concat(raw.writes);
  for (let at = 0; at < wire.length;) {
    const length = new DataView(wire.buffer, wire.byteOffset + at).getUint32(
      0,
      true,
    );
    out.push(str(wire.subarray(at + 4, at + 4 + length)));
    at += 4 + length;
  }
  return out;
}

test("Server proxyProtocol: handlers see the proxied addresses; header bytes are not frame bytes", async () => {
  const server = new Server({ proxyProtocol: true, handler: whoAmI });
  const raw = new FakeTransport();
  server.serveConnection(raw);
  assert.equal(server.stats().connections, 0, "not served before its header");
  raw.deliver(concat([HEADER, DATA]));
  assert.deepEqual(responses(raw), [
    "203.0.113.9:40001 -> 192.0.2.1:1234",
    "203.0.113.9:40001 -> 192.0.2.1:1234",
  ]);
  const stats = server.stats();
  assert.equal(stats.framesIn, 2);
  assert.equal(stats.bytesIn, DATA.length);
  assert.equal(stats.connections, 1);
  raw.events!.end();
  raw.events!.closed(); // the fake transport does not close by itself
  await server.close();
});

test("Server proxyProtocol: a missing header closes the connection, counted and reported", async () => {
  const errors: Array<[unknown, number, string]> = [];
  const server = new Server({
    proxyProtocol: { timeout: 1000 },
    handler: whoAmI,
    onError: (error, context) =>
      errors.push([error, context.connectionId, context.remoteAddr.hostname]),
  });
  const raw = new FakeTransport();
  server.serveConnection(raw);
  raw.deliver(DATA);
  assert.equal(raw.closedByCore, true);
  assert.deepEqual(raw.writes, []);
  assert.equal(server.stats().proxyProtocolErrors, 1);
  assert.equal(server.stats().protocolErrors, 0);
  assert.equal(server.stats().totalConnections, 0);
  assert.equal(errors.length, 1);
  assert.ok(errors[0][0] instanceof ProxyProtocolError);
  assert.equal(errors[0][2], "fake", "the socket's own peer");
  await server.close();
});

test("Server proxyProtocol: connections waiting for their header count towards maxConnections", async () => {
  const server = new Server({
    proxyProtocol: true,
    maxConnections: 1,
    closeTimeout: 0,
  });
  const first = new FakeTransport();
  const second = new FakeTransport();
  server.serveConnection(first);
  server.serveConnection(second);
  assert.equal(second.closedByCore, true);
  assert.equal(server.stats().rejectedConnections, 1);
  assert.equal(first.closedByCore, false);
  first.deliver(HEADER);
  assert.equal(server.stats().connections, 1);
  await server.close();
});

test("Server proxyProtocol: close() closes connections still waiting for their header, silently", async () => {
  const errors: unknown[] = [];
  const server = new Server({
    proxyProtocol: true,
    onError: (e) => errors.push(e),
  });
  const raw = new FakeTransport();
  server.serveConnection(raw);
  raw.deliver(HEADER.subarray(0, 3));
  await server.close();
  assert.equal(raw.closedByCore, true);
  assert.deepEqual(errors, []);
  const late = new FakeTransport();
  server.serveConnection(late);
  assert.equal(late.closedByCore, true);
});

test("Server proxyProtocol: option validation", () => {
  assert.throws(
    () => new Server({ proxyProtocol: { timeout: -1 } }),
    RangeError,
  );
  assert.throws(
    () => new Server({ proxyProtocol: { timeout: 1.5 } }),
    TypeError,
  );
  assert.throws(
    () => new Server({ proxyProtocol: "yes" as unknown as boolean }),
    /Cannot use proxyProtocol: yes is not a boolean or an object/,
  );
  // Off: the bytes go straight to the frame decoder.
  const server = new Server({ proxyProtocol: false });
  const raw = new FakeTransport();
  server.serveConnection(raw);
  raw.deliver(DATA);
  assert.deepEqual(responses(raw), ["one", "two"]);
});
