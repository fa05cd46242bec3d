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
