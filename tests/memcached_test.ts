// memcached's binary protocol, a format that keeps its 24-byte header (the
// body length at offset 8, initialBytesToStrip 0): requests and responses
// are whole frames. Against real peers both ways: framewire's client
// pipelines SETs and GETs to memcached, built by hand
// (tests/_memcached_protocol.ts), and checks every response; memjs, an npm
// memcached client, talks to a framewire server whose handler is a tiny
// binary-protocol memcached. A malformed whole frame, handed by a client or
// returned by a handler, is refused with a clear error. memcached is a child
// process, stopped by its own PID.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import process from "node:process";
// @ts-types="@types/memjs"
import memjs from "memjs";
import { connect, serve } from "../src/adapters/auto.ts";
import type { Client } from "../src/client.ts";
import { FrameTooLargeError } from "../src/errors.ts";
import {
  getRequest,
  HEADER_SIZE,
  MEMCACHED_FORMAT,
  Opcode,
  packet,
  parsePacket,
  RESPONSE_MAGIC,
  setRequest,
  Status,
} from "./_memcached_protocol.ts";
import { patternBytes, sameBytes, text, waitFor } from "./_helpers.ts";
import { startPeer } from "./_peer_process.ts";
import { requireProgram } from "./_requires.ts";

// Skipped without memcached on PATH (failed under FRAMEWIRE_REQUIRE_ALL=1).
const needsMemcached = requireProgram("memcached", import.meta.url);

/** memcached, binary protocol only, TCP on 127.0.0.1, no UDP. */
function startMemcached() {
  const asRoot = process.getuid?.() === 0;
  return startPeer("memcached", (port) => [
    "-B",
    "binary",
    "-l",
    "127.0.0.1",
    "-p",
    String(port),
    "-U",
    "0",
    "-m",
    "64",
    ...(asRoot ? ["-u", "root"] : []), // memcached refuses to run as root otherwise
  ]);
}

/** The value stored under key `i`: sizes from 0 to about 2 KB, a few of 64 KiB. */
function valueOf(i: number): Uint8Array {
  const size = i % 250 === 7 ? 64 * 1024 : (i * 37) % 2048;
  return patternBytes(size, i);
}

const keyOf = (i: number) => text(`framewire:${i}`);

/** Checks a response frame: magic, opcode, status and opaque; returns it parsed. */
function expectResponse(
  frame: Uint8Array,
  opcode: number,
  opaque: number,
  status: number = Status.ok,
) {
  const response = parsePacket(frame);
  assert.equal(response.magic, RESPONSE_MAGIC, `response ${opaque}: magic`);
  assert.equal(response.opcode, opcode, `response ${opaque}: opcode`);
  assert.equal(response.opaque, opaque, `response ${opaque}: opaque`);
  assert.equal(
    response.status,
    status,
    `response ${opaque}: status (${new TextDecoder().decode(response.value)})`,
  );
  return response;
}

test(
  "memcached: framewire's client pipelines 1,000 SETs and 1,000 GETs to memcached, every response checked",
  {
    skip: needsMemcached.skip,
  },
  async () => {
    needsMemcached.check();
    const memcached = await startMemcached();
    let client: Client | null = null;
    try {
      client = await connect({
        host: "127.0.0.1",
        port: memcached.port,
        format: MEMCACHED_FORMAT,
      });
      const count = 1000;
      // SET i then GET i, for every i, all issued before any is awaited:
      // memcached answers in order, so each GET sees its SET.
      const pending: Promise<Uint8Array>[] = [];
      for (let i = 0; i < count; i++) {
        pending.push(
          client.request(setRequest(keyOf(i), valueOf(i), 2 * i, i)),
        );
        pending.push(client.request(getRequest(keyOf(i), 2 * i + 1)));
      }
      pending.push(
        client.request(getRequest(text("framewire:none"), 2 * count)),
      );
      const responses = await Promise.all(pending);
      const casOf: bigint[] = [];
      for (let i = 0; i < count; i++) {
        const set = expectResponse(responses[2 * i], Opcode.set, 2 * i);
        assert.ok(set.cas > 0n, `SET ${i} returns a CAS`);
        assert.equal(set.value.length, 0, `SET ${i}: no value`);
        casOf.push(set.cas);
        const get = expectResponse(responses[2 * i + 1], Opcode.get, 2 * i + 1);
        assert.equal(get.extras.length, 4, `GET ${i}: the flags`);
        const flags = new DataView(get.extras.buffer, get.extras.byteOffset, 4);
        assert.equal(flags.getUint32(0), i, `GET ${i}: flags as set`);
        assert.equal(get.cas, set.cas, `GET ${i}: the CAS of its SET`);
        assert.ok(sameBytes(get.value, valueOf(i)), `GET ${i}: the value set`);
      }
      expectResponse(
        responses[2 * count],
        Opcode.get,
        2 * count,
        Status.keyNotFound,
      );
      // Then 1,000 GETs alone, pipelined in reverse order.
      const gets = Array.from(
        { length: count },
        (_, n) => client!.request(getRequest(keyOf(count - 1 - n), 10_000 + n)),
      );
      (await Promise.all(gets)).forEach((frame, n) => {
        const i = count - 1 - n;
        const get = expectResponse(frame, Opcode.get, 10_000 + n);
        assert.equal(get.cas, casOf[i], `GET ${i} again: same CAS`);
        assert.ok(sameBytes(get.value, valueOf(i)), `GET ${i} again: value`);
      });
    } catch (error) {
      throw new Error(`${error}; memcached said: ${memcached.output()}`, {
        cause: error,
      });
    } finally {
      await client?.close();
      await memcached.stop();
    }
  },
);

test(
  "memcached: a client handing a malformed whole frame is refused, and its connection carries on",
  {
    skip: needsMemcached.skip,
  },
  async () => {
    needsMemcached.check();
    const memcached = await startMemcached();
    let client: Client | null = null;
    try {
      client = await connect({
        host: "127.0.0.1",
        port: memcached.port,
        format: MEMCACHED_FORMAT,
        maxFrameSize: 4096,
      });
      const good = setRequest(text("k"), text("v"), 1);
      type ErrorClass = typeof RangeError | typeof FrameTooLargeError;
      const cases: [string, Uint8Array, ErrorClass, RegExp][] = [
        // The header declares one body byte more than the frame has.
        [
          "a short body",
          good.subarray(0, good.length - 1),
          RangeError,
          /Cannot encode frame/,
        ],
        [
          "less than the length field",
          good.subarray(0, 10),
          RangeError,
          /no complete header/,
        ],
        [
          "less than the 24-byte header",
          good.subarray(0, HEADER_SIZE - 4),
          RangeError,
          /not one frame/,
        ],
        [
          "two frames in one",
          new Uint8Array([...good, ...good]),
          RangeError,
          /not one frame/,
        ],
        [
          "a frame over maxFrameSize",
          setRequest(text("k"), new Uint8Array(5000), 2),
          FrameTooLargeError,
          /4096/,
        ],
      ];
      for (const [what, frame, kind, message] of cases) {
        await assert.rejects(
          client.request(frame),
          (error: unknown) => {
            assert.ok(
              error instanceof kind,
              `${what}: ${kind.name}, got ${error}`,
            );
            assert.match((error as Error).message, message, what);
            return true;
          },
          what,
        );
      }
      // Nothing was written: the next request is answered as the first.
      const response = await client.request(good);
      expectResponse(response, Opcode.set, 1);
    } finally {
      await client?.close();
      await memcached.stop();
    }
  },
);

/** A tiny memcached (GET and SET) as a framewire handler: whole frames in and out. */
function memcachedHandler() {
  const items = new Map<
    string,
    { flags: Uint8Array; value: Uint8Array; cas: bigint }
  >();
  let cas = 0n;
  const decoder = new TextDecoder();
  return (frame: Uint8Array): Uint8Array => {
    const request = parsePacket(frame);
    const key = decoder.decode(request.key);
    const reply = (status: number, body = {}, itemCas = 0n) =>
      packet(
        RESPONSE_MAGIC,
        request.opcode,
        status,
        request.opaque,
        body,
        itemCas,
      );
    if (request.opcode === Opcode.set) {
      cas++;
      items.set(key, {
        flags: request.extras.slice(0, 4),
        value: request.value.slice(),
        cas,
      });
      return reply(Status.ok, {}, cas);
    }
    if (request.opcode === Opcode.get) {
      const item = items.get(key);
      if (item === undefined) {
        return reply(Status.keyNotFound, { value: text("Not found") });
      }
      return reply(
        Status.ok,
        { extras: item.flags, value: item.value },
        item.cas,
      );
    }
    return reply(Status.unknownCommand, { value: text("Unknown command") });
  };
}

test("memcached: memjs stores and reads back 500 values through a framewire server in memcached's format", async () => {
  const server = await serve({
    host: "127.0.0.1",
    port: 0,
    format: MEMCACHED_FORMAT,
    handler: memcachedHandler(),
  });
  const memcache = memjs.Client.create(`127.0.0.1:${server.addr.port}`, {
    retries: 0,
    timeout: 10,
    logger: { log: () => {} },
  });
  try {
    const count = 500;
    const values = Array.from(
      { length: count },
      (_, i) => Buffer.from(valueOf(i)),
    );
    const stored = await Promise.all(
      values.map((value, i) =>
        memcache.set(`memjs:${i}`, value, { expires: 0 })
      ),
    );
    assert.ok(stored.every((ok) => ok), "every SET succeeded");
    const read = await Promise.all(
      values.map((_, i) => memcache.get(`memjs:${i}`)),
    );
    read.forEach(({ value }, i) => {
      assert.ok(value !== null, `memjs:${i} found`);
      assert.ok(sameBytes(value, values[i]), `memjs:${i} has its value`);
    });
    assert.equal((await memcache.get("memjs:none")).value, null, "a miss");
    const stats = server.stats();
    assert.equal(
      stats.framesIn,
      2 * count + 1,
      "every request reached the handler",
    );
    assert.equal(stats.handlerErrors, 0);
  } finally {
    memcache.close();
    await server.close();
  }
});

test("memcached: a handler returning a malformed whole frame fails its connection with a clear error", async () => {
  const errors: unknown[] = [];
  const server = await serve({
    host: "127.0.0.1",
    port: 0,
    format: MEMCACHED_FORMAT,
    // A response whose header declares 8 body bytes more than it has.
    handler: (frame) => {
      const response = memcachedHandler()(frame);
      new DataView(response.buffer, response.byteOffset).setUint32(
        8,
        response.length - HEADER_SIZE + 8,
      );
      return response;
    },
    onError: (error) => errors.push(error),
  });
  const client = await connect({
    host: "127.0.0.1",
    port: server.addr.port,
    format: MEMCACHED_FORMAT,
  });
  try {
    await assert.rejects(client.request(getRequest(text("k"), 7)));
    await waitFor(() => errors.length > 0, "the handler error");
    const error = errors[0];
    assert.ok(error instanceof RangeError, `a RangeError, got ${error}`);
    assert.match(error.message, /Cannot encode frame: .* not one frame/);
    assert.equal(server.stats().handlerErrors, 1, "counted as a handler error");
  } finally {
    await client.close();
    await server.close();
  }
});
