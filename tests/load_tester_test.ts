// The load tester against real servers on loopback.
import { test } from "node:test";
import assert from "node:assert/strict";
import { runLoadTest } from "../src/cli/load_tester.ts";
import { isSlowRequest, slowEchoHandler } from "../src/cli/_slow_requests.ts";
import { Server } from "../src/server.ts";
import { availableNetworks } from "./_runtime.ts";
import * as net from "node:net";
import { Buffer } from "node:buffer";

const [[, network]] = availableNetworks();

async function startServer(handler?: (r: Uint8Array) => Uint8Array) {
  const server = new Server({ handler });
  const { port } = await server.listen(network, { host: "127.0.0.1", port: 0 });
  return { server, port };
}

test("load tester: requests mode sends exactly N verified requests", async () => {
  const { server, port } = await startServer();
  const result = await runLoadTest({
    network,
    port,
    connections: 10,
    pipeline: 8,
    payloadSize: 100,
    requests: 5000,
    verify: true,
  });
  assert.equal(result.requests, 5000);
  assert.equal(result.sent, 5000);
  assert.equal(result.errorCount, 0);
  assert.equal(result.connected, 10);
  assert.equal(
    server.stats().framesIn,
    5000,
    "no request beyond the measured ones",
  );
  assert.ok(
    result.latencyUs.p50 > 0 && result.latencyUs.p50 <= result.latencyUs.max,
  );
  assert.ok(result.requestsPerSecond > 0);
  await server.close();
});

test("load tester: duration mode with warm-up counts only measured responses", async () => {
  const { server, port } = await startServer();
  const result = await runLoadTest({
    network,
    port,
    connections: 4,
    pipeline: 16,
    duration: 0.5,
    warmup: 0.2,
    verify: true,
  });
  assert.equal(result.errorCount, 0);
  assert.ok(result.requests > 0);
  // Timers may fire a fraction of a millisecond early against performance.now().
  assert.ok(
    result.seconds >= 0.49 && result.seconds < 2,
    `${result.seconds} s`,
  );
  assert.ok(
    server.stats().framesIn > result.requests,
    "warm-up requests are not counted",
  );
  await server.close();
});

test("load tester: a server that answers wrongly is reported as mismatches", async () => {
  const { server, port } = await startServer((request) => {
    const response = request.slice();
    if (response.length > 5) response[5] ^= 1;
    return response;
  });
  const result = await runLoadTest({
    network,
    port,
    requests: 100,
    verify: true,
  });
  assert.equal(result.errors.mismatch, 100);
  assert.equal(result.errorCount, 100);
  await server.close();
});

test("load tester: refused connections are counted as connect errors", async () => {
  const { server, port } = await startServer();
  await server.close();
  const result = await runLoadTest({
    network,
    port,
    connections: 3,
    duration: 0.2,
    warmup: 0,
  });
  assert.equal(result.errors.connect, 3);
  assert.equal(result.connected, 0);
  assert.equal(result.requests, 0);
});

test("load tester: with requests, only requests sent and unanswered at the time limit are timeouts", async () => {
  // A server that never answers: each connection sends its pipeline, then
  // waits; the rest of the 1,000 requests are never sent.
  const server = new Server({ handler: () => new Promise<never>(() => {}) });
  const { port } = await server.listen(network, {
    host: "127.0.0.1",
    port: 0,
  });
  const result = await runLoadTest({
    network,
    port,
    connections: 2,
    pipeline: 4,
    requests: 1000,
    duration: 0.3,
  });
  assert.equal(result.requests, 0);
  assert.equal(result.sent, 8);
  assert.equal(result.errors.timeout, 8, "not the 992 never sent");
  assert.equal(result.errorCount, 8);
  await server.close({ force: true });
});

test("load tester: requests lost with a closed connection are not timeouts", async () => {
  // The server fails the 10th request of each connection and closes it.
  const server = new Server<{ requests: number }>({
    onConnection: (context) => {
      context.state.requests = 0;
    },
    handler: (request, context) => {
      if (++context.state.requests === 10) throw new Error("tenth request");
      return request;
    },
    onError: () => {},
  });
  const { port } = await server.listen(network, {
    host: "127.0.0.1",
    port: 0,
  });
  const result = await runLoadTest({
    network,
    port,
    connections: 1,
    pipeline: 1,
    requests: 100,
    verify: true,
  });
  assert.equal(result.requests, 9);
  assert.equal(result.sent, 10);
  assert.deepEqual(result.errors, {
    connect: 0,
    closed: 1,
    mismatch: 0,
    protocol: 0,
    timeout: 0,
  });
  await server.close();
});

// Request ids: the load tester matches responses by id, in any order.

/**
 * A raw u32le-id server on 127.0.0.1: `answer` gets the frames of each
 * connection as they come (header included) and what it returns is written.
 */
async function rawIdServer(
  answer: (frames: Buffer[]) => Buffer[],
): Promise<{ port: number; close(): void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let pending = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      const frames: Buffer[] = [];
      while (
        pending.length >= 4 && pending.length >= 4 + pending.readUInt32LE(0)
      ) {
        const end = 4 + pending.readUInt32LE(0);
        frames.push(pending.subarray(0, end));
        pending = pending.subarray(end);
      }
      const out = answer(frames);
      if (out.length > 0) socket.write(Buffer.concat(out));
    });
  });
  await new Promise<void>((resolve) =>
    server.listen({ host: "127.0.0.1", port: 0 }, resolve)
  );
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

test("load tester with u32le-id: responses in reverse order are matched by id and verified", async () => {
  // Answers every 4 requests in reverse order.
  let held: Buffer[] = [];
  let reordered = 0;
  const server = await rawIdServer((frames) => {
    held.push(...frames);
    if (held.length < 4) return [];
    const out = held.reverse();
    held = [];
    reordered += out.length;
    return out;
  });
  try {
    const result = await runLoadTest({
      network,
      port: server.port,
      format: "u32le-id",
      connections: 1,
      pipeline: 4,
      requests: 400,
      verify: true,
    });
    assert.equal(result.requests, 400);
    assert.equal(result.errorCount, 0, JSON.stringify(result.errors));
    assert.equal(reordered, 400);
  } finally {
    server.close();
  }
});

test("load tester with u32le-id: ids are new for each request and differ per connection; the sequence number follows the id", async () => {
  const ids = new Set<number>();
  const sequence: number[] = [];
  const server = await rawIdServer((frames) => {
    for (const frame of frames) {
      ids.add(frame.readUInt32LE(4));
      sequence.push(frame.readUInt32LE(8));
    }
    return frames;
  });
  try {
    const result = await runLoadTest({
      network,
      port: server.port,
      format: "u32le-id",
      connections: 2,
      pipeline: 8,
      payloadSize: 16,
      requests: 2000,
      verify: true,
    });
    assert.equal(result.errorCount, 0);
    assert.equal(result.requests, 2000);
    // A slot's id changes with each use (its generation), and the two
    // connections start at random generations: no id repeats.
    assert.equal(ids.size, 2000);
    // Each connection numbers its requests from 0, in the 4 bytes after the id.
    assert.equal(sequence.length, 2000);
    assert.ok(sequence.every((seq) => seq < 2000), "sequence numbers");
    const uses = new Map<number, number>();
    for (const seq of sequence) uses.set(seq, (uses.get(seq) ?? 0) + 1);
    assert.ok([...uses.values()].every((n) => n <= 2), "once per connection");
  } finally {
    server.close();
  }
});

test("load tester with u32le-id: a response with an unknown or repeated id is a protocol error", async () => {
  for (const mistake of ["unknown", "repeated"] as const) {
    const server = await rawIdServer((frames) =>
      frames.flatMap((frame) => {
        if (mistake === "repeated") return [frame, frame];
        const wrong = Buffer.from(frame);
        wrong.writeUInt32LE((wrong.readUInt32LE(4) ^ 0x8000_0000) >>> 0, 4);
        return [wrong];
      })
    );
    try {
      const result = await runLoadTest({
        network,
        port: server.port,
        format: "u32le-id",
        connections: 1,
        pipeline: 2,
        duration: 0.3,
        warmup: 0,
      });
      assert.equal(result.errors.protocol, 1, mistake);
      assert.ok(result.requests <= 2, `${mistake}: ${result.requests}`);
    } finally {
      server.close();
    }
  }
});

test("load tester with a request id: the pipeline may use half the id space", async () => {
  await assert.rejects(
    runLoadTest({ network, format: "dns", pipeline: 32769 }),
    (error: Error) =>
      error instanceof RangeError &&
      /pipeline: 32769 is outside the range 1 to 32768/.test(error.message),
  );
});

test("load tester with whole frames and an id: memcached's opaque field, the sequence number after it", async () => {
  // memcached's binary header, kept whole: the 4-byte opaque at offset 12,
  // just where the payload after the length field starts.
  const format = {
    lengthFieldOffset: 8,
    lengthFieldLength: 4,
    byteOrder: "big",
    lengthAdjustment: 12,
    initialBytesToStrip: 0,
    requestId: { offset: 12, length: 4, byteOrder: "big" },
  } as const;
  for (const tamper of [-1, 16, 19, 20]) {
    // Flips a byte: the sequence number (16 to 19) or the payload (20).
    const server = new Server({
      format,
      handler: tamper < 0 ? undefined : (request) => {
        const response = request.slice();
        response[tamper] ^= 1;
        return response;
      },
    });
    const { port } = await server.listen(network, {
      host: "127.0.0.1",
      port: 0,
    });
    try {
      const result = await runLoadTest({
        network,
        port,
        format,
        connections: 2,
        pipeline: 4,
        payloadSize: 40,
        requests: 200,
        verify: true,
      });
      assert.equal(result.requests, 200, `byte ${tamper}`);
      assert.equal(result.errors.mismatch, tamper < 0 ? 0 : 200, `${tamper}`);
      assert.equal(result.errors.protocol, 0);
    } finally {
      await server.close();
    }
  }
  // An id inside the length field cannot be load-tested.
  await assert.rejects(
    runLoadTest({
      network,
      format: {
        ...format,
        requestId: { offset: 10, length: 2, byteOrder: "big" },
      },
      payloadSize: 40,
    }),
    /the request id field \(2 bytes at offset 10\) overlaps the length field/,
  );
});

test("isSlowRequest: picks about FRACTION of distinct requests, all with 1, none with 0", () => {
  // The load tester's requests: 16 bytes, a random id, then a sequence number.
  const request = new Uint8Array(16).fill(97);
  const view = new DataView(request.buffer);
  const base = Math.floor(Math.random() * 0x1_0000_0000);
  const count = (fraction: number, n: number) => {
    let slow = 0;
    for (let i = 0; i < n; i++) {
      view.setUint32(0, (base + i * 8) >>> 0, true);
      view.setUint32(4, i, true);
      if (isSlowRequest(request, fraction)) slow++;
    }
    return slow;
  };
  // 100,000 requests at 1%: 1,000 expected, with a standard deviation of
  // about 31; the bound is over 6 of them.
  const slow = count(0.01, 100_000);
  assert.ok(slow > 800 && slow < 1200, `${slow} of 100,000`);
  const half = count(0.5, 10_000);
  assert.ok(half > 4700 && half < 5300, `${half} of 10,000`);
  assert.equal(count(0, 10_000), 0);
  assert.equal(count(1, 10_000), 10_000);
  // Identical requests share their fate; a range of bytes can be hashed in place.
  const copy = new Uint8Array(20);
  copy.set(request, 4);
  for (const fraction of [0.1, 0.3, 0.7]) {
    assert.equal(
      isSlowRequest(copy, fraction, 4, 20),
      isSlowRequest(request.slice(), fraction),
    );
  }
});

test("load tester with slow: tells the requests the server delays from the fast ones", async () => {
  // One request in flight per connection: no request waits behind another,
  // so the fast ones never take the delay, and each slow one takes it.
  const fraction = 0.2;
  const delay = 100;
  for (const format of ["u32le", "u32le-id"] as const) {
    const server = new Server({
      format,
      handler: slowEchoHandler({ fraction, delay }),
      zeroCopy: true,
    });
    const { port } = await server.listen(network, {
      host: "127.0.0.1",
      port: 0,
    });
    try {
      const result = await runLoadTest({
        network,
        port,
        format,
        connections: 10,
        pipeline: 1,
        requests: 300,
        verify: true,
        slow: fraction,
      });
      assert.equal(result.errorCount, 0, format);
      assert.equal(result.requests, 300, format);
      assert.equal(result.slow, fraction);
      // 60 expected (standard deviation 7).
      const slow = result.slowRequests!;
      assert.ok(slow > 25 && slow < 100, `${format}: ${slow} slow`);
      assert.ok(result.latencyUs.max >= delay * 1000, format);
      const fast = result.fastLatencyUs!;
      assert.ok(fast.max < delay * 1000, `${format}: fast max ${fast.max} us`);
      assert.ok(fast.p50 > 0 && fast.p50 <= fast.p99, format);
    } finally {
      await server.close();
    }
  }
  // Without slow, no classification.
  const plain = new Server({});
  const { port } = await plain.listen(network, { host: "127.0.0.1", port: 0 });
  const result = await runLoadTest({ network, port, requests: 10 });
  assert.equal(result.fastLatencyUs, undefined);
  assert.equal(result.slowRequests, undefined);
  await plain.close();
});

test("load tester with 2-, 4- and 8-byte ids of either byte order: every response matched and verified", async () => {
  for (const length of [2, 4, 8] as const) {
    for (const byteOrder of ["little", "big"] as const) {
      const format = {
        lengthFieldLength: 4,
        byteOrder: "little",
        requestId: { offset: 3, length, byteOrder },
      } as const;
      const server = new Server({ format });
      const { port } = await server.listen(network, {
        host: "127.0.0.1",
        port: 0,
      });
      try {
        const result = await runLoadTest({
          network,
          port,
          format,
          connections: 3,
          pipeline: 5,
          payloadSize: 24,
          requests: 600,
          verify: true,
        });
        const what = `${length} bytes, ${byteOrder}`;
        assert.equal(result.requests, 600, what);
        assert.equal(result.errorCount, 0, what);
      } finally {
        await server.close();
      }
    }
  }
});
