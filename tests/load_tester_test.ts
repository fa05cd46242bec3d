// The load tester against real servers on loopback.
import { test } from "node:test";
import assert from "node:assert/strict";
import { runLoadTest } from "../src/cli/load_tester.ts";
import { Server } from "../src/server.ts";
import { availableNetworks } from "./_runtime.ts";

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
