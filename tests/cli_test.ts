// The command line, run as a real process on this runtime.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { availableNetworks, portIsFree } from "./_runtime.ts";
import {
  exited,
  runBench,
  runCli,
  startServeProcess,
  stopServe,
} from "./_cli_process.ts";
import { encodeFrames } from "../src/frame_encoder.ts";
import { RawConnection, text } from "./_helpers.ts";

/** Starts `serve` on a free port of 127.0.0.1, with `extra` flags. */
async function startServe(extra: string[] = []): Promise<
  { child: ChildProcess; port: number; output: () => string }
> {
  const server = await startServeProcess(
    ["--host", "127.0.0.1", "--port", "0", ...extra],
    /Server listening on 127\.0\.0\.1:(\d+)/,
  );
  return { ...server, port: Number(server.match[1]) };
}

test("cli: serve prints its address, answers the client demo, and stops on SIGTERM", async () => {
  const server = await startServe();
  try {
    const demo = await runCli(["client", "--port", String(server.port)]);
    assert.equal(demo.code, 0, demo.stderr);
    const lines = demo.stdout.trim().split("\n");
    assert.equal(lines[0], '1: 6 bytes "hello1"');
    assert.equal(lines[1], '2: 6 bytes "hello2"');
    assert.equal(lines[2], '3: 6 bytes "hello3"');
    assert.match(
      lines[3],
      /^4: 33554432 bytes "framewire-32MiB-framewire-32MiB-framewir"\.\.\.$/,
    );
    assert.equal(lines[4], '5: 6 bytes "hello5"');
    assert.match(
      lines[5],
      /^5 of 5 responses in [\d.]+ ms from 127\.0\.0\.1:\d+$/,
    );

    const messages = await runCli([
      "client",
      "--port",
      String(server.port),
      "ping",
      "pong",
    ]);
    assert.equal(messages.code, 0, messages.stderr);
    assert.match(messages.stdout, /^1: 4 bytes "ping"\n2: 4 bytes "pong"\n/);
  } finally {
    const exit = exited(server.child);
    server.child.kill("SIGTERM");
    assert.equal(await exit, 0);
  }
  assert.match(
    server.output(),
    /Server stopped: 2 connections, 7 requests served/,
  );
});

test("cli: with no command, or flags only, the entry point serves", async () => {
  const server = await startServeProcess(
    ["--host", "127.0.0.1", "--port", "0"],
    /Server listening on 127\.0\.0\.1:(\d+)/,
    [],
  );
  try {
    const run = await runCli(["client", "--port", server.match[1], "hi"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^1: 2 bytes "hi"\n/);
  } finally {
    assert.equal(await stopServe(server), 0);
  }
  // No arguments at all: the default address, 0.0.0.0:1234, when it is free.
  if (await portIsFree(1234)) {
    const plain = await startServeProcess(
      [],
      /Server listening on 0\.0\.0\.0:1234/,
      [],
    );
    assert.equal(await stopServe(plain), 0);
  } else {
    console.log(
      "cli: port 1234 is taken here; the no-argument start is not run",
    );
  }
  for (const args of [["help"], ["--help"], ["-h"]]) {
    const run = await runCli(args);
    assert.equal(run.code, 0, args.join(" "));
    assert.match(run.stdout, /Usage:\n.*\[serve\] \[options\]/);
  }
});

test("cli: --help on every subcommand, exit 0", async () => {
  for (
    const args of [["--help"], ["serve", "--help"], ["client", "-h"], [
      "bench",
      "--help",
    ]]
  ) {
    const run = await runCli(args);
    assert.equal(run.code, 0, args.join(" "));
    assert.match(run.stdout, /Usage:/);
  }
});

test("cli: bad flags and commands print a clear error and exit 2", async () => {
  const cases: Array<[string[], RegExp]> = [
    [["serve", "--bogus"], /error: unknown option '--bogus'/],
    [
      ["serve", "--port", "99999"],
      /error: option '--port' expects a port from 0 to 65535, got '99999'/,
    ],
    [
      ["client", "--max-frame-size", "lots"],
      /error: option '--max-frame-size' expects a size in bytes/,
    ],
    [["serve", "--port"], /error: option '--port' needs a value/],
    [
      ["serve", "--idle-timeout", "2x"],
      /error: option '--idle-timeout' expects a duration such as 500ms, 30s or 0, got '2x'/,
    ],
    [
      ["serve", "--max-buffered-bytes", "1m"],
      /error: option '--max-buffered-bytes' must be at least --max-frame-size \(33554432\), got 1048576/,
    ],
    [
      ["serve", "--max-connections", "0"],
      /error: option '--max-connections' expects a positive integer, got '0'/,
    ],
    [["launch"], /error: unknown command 'launch'/],
  ];
  for (const [args, message] of cases) {
    const run = await runCli(args);
    assert.equal(run.code, 2, args.join(" "));
    assert.match(run.stderr, message);
  }
});

test("cli: client exits non-zero when no server answers", async () => {
  const server = await startServe();
  const exit = exited(server.child);
  server.child.kill("SIGTERM");
  await exit;
  const run = await runCli(["client", "--port", String(server.port), "hi"]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /error: Cannot connect to 127\.0\.0\.1:\d+/);
});

test("cli: bench drives a server and prints a summary, or one JSON object", async () => {
  const server = await startServe();
  try {
    const port = String(server.port);
    const text = await runCli([
      "bench",
      "--port",
      port,
      "-n",
      "2000",
      "-c",
      "4",
      "-P",
      "8",
      "--verify",
    ]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /requests: 2,000 in [\d.]+ s = [\d,]+ req\/s/);
    assert.match(
      text.stdout,
      /errors: 0 \(connect 0, closed 0, mismatch 0, protocol 0, timeout 0\)/,
    );
    assert.match(
      text.stdout,
      /latency us: p50 [\d.]+ +p90 [\d.]+ +p99 [\d.]+ +p99\.9 [\d.]+ +max [\d.]+/,
    );
    const { result } = await runBench([
      "--port",
      port,
      "-d",
      "0.3",
      "-w",
      "0",
      "-c",
      "2",
    ]);
    assert.equal(result.connections, 2);
    assert.equal(result.errorCount, 0);
    assert.ok(result.requests > 0);
    assert.equal(typeof result.latencyUs.p99, "number");
  } finally {
    const exit = exited(server.child);
    server.child.kill("SIGTERM");
    assert.equal(await exit, 0);
  }
});

test("cli: bench against no server exits 1 with connect errors", async () => {
  const server = await startServe();
  const exit = exited(server.child);
  server.child.kill("SIGTERM");
  await exit;
  const run = await runCli([
    "bench",
    "--port",
    String(server.port),
    "-c",
    "2",
    "-d",
    "0.2",
  ]);
  assert.equal(run.code, 1);
  assert.match(run.stdout, /errors: 2 \(connect 2,/);
});

test("cli: serve also stops gracefully on SIGINT", async () => {
  const server = await startServe();
  const exit = exited(server.child);
  server.child.kill("SIGINT");
  assert.equal(await exit, 0);
  assert.match(
    server.output(),
    /Shutting down[^\n]*\nServer stopped: 0 connections, 0 requests served\n/,
  );
});

test("cli: serve applies --max-connections and --idle-timeout", async () => {
  const server = await startServe([
    "--max-connections",
    "1",
    "--idle-timeout",
    "300ms",
  ]);
  const network = availableNetworks()[0][1];
  try {
    const first = await RawConnection.open(network, server.port);
    first.write(encodeFrames([text("one")]));
    await waitUntil(() => first.frames.length === 1);
    // Over --max-connections: closed unanswered. On Bun the reset may come
    // before Bun.connect() resolves, which then rejects with ECONNRESET.
    const second = await RawConnection.open(network, server.port).catch(
      (error: { code?: string }) => {
        assert.equal(error.code, "ECONNRESET", String(error));
        return null;
      },
    );
    if (second !== null) {
      second.write(encodeFrames([text("two")]));
      await second.waitClosed();
      assert.equal(second.frames.length, 0, "over --max-connections: closed");
    }
    await first.waitClosed(); // silent past --idle-timeout
    assert.match(
      server.output(),
      /ConnectionTimeoutError: Cannot keep connection: no bytes received for 300 ms/,
    );
  } finally {
    const exit = exited(server.child);
    server.child.kill("SIGTERM");
    await exit;
  }
});

async function waitUntil(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !condition(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.ok(condition());
}
