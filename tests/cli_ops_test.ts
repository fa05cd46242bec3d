// The serve command's operations flags, run as a real process on this
// runtime: --metrics-port, --log-format json, --proxy-protocol, and a second
// shutdown signal.
import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { availableNetworks } from "./_runtime.ts";
import {
  exited,
  runCli,
  startServeProcess,
  stopServe,
} from "./_cli_process.ts";
import { encodeFrames } from "../src/frame_encoder.ts";
import { patternBytes, RawConnection, str, text, waitFor } from "./_helpers.ts";

const network = availableNetworks()[0][1];

test("cli: serve --metrics-port exposes live counters in the Prometheus text format", async () => {
  const server = await startServeProcess(
    ["--host", "127.0.0.1", "--port", "0", "--metrics-port", "0"],
    /Metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/,
  );
  try {
    const port = Number(
      /Server listening on 127\.0\.0\.1:(\d+)/.exec(server.output())![1],
    );
    const metricsUrl = `http://127.0.0.1:${server.match[1]}/metrics`;
    const raw = await RawConnection.open(network, port);
    raw.write(encodeFrames([text("one"), text("two")]));
    await waitFor(() => raw.frames.length === 2, "the answers");
    const response = await fetch(metricsUrl);
    assert.equal(response.status, 200);
    assert.match(
      response.headers.get("content-type") ?? "",
      /^text\/plain; version=0\.0\.4/,
    );
    const body = await response.text();
    assert.match(body, /^framewire_frames_received_total 2$/m);
    assert.match(body, /^framewire_connections\{transport="tcp"\} 1$/m);
    assert.match(body, /^framewire_connections\{transport="websocket"\} 0$/m);
    assert.match(body, /^# TYPE framewire_handler_seconds summary$/m);
    const missing = await fetch(`http://127.0.0.1:${server.match[1]}/other`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
    raw.transport.close();
  } finally {
    assert.equal(await stopServe(server), 0);
  }
});

test("cli: serve --log-format json writes one JSON object per event", async () => {
  const server = await startServeProcess(
    [
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--log-format",
      "json",
      "--max-frame-size",
      "16",
    ],
    /"event":"listening"/,
  );
  const port = Number(/"port":(\d+)/.exec(server.output())![1]);
  const raw = await RawConnection.open(network, port);
  raw.write(encodeFrames([new Uint8Array(100)])); // over --max-frame-size
  await raw.waitClosed();
  await waitFor(
    () => server.output().includes('"reason":"protocol_error"'),
    "the log line",
  );
  assert.equal(await stopServe(server), 0);
  const events = server.output().trim().split("\n").map((line) =>
    JSON.parse(line)
  );
  assert.deepEqual(
    events.map((e) => e.event ?? e.reason),
    ["listening", "protocol_error", "draining", "shutdown", "stopped"],
  );
  const closed = events[1];
  assert.equal(closed.level, "warn");
  assert.equal(closed.msg, "connection closed");
  assert.match(
    closed.error,
    /^FrameTooLargeError: Cannot decode frame: length 100 exceeds maxFrameSize 16$/,
  );
  assert.ok(events.every((e) => typeof e.time === "string"));
});

test("cli: serve --proxy-protocol takes the client address from the header", async () => {
  const server = await startServeProcess(
    [
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--proxy-protocol",
      "--proxy-protocol-timeout",
      "2s",
    ],
    /Server listening on 127\.0\.0\.1:(\d+)/,
  );
  try {
    const port = Number(server.match[1]);
    const proxied = await RawConnection.open(network, port);
    proxied.write(text("PROXY TCP4 203.0.113.7 127.0.0.1 4444 1234\r\n"));
    proxied.write(encodeFrames([text("through the balancer")]));
    await waitFor(() => proxied.frames.length === 1, "the answer");
    assert.equal(str(proxied.frames[0]), "through the balancer");
    const direct = await RawConnection.open(network, port);
    direct.write(encodeFrames([text("no header")]));
    await direct.waitClosed();
    assert.equal(direct.frames.length, 0);
    await waitFor(
      () => /ProxyProtocolError/.test(server.output()),
      "the log line",
    );
    proxied.transport.close();
  } finally {
    assert.equal(await stopServe(server), 0);
  }
});

test("cli: bad operations flags exit 2 with a clear error", async () => {
  const cases: Array<[string[], RegExp]> = [
    [
      ["serve", "--log-level", "loud"],
      /error: option '--log-level' expects one of debug, info, warn, error, got 'loud'/,
    ],
    [
      ["serve", "--log-format", "xml"],
      /error: option '--log-format' expects text or json, got 'xml'/,
    ],
    [
      ["serve", "--metrics-port", "99999"],
      /error: option '--metrics-port' expects a port from 0 to 65535/,
    ],
    [
      ["serve", "--proxy-protocol-timeout", "1s"],
      /error: option '--proxy-protocol-timeout' needs --proxy-protocol/,
    ],
    [
      ["serve", "--framing", "varint", "--drain-notice"],
      /error: option '--drain-notice' needs a length field that can hold more than --max-frame-size \(33554432\)/,
    ],
  ];
  for (const [args, message] of cases) {
    const run = await runCli(args);
    assert.equal(run.code, 2, args.join(" "));
    assert.match(run.stderr, message);
  }
});

test("cli: a second signal during a graceful shutdown exits at once", async () => {
  const server = await startServeProcess(
    ["--host", "127.0.0.1", "--port", "0", "--drain-timeout", "60s"],
    /Server listening on 127\.0\.0\.1:(\d+)/,
  );
  const exit = exited(server.child);
  let exitCode: number | null | undefined;
  exit.then((code) => (exitCode = code));
  // A peer that reads nothing keeps the graceful shutdown waiting on its
  // unsent responses, for up to --drain-timeout.
  const raw = await RawConnection.open(network, Number(server.match[1]));
  raw.transport.pause();
  const payload = patternBytes(2 * 1024 * 1024, 1);
  for (let i = 0; i < 24; i++) raw.write(encodeFrames([payload]));
  await new Promise((resolve) => setTimeout(resolve, 300));
  // process.kill, not child.kill: a runtime may skip a second child.kill().
  process.kill(server.child.pid!, "SIGTERM");
  await waitFor(
    () => server.output().includes("Shutting down"),
    "the shutdown",
  );
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(exitCode, undefined, "still draining after the first signal");
  process.kill(server.child.pid!, "SIGTERM");
  await waitFor(() => exitCode !== undefined, "the exit", 10_000);
  assert.match(
    server.output(),
    /Second signal: exiting without waiting for connections/,
  );
  if (exitCode !== null && exitCode !== 0) assert.equal(exitCode, 1);
  raw.transport.close();
});
