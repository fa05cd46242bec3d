// The command line with request ids, run as real processes on this runtime:
// serve, client and bench speak u32le-id and dns; serve --slow delays a
// hashed fraction of the echo's answers (with workers too), bench --slow
// reports the fast requests apart, and bad values exit 2 naming the option.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  runBench,
  runCli,
  startServeProcess,
  stopServe,
} from "./_cli_process.ts";

/** Runs `serve` with `args` on a free port of 127.0.0.1 while `body` runs. */
async function withServe(
  args: string[],
  body: (port: string) => Promise<void>,
  listening = /Server listening on 127\.0\.0\.1:(\d+)/,
): Promise<void> {
  const server = await startServeProcess(
    ["--host", "127.0.0.1", "--port", "0", ...args],
    listening,
  );
  try {
    await body(server.match[1]);
  } finally {
    assert.equal(await stopServe(server), 0, server.output());
  }
}

/** Runs `bench --json` with `args` against `port`; the parsed result. */
async function bench(port: string, args: string[]) {
  return (await runBench(["--port", port, ...args])).result;
}

test("cli with u32le-id and dns: bench verifies every response by id, client shows the id", async () => {
  for (const format of ["u32le-id", "dns"]) {
    await withServe(["--framing", format], async (port) => {
      const result = await bench(port, [
        "--framing",
        format,
        "-n",
        "3000",
        "-c",
        "3",
        "-P",
        "16",
        "--verify",
      ]);
      assert.equal(result.framing, format);
      assert.equal(result.requests, 3000, format);
      assert.equal(result.errorCount, 0, JSON.stringify(result.errors));
      assert.equal(result.verified, true);
      assert.equal(result.fastLatencyUs, undefined, "no --slow");

      const run = await runCli([
        "client",
        "--port",
        port,
        "--framing",
        format,
        "ping",
        "pong",
      ]);
      assert.equal(run.code, 0, run.stderr);
      const lines = run.stdout.trim().split("\n");
      const first = /^1: 4 bytes "ping" \(id (\d+)\)$/.exec(lines[0]);
      const second = /^2: 4 bytes "pong" \(id (\d+)\)$/.exec(lines[1]);
      assert.ok(first && second, run.stdout);
      assert.notEqual(first[1], second[1], "two requests, two ids");
      assert.match(lines[2], /^2 of 2 responses in [\d.]+ ms from /);
    });
  }
  // The demo's large message leaves room for the id: 65,535 bytes of DNS
  // message, 2 of them the id.
  await withServe(["--framing", "dns"], async (port) => {
    const demo = await runCli(["client", "--port", port, "--framing", "dns"]);
    assert.equal(demo.code, 0, demo.stderr);
    assert.match(
      demo.stdout,
      /\n4: 65533 bytes "framewire-32MiB-[^\n]*\(id \d+\)\n/,
    );
    assert.match(demo.stdout, /5 of 5 responses/);
  });
});

test("cli serve --slow: the echo delays a hashed fraction of requests, bench --slow reports the fast ones", async () => {
  await withServe(
    ["--framing", "u32le-id", "--slow", "0.1:50ms"],
    async (port) => {
      // One request in flight per connection: the fast ones never wait.
      const result = await bench(port, [
        "--framing",
        "u32le-id",
        "-n",
        "400",
        "-c",
        "10",
        "-P",
        "1",
        "--verify",
        "--slow",
        "0.1",
      ]);
      assert.equal(result.errorCount, 0, JSON.stringify(result.errors));
      assert.equal(result.slow, 0.1);
      // 40 expected, standard deviation 6.
      assert.ok(
        result.slowRequests > 15 && result.slowRequests < 80,
        `${result.slowRequests} slow`,
      );
      assert.ok(result.latencyUs.max >= 50_000, "slow requests waited");
      assert.ok(result.fastLatencyUs.max < 50_000, "fast requests did not");
      // The human output has a line for the fast requests.
      const text = await runCli([
        "bench",
        "--port",
        port,
        "--framing",
        "u32le-id",
        "-n",
        "200",
        "-c",
        "4",
        "--slow",
        "0.1",
      ]);
      assert.equal(text.code, 0, text.stderr);
      assert.match(
        text.stdout,
        /\nfast requests \([\d,]+, and [\d,]+ slow\) latency us: p50 [\d.]+ {2}p90 /,
      );
    },
  );
  // Each worker gets --slow: with half the requests slow, some wait.
  await withServe(
    ["--workers", "2", "--slow", "0.5:20ms"],
    async (port) => {
      const result = await bench(port, [
        "-n",
        "200",
        "-c",
        "4",
        "-P",
        "1",
        "--verify",
        "--slow",
        "0.5",
      ]);
      assert.equal(result.errorCount, 0, JSON.stringify(result.errors));
      assert.ok(result.slowRequests > 50, `${result.slowRequests} slow`);
      assert.ok(result.latencyUs.max >= 20_000);
      // The fast ones' figures leave the slow ones out: with half of all
      // requests slow, the 90th percentile of all is a slow one.
      assert.ok(result.fastLatencyUs.p90 < result.latencyUs.p90);
    },
    /Server listening on 127\.0\.0\.1:(\d+) with 2 workers/,
  );
});

test("cli --slow: bad values, --handler, and too deep a pipeline exit 2 naming the option", async () => {
  const cases: Array<[string[], RegExp]> = [
    [
      ["serve", "--slow", "0.01"],
      /option '--slow' expects FRACTION:DURATION, such as 0\.01:20ms, got '0\.01'/,
    ],
    [
      ["serve", "--slow", "2:20ms"],
      /option '--slow' expects a fraction from 0 to 1 \(0\.01 is one request in 100\), got '2'/,
    ],
    [
      ["serve", "--slow", "x:20ms"],
      /option '--slow' expects a fraction from 0 to 1 .*got 'x'/,
    ],
    [
      ["serve", "--slow", "0.1:20h"],
      /option '--slow' expects a duration such as 500ms, 30s or 0, got '20h'/,
    ],
    [
      ["serve", "--slow", "0.1:"],
      /option '--slow' expects a duration such as 500ms, 30s or 0, got ''/,
    ],
    [
      ["serve", "--slow", "0.1:20ms", "--handler", "examples/kv.ts"],
      /option '--slow' slows the built-in echo: it cannot be used with --handler/,
    ],
    [
      ["bench", "--port", "1", "--slow", "1.5"],
      /option '--slow' expects a fraction from 0 to 1 .*got '1\.5'/,
    ],
    [
      ["bench", "--port", "1", "--framing", "dns", "-P", "40000"],
      /option '--pipeline' must be at most 32768 with a 2-byte request id \(half its ids\), got 40000/,
    ],
  ];
  for (const [args, reason] of cases) {
    const run = await runCli(args);
    const what = args.join(" ");
    assert.equal(run.code, 2, `${what}: ${run.stdout}${run.stderr}`);
    assert.match(run.stderr, reason, what);
  }
  // Good values: 1 s and a plain number of milliseconds.
  for (const slow of ["0.5:1s", "0:20", "1:0ms"]) {
    await withServe(["--slow", slow], async (port) => {
      const result = await bench(port, ["-n", "8", "-c", "8", "--verify"]);
      assert.equal(result.errorCount, 0, slow);
    });
  }
  const help = await runCli(["serve", "--help"]);
  assert.match(help.stdout, /--slow FRACTION:DURATION/);
  assert.match(help.stdout, /identical\s+requests share their fate/);
});
