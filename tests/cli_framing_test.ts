// --framing on the command line, run as real processes on this runtime:
// serve (alone and with workers), client and bench speak the format, and a
// bad format exits 2 naming the option and the reason.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as net from "node:net";
import { Buffer } from "node:buffer";
import {
  runBench,
  runCli,
  startServeProcess,
  stopServe,
} from "./_cli_process.ts";
import { runLoadTest } from "../src/cli/load_tester.ts";
import { Server } from "../src/server.ts";
import type { FrameFormatOption } from "../src/frame_format.ts";
import { availableNetworks } from "./_runtime.ts";

const MEMCACHED = JSON.stringify({
  lengthFieldOffset: 8,
  lengthFieldLength: 4,
  byteOrder: "big",
  lengthAdjustment: 12,
  initialBytesToStrip: 0,
});
const MQTT = JSON.stringify({
  lengthFieldOffset: 1,
  lengthFieldLength: "varint",
  initialBytesToStrip: 0,
});

const bytes = (...parts: Array<number[] | string>) =>
  Buffer.concat(parts.map((part) => Buffer.from(part as string)));

/**
 * Sends `request` on a raw socket to 127.0.0.1:`port` and resolves with the
 * first `length` bytes that come back (rejects after 10 s).
 */
function exchange(
  port: number,
  request: Buffer,
  length: number,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    const chunks: Buffer[] = [];
    let received = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`got ${received} of ${length} bytes`));
    }, 10_000);
    socket.on("connect", () => socket.write(request));
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received >= length) {
        clearTimeout(timer);
        socket.destroy();
        resolve(Buffer.concat(chunks).subarray(0, length));
      }
    });
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** Runs `serve --framing format` on a free port while `body` runs. */
async function withServer(
  format: string,
  body: (port: string) => Promise<void>,
  extra: string[] = [],
): Promise<void> {
  const server = await startServeProcess(
    ["--host", "127.0.0.1", "--port", "0", "--framing", format, ...extra],
    /Server listening on 127\.0\.0\.1:(\d+)/,
  );
  try {
    await body(server.match[1]);
  } finally {
    assert.equal(await stopServe(server), 0, server.output());
  }
}

/** Runs `bench --framing format` against `port`; asserts 0 errors. */
async function benchClean(port: string, format: string, extra: string[] = []) {
  const { run, result } = await runBench([
    "--port",
    port,
    "--framing",
    format,
    "-n",
    "1000",
    "-c",
    "2",
    "-P",
    "8",
    "--verify",
    ...extra,
  ]);
  assert.equal(result.requests, 1000);
  assert.equal(result.errorCount, 0, run.stdout);
  assert.equal(result.verified, true);
  assert.deepEqual(
    result.framing,
    format.startsWith("{") ? JSON.parse(format) : format,
  );
}

test("cli --framing u16be: serve, client and bench speak 2-byte big-endian lengths", async () => {
  await withServer("u16be", async (port) => {
    // On the wire: 0x00 0x05 "hello", answered the same.
    const wire = bytes([0, 5], "hello");
    assert.deepEqual(await exchange(Number(port), wire, wire.length), wire);
    const run = await runCli([
      "client",
      "--port",
      port,
      "--framing",
      "u16be",
      "ping",
      "pong",
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^1: 4 bytes "ping"\n2: 4 bytes "pong"\n/);
    // The demo's large message shrinks to what a 2-byte field holds.
    const demo = await runCli(["client", "--port", port, "--framing", "u16be"]);
    assert.equal(demo.code, 0, demo.stderr);
    assert.match(demo.stdout, /\n4: 65535 bytes "framewire-32MiB-/);
    await benchClean(port, "u16be");
  });
});

test("cli --framing varint: serve, client and bench speak varint lengths", async () => {
  await withServer("varint", async (port) => {
    // 300 bytes: the varint 0xac 0x02.
    const wire = Buffer.concat([bytes([0xac, 0x02]), Buffer.alloc(300, 7)]);
    assert.deepEqual(await exchange(Number(port), wire, wire.length), wire);
    const run = await runCli([
      "client",
      "--port",
      port,
      "--framing",
      "varint",
      "hello",
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^1: 5 bytes "hello"\n/);
    await benchClean(port, "varint", ["-s", "200"]);
  });
});

test("cli --framing JSON with whole frames: memcached's binary header, echoed whole", async () => {
  await withServer(MEMCACHED, async (port) => {
    // A GET of key "k": 24-byte header, total body length 1 at offset 8.
    const header = Buffer.alloc(24);
    header[0] = 0x80;
    header[3] = 1; // key length
    header.writeUInt32BE(1, 8);
    header.writeUInt32BE(0xdeadbeef, 12); // opaque
    const wire = Buffer.concat([header, bytes("k")]);
    assert.deepEqual(await exchange(Number(port), wire, wire.length), wire);
    // The client frames each message whole: 8 zero bytes, the field, then the
    // message as the 12 bytes of opaque and CAS and the body.
    const message = "0123456789ab-body";
    const run = await runCli([
      "client",
      "--port",
      port,
      "--framing",
      MEMCACHED,
      message,
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^1: 29 bytes "\.{12}0123456789ab-body"\n/);
    await benchClean(port, MEMCACHED, ["-s", "64"]);
  });
});

test("cli --framing: MQTT's varint at offset 1 and serve --workers", async () => {
  await withServer(MQTT, async (port) => {
    const pingreq = bytes([0xc0, 0x00]);
    const publish = Buffer.concat([
      bytes([0x30, 130, 1]),
      Buffer.alloc(130, 1),
    ]);
    const wire = Buffer.concat([pingreq, publish]);
    assert.deepEqual(await exchange(Number(port), wire, wire.length), wire);
    await benchClean(port, MQTT);
  });
  // Each worker gets --framing.
  const server = await startServeProcess(
    [
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--workers",
      "2",
      "--framing",
      "u16be",
    ],
    /Server listening on 127\.0\.0\.1:(\d+) with 2 workers/,
  );
  try {
    const port = Number(server.match[1]);
    for (let i = 0; i < 4; i++) {
      const wire = bytes([0, 3], `w${i}!`);
      assert.deepEqual(await exchange(port, wire, wire.length), wire);
    }
  } finally {
    assert.equal(await stopServe(server), 0, server.output());
  }
});

test("cli --framing: a bad or unwritable format exits 2 naming --framing and the reason", async () => {
  const cases: Array<[string, RegExp]> = [
    [
      "u17",
      /"u17" is not a preset \(u32le, u32be, u16be, varint, u32le-id, dns\)/,
    ],
    ["{bad", /not valid JSON/],
    ["[4]", /is not a preset .* or a JSON object/],
    [
      '{"lengthFieldLength":5}',
      /lengthFieldLength must be 1, 2, 3, 4, 8 or "varint", got 5/,
    ],
    [
      '{"lengthFieldLength":2}',
      /byteOrder is required with a 2-byte length field/,
    ],
    [
      '{"lengthFieldLength":1,"lengthFieldOfset":1}',
      /unknown option lengthFieldOfset/,
    ],
    [
      '{"lengthFieldOffset":2,"lengthFieldLength":1}',
      /can be decoded but not written \(lengthFieldOffset 2, initialBytesToStrip the header\)/,
    ],
    [
      '{"lengthFieldLength":4,"byteOrder":"big","initialBytesToStrip":2}',
      /can be decoded but not written \(lengthFieldOffset 0, initialBytesToStrip 2\)/,
    ],
  ];
  for (const command of ["serve", "client", "bench"]) {
    for (const [format, reason] of cases) {
      const run = await runCli([command, "--port", "1", "--framing", format]);
      const what = `${command} --framing ${format}`;
      assert.equal(run.code, 2, `${what}: ${run.stdout}${run.stderr}`);
      assert.match(
        run.stderr,
        /^error: option '--framing': Invalid frame format: /,
        what,
      );
      assert.match(run.stderr, reason, what);
    }
  }
  // A payload size the format cannot frame.
  const small = await runCli([
    "bench",
    "--port",
    "1",
    "--framing",
    '{"lengthFieldLength":1}',
    "-s",
    "300",
  ]);
  assert.equal(small.code, 2, small.stderr);
  assert.match(
    small.stderr,
    /option '--size' does not fit '--framing': Cannot encode frame: length 300 exceeds maxFrameSize 255/,
  );
  const help = await runCli(["serve", "--help"]);
  assert.match(help.stdout, /--framing NAME\|JSON/);
});

test("runLoadTest with a format: whole frames and headers verified, a changed byte is a mismatch", async () => {
  const [[, network]] = availableNetworks();
  const formats: FrameFormatOption[] = [
    "u16be",
    "varint",
    JSON.parse(MEMCACHED),
    JSON.parse(MQTT),
  ];
  for (const format of formats) {
    for (const tamper of [false, true]) {
      const server = new Server({
        format,
        // Flips the last byte: a payload byte in every format here.
        handler: tamper
          ? (request) => {
            const response = request.slice();
            response[response.length - 1] ^= 1;
            return response;
          }
          : undefined,
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
        const what = `${JSON.stringify(format)}${tamper ? ", tampered" : ""}`;
        assert.equal(result.requests, 200, what);
        assert.equal(result.errors.mismatch, tamper ? 200 : 0, what);
        assert.equal(result.errorCount, result.errors.mismatch, what);
      } finally {
        await server.close();
      }
    }
  }
  // A format that cannot be written, or a payload it cannot carry, throws
  // before connecting.
  await assert.rejects(
    runLoadTest({
      network,
      format: { lengthFieldOffset: 1, lengthFieldLength: 1 },
    }),
    /can be decoded but not written/,
  );
  await assert.rejects(
    runLoadTest({ network, format: JSON.parse(MEMCACHED), payloadSize: 4 }),
    /shorter than lengthAdjustment 12/,
  );
});
