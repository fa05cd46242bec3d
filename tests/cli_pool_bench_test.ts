// `bench --endpoints`: load through framewire's client pool over two real
// `serve` processes of this runtime, every answer verified; and the flags
// it refuses.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  runBench,
  runCli,
  startServeProcess,
  stopServe,
} from "./_cli_process.ts";

const LISTENING = /listening on 127\.0\.0\.1:(\d+)/i;

for (const framing of ["u32le", "u32le-id"]) {
  test(`cli: bench --endpoints drives verified load through a pool of two servers (${framing})`, async () => {
    const args = ["--host", "127.0.0.1", "--port", "0", "--framing", framing];
    const one = await startServeProcess(args, LISTENING);
    const two = await startServeProcess(args, LISTENING);
    try {
      const endpoints = [one, two].map((s) => `127.0.0.1:${s.match[1]}`);
      const { result } = await runBench([
        "--endpoints",
        endpoints.join(","),
        "--framing",
        framing,
        "-n",
        "3000",
        "-c",
        "4",
        "-P",
        "8",
        "--verify",
      ]);
      assert.deepEqual(result.endpoints, endpoints);
      assert.equal(result.requests, 3000);
      assert.equal(result.errorCount, 0);
      assert.equal(result.connected, 4);
      assert.equal(result.verified, true);
    } finally {
      assert.equal(await stopServe(one), 0);
      assert.equal(await stopServe(two), 0);
    }
  });
}

test("cli: bench --endpoints refuses a bad list and flags of a single target", async () => {
  for (
    const [args, reason] of [
      [["--endpoints", ","], /expects host:port/],
      [["--endpoints", "localhost"], /expects host:port, got 'localhost'/],
      [["--endpoints", "127.0.0.1:99999"], /endpoints/],
      [
        ["--endpoints", "127.0.0.1:1", "--port", "2"],
        /'--port' cannot be used with '--endpoints'/,
      ],
    ] as const
  ) {
    const run = await runCli(["bench", ...args]);
    assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
    assert.match(run.stderr, reason);
  }
});
