// `serve --ws-port`, the WebSocket gateway, as a real process on this
// runtime (Deno.serve, Bun.serve or node:http with ws): a framewire client
// over a WebSocket pipelines 1,000 requests and one of 1 MiB, with u32le
// and u32le-id, and over wss: with --tls-cert; a text message is refused
// with 1003 and an oversize one with 1009; SIGTERM answers what was
// received, closes the socket with 1001 and exits 0; the flags are checked.
// The client side is the npm ws package's WebSocket, which every runtime
// (and Node 20, which has no global WebSocket) can run.
import { test } from "node:test";
import assert from "node:assert/strict";
import { WebSocket } from "ws";
import { Client } from "../src/client.ts";
import type { FrameFormatOption } from "../src/frame_format.ts";
import type { WebSocketLike } from "../src/websocket_transport.ts";
import {
  exited,
  runBench,
  runCli,
  type ServeProcess,
  startServeProcess,
  stopServe,
} from "./_cli_process.ts";
import { makeTlsFixture } from "./_tls_fixture.ts";
import { readFileSync } from "node:fs";
import { runtime } from "./_runtime.ts";
import { requireProgram } from "./_requires.ts";
import { gatewayPeerAddress } from "../src/cli/_ws_gateway.ts";
import {
  concat,
  delay,
  patternBytes,
  sameBytes,
  text,
  waitFor,
} from "./_helpers.ts";

const GATEWAY = /WebSocket gateway on (wss?):\/\/127\.0\.0\.1:(\d+)\//;
const needsOpenssl = requireProgram("openssl", import.meta.url);

/** `serve --ws-port 0` with `args`, and the gateway's URL. */
async function startGateway(
  args: string[] = [],
): Promise<{ server: ServeProcess; url: string }> {
  const server = await startServeProcess(
    ["--host", "127.0.0.1", "--port", "0", "--ws-port", "0", ...args],
    GATEWAY,
  );
  return {
    server,
    url: `${server.match[1]}://127.0.0.1:${server.match[2]}/`,
  };
}

/** A ws WebSocket to `url`, as the WebSocketLike the client takes. */
function openSocket(url: string, ca?: string): WebSocket {
  return new WebSocket(url, ca === undefined ? {} : { ca });
}

/** The close code and reason `socket` ends with. */
function closeOf(socket: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) =>
    socket.on(
      "close",
      (code, reason) => resolve({ code, reason: reason.toString() }),
    )
  );
}

/**
 * Pipelines 1,000 small requests and one of 1 MiB through the gateway and
 * checks every answer (the echo), with `format` (ids leave 4 bytes).
 */
async function pipelineThrough(
  url: string,
  format: FrameFormatOption,
  ca?: string,
): Promise<void> {
  const client = await Client.fromWebSocket(
    openSocket(url, ca) as unknown as WebSocketLike,
    { format },
  );
  const room = format === "u32le-id" ? new Uint8Array(4) : new Uint8Array(0);
  const requests = Array.from(
    { length: 1000 },
    (_, i) => concat([room, text(`request ${i}`)]),
  );
  requests.push(concat([room, patternBytes(1 << 20, 3)]));
  const answers = await Promise.all(requests.map((r) => client.request(r)));
  answers.forEach((answer, i) => {
    const body = answer.subarray(room.length);
    assert.ok(
      sameBytes(body, requests[i].subarray(room.length)),
      `answer ${i} is its request's`,
    );
  });
  await client.close();
}

for (const format of ["u32le", "u32le-id"] as const) {
  test(`cli: serve --ws-port pipelines 1,000 requests and one of 1 MiB (${format})`, async () => {
    const { server, url } = await startGateway(["--framing", format]);
    try {
      await pipelineThrough(url, format);
    } finally {
      assert.equal(await stopServe(server), 0);
    }
    assert.match(
      server.output(),
      /Server stopped: \d+ connections, 1001 requests served/,
    );
  });
}

test(
  "cli: serve --ws-port with --tls-cert serves wss:",
  { skip: needsOpenssl.skip },
  async () => {
    needsOpenssl.check();
    const tls = await makeTlsFixture();
    try {
      const { server, url } = await startGateway([
        "--tls-cert",
        tls.certPath,
        "--tls-key",
        tls.keyPath,
      ]);
      try {
        assert.ok(url.startsWith("wss://"), url);
        await pipelineThrough(url, "u32le", tls.ca);
      } finally {
        assert.equal(await stopServe(server), 0);
      }
    } finally {
      tls.remove();
    }
  },
);

test("cli: the gateway refuses text with 1003 and oversize messages with 1009", async () => {
  const { server, url } = await startGateway(["--max-frame-size", "1k"]);
  try {
    const texting = openSocket(url);
    await new Promise((resolve) => texting.once("open", resolve));
    const textClosed = closeOf(texting);
    texting.send("hello");
    assert.equal((await textClosed).code, 1003);
    const large = openSocket(url);
    await new Promise((resolve) => large.once("open", resolve));
    const largeClosed = closeOf(large);
    large.send(new Uint8Array(2048));
    assert.equal((await largeClosed).code, 1009);
    // The gateway goes on serving.
    await pipelineOne(url);
  } finally {
    assert.equal(await stopServe(server), 0);
  }
});

/** One request through the gateway: its echo. */
async function pipelineOne(url: string): Promise<void> {
  const client = await Client.fromWebSocket(
    openSocket(url) as unknown as WebSocketLike,
  );
  assert.ok(sameBytes(await client.request(text("one")), text("one")));
  await client.close();
}

test("cli: on SIGTERM the gateway answers what it received, closes with 1001 and exits 0", async () => {
  const { server, url } = await startGateway(["--slow", "1:300ms"]);
  const exit = exited(server.child);
  const socket = openSocket(url);
  const client = await Client.fromWebSocket(
    socket as unknown as WebSocketLike,
  );
  const closed = closeOf(socket);
  const answer = client.request(text("in flight"));
  await delay(100); // received; its answer is due 300 ms after
  server.child.kill("SIGTERM");
  assert.ok(sameBytes(await answer, text("in flight")));
  assert.equal((await closed).code, 1001);
  assert.equal(await exit, 0);
  await client.close();
});

for (const format of ["u32le", "u32le-id"] as const) {
  test(`cli: bench --ws drives the gateway, every answer verified (${format})`, async () => {
    const { server, url } = await startGateway(["--framing", format]);
    try {
      const { result } = await runBench([
        "--ws",
        url,
        "--framing",
        format,
        "-n",
        "2000",
        "-c",
        "4",
        "-P",
        "8",
        "--verify",
      ]);
      assert.equal(result.url, url);
      assert.equal(result.requests, 2000);
      assert.equal(result.errorCount, 0, JSON.stringify(result.errors));
      assert.equal(result.connected, 4);
    } finally {
      assert.equal(await stopServe(server), 0);
    }
  });
}

test('cli: the gateway\'s connections are counted with transport="websocket"', async () => {
  const { server, url } = await startGateway(["--admin-port", "0"]);
  try {
    await waitFor(() => /Metrics on http/.test(server.output()), "metrics");
    const admin = /Metrics on (http:\/\/127\.0\.0\.1:\d+)\/metrics/.exec(
      server.output(),
    )![1];
    const client = await Client.fromWebSocket(
      openSocket(url) as unknown as WebSocketLike,
    );
    assert.ok(sameBytes(await client.request(text("m")), text("m")));
    const body = await (await fetch(`${admin}/metrics`)).text();
    assert.match(body, /^framewire_connections\{transport="websocket"\} 1$/m);
    assert.match(body, /^framewire_connections\{transport="tcp"\} 0$/m);
    assert.match(
      body,
      /^framewire_connections_accepted_total\{transport="websocket"\} 1$/m,
    );
    await client.close();
  } finally {
    assert.equal(await stopServe(server), 0);
  }
});

/** The resident memory of process `pid`, in bytes (Linux). */
function residentBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)![1]) * 1024;
}

test("cli: a client that stops reading is held back, the gateway's memory bounded", async () => {
  const { server, url } = await startGateway(["--max-frame-size", "128k"]);
  try {
    const pid = server.child.pid!;
    await pipelineOne(url); // warm
    const before = residentBytes(pid);
    const socket = openSocket(url);
    await new Promise((resolve) => socket.once("open", resolve));
    const answers: number[] = [];
    socket.on("message", (data: Uint8Array) => answers.push(data[0]));
    const closed = closeOf(socket);
    socket.pause(); // reads nothing: the answers pile up at the server
    const count = 1600; // 100 MiB of requests
    for (let i = 0; i < count; i++) {
      socket.send(new Uint8Array(64 * 1024).fill(i & 0xff));
    }
    await delay(1500);
    const grown = residentBytes(pid) - before;
    console.log(
      `slow reader (${runtime}): 100 MiB sent unread, the server grew by ${
        (grown / 1048576).toFixed(1)
      } MiB`,
    );
    // Unbounded, the server would hold the 100 MiB sent and their answers.
    assert.ok(
      grown < 48 * 1024 * 1024,
      `the server grew by ${(grown / 1048576).toFixed(1)} MiB`,
    );
    socket.resume();
    if (runtime === "node") {
      // ws stops reading for real: TCP held the client back; all answers come.
      await waitFor(() => answers.length === count, "every answer", 30_000);
      assert.deepEqual(answers, answers.map((_, i) => i & 0xff));
      socket.close(1000);
    } else {
      // Deno's and Bun's server sockets cannot stop reading: past the
      // messages they may keep, the gateway closes the connection.
      const { code } = await closed;
      assert.ok(code === 1008 || code === 1006, `closed with ${code}`);
      assert.ok(answers.length < count);
    }
    await pipelineOne(url); // the gateway serves on
  } finally {
    assert.equal(await stopServe(server), 0);
  }
});

test("cli: --ws-port flags are checked", async () => {
  const cases: Array<[string[], RegExp]> = [
    [["serve", "--ws-host", "127.0.0.1"], /option '--ws-host' needs --ws-port/],
    [
      ["serve", "--ws-forwarded-for"],
      /option '--ws-forwarded-for' needs --ws-port/,
    ],
    [
      ["serve", "--ws-port", "0", "--workers", "2"],
      /option '--ws-port' serves in one process: not with --workers/,
    ],
    [["serve", "--ws-port", "70000"], /option '--ws-port' expects a port/],
    [
      ["bench", "--ws", "http://127.0.0.1:1/"],
      /option '--ws' expects a ws:\/\/ or wss:\/\/ URL, got 'http:\/\/127\.0\.0\.1:1\/'/,
    ],
    [
      ["bench", "--ws", "ws://127.0.0.1:1/", "--port", "1"],
      /option '--port' cannot be used with '--ws'/,
    ],
  ];
  for (const [args, message] of cases) {
    const run = await runCli(args);
    assert.equal(run.code, 2, args.join(" "));
    assert.match(run.stderr, message);
  }
});

test("cli: --ws-forwarded-for takes the X-Forwarded-For header's last address", () => {
  const remoteAddr = {
    transport: "websocket",
    hostname: "10.0.0.2",
    port: 40000,
  } as const;
  const forwardedFor = "198.51.100.7, 203.0.113.9";
  assert.deepEqual(gatewayPeerAddress({ remoteAddr, forwardedFor }, true), {
    transport: "websocket",
    hostname: "203.0.113.9",
    port: 0,
  });
  assert.equal(
    gatewayPeerAddress({ remoteAddr, forwardedFor }, false),
    remoteAddr,
  );
  assert.equal(
    gatewayPeerAddress({ remoteAddr, forwardedFor: null }, true),
    remoteAddr,
  );
});
