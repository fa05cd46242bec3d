// The control channel of serve --workers, as units: the role a worker is
// given, the messages, and a worker's link against a real primary-side
// server on loopback (commands answered, shutdown when the primary is gone).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeMessage,
  encodeMessage,
  formatRole,
  parseRole,
  type PrimaryCommand,
  WorkerLink,
  type WorkerMessage,
  type WorkerReport,
} from "../src/cli/worker_control.ts";
import { WorkerChannel } from "../src/cli/worker_channel.ts";
import { ProtocolError } from "../src/errors.ts";
import { Server } from "../src/server.ts";
import { LatencyHistogram } from "../src/latency_histogram.ts";
import { availableNetworks } from "./_runtime.ts";
import { text } from "./_helpers.ts";

test("worker role: round trip, and malformed roles are ProtocolErrors", () => {
  const role = { id: 2, control: 4000, token: "ab12", port: null };
  assert.deepEqual(parseRole(formatRole(role)), role);
  assert.deepEqual(parseRole(formatRole({ ...role, port: 1234 })), {
    ...role,
    port: 1234,
  });
  const handler = "file:///srv/app/kv.ts";
  assert.deepEqual(parseRole(formatRole({ ...role, handler })), {
    ...role,
    handler,
  });
  for (
    const bad of [
      "",
      "2",
      "{}",
      JSON.stringify({ ...role, id: 0 }),
      JSON.stringify({ ...role, control: 70000 }),
      JSON.stringify({ ...role, token: 5 }),
      JSON.stringify({ ...role, port: "1234" }),
      JSON.stringify({ ...role, handler: "kv.ts" }),
      JSON.stringify({ ...role, handler: 7 }),
    ]
  ) {
    assert.throws(
      () => parseRole(bad),
      (error: unknown) =>
        error instanceof ProtocolError &&
        /^Cannot start worker: FRAMEWIRE_WORKER is not a worker role/.test(
          error.message,
        ),
      bad,
    );
  }
});

test("control messages: JSON with a type, or a ProtocolError", () => {
  const command: PrimaryCommand = { type: "shutdown" };
  assert.deepEqual(decodeMessage(encodeMessage(command)), command);
  for (const bad of ["not json", "[]", '{"kind":"x"}', "7"]) {
    assert.throws(() => decodeMessage(text(bad)), ProtocolError, bad);
  }
});

for (const [name, network] of availableNetworks()) {
  test(`${name}: a worker's link answers stats, stops on shutdown, and reports when stopped`, async () => {
    const received: WorkerMessage[] = [];
    const commands: PrimaryCommand[] = [
      { type: "stats" },
      { type: "stats" },
      { type: "shutdown" },
    ];
    const primary = new Server({
      handler: (request) => {
        const message = decodeMessage<WorkerMessage>(request);
        received.push(message);
        if (message.type === "stopped") return encodeMessage({ type: "bye" });
        return encodeMessage(commands.shift()!);
      },
    });
    const { port } = await primary.listen(network, {
      host: "127.0.0.1",
      port: 0,
    });
    let reports = 0;
    let shutdowns = 0;
    const report = (): WorkerReport => ({
      stats: { ...new Server().stats(), framesIn: ++reports },
      handlerTime: new LatencyHistogram().toJSON(),
    });
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const link = await WorkerLink.open(
      network,
      { id: 3, control: port, token: "secret", port: null },
      { pid: 99, hostname: "127.0.0.1", port: 4321 },
      { report, shutdown: () => (shutdowns++, stop()) },
    );
    await stopped;
    await link.stopped(report());
    await primary.close();
    assert.equal(shutdowns, 1);
    assert.deepEqual(received.map((m) => m.type), [
      "hello",
      "stats",
      "stats",
      "stopped",
    ]);
    const hello = received[0] as Extract<WorkerMessage, { type: "hello" }>;
    assert.deepEqual(
      { id: hello.id, token: hello.token, pid: hello.pid, port: hello.port },
      { id: 3, token: "secret", pid: 99, port: 4321 },
    );
    const last = received[3] as Extract<WorkerMessage, { type: "stopped" }>;
    assert.equal(last.stats.framesIn, 3);
  });

  test(`${name}: a worker whose primary is gone shuts down`, async () => {
    const primary = new Server({
      handler: () => new Promise<Uint8Array>(() => {}),
      closeTimeout: 100,
    });
    const { port } = await primary.listen(network, {
      host: "127.0.0.1",
      port: 0,
    });
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const link = await WorkerLink.open(
      network,
      { id: 1, control: port, token: "t", port: null },
      { pid: 1, hostname: "127.0.0.1", port: 1 },
      {
        report: () => ({
          stats: new Server().stats(),
          handlerTime: new LatencyHistogram().toJSON(),
        }),
        shutdown: stop,
      },
    );
    // The primary closes by force: the pending hello is never answered.
    const closing = primary.close();
    await stopped;
    await link.stopped({
      stats: new Server().stats(),
      handlerTime: new LatencyHistogram().toJSON(),
    });
    await closing;
  });
}

const reportWith = (framesIn: number): WorkerReport => ({
  stats: { ...new Server().stats(), framesIn },
  handlerTime: new LatencyHistogram().toJSON(),
});
const commandOf = async (response: Uint8Array | Promise<Uint8Array>) =>
  decodeMessage<PrimaryCommand>(await response).type;

test("worker channel: a command waits for the request, a request for the command", async () => {
  const channel = new WorkerChannel();
  channel.send({ type: "stats" });
  assert.equal(await commandOf(channel.next()), "stats");
  const waiting = channel.next();
  assert.ok(waiting instanceof Promise);
  channel.send({ type: "shutdown" });
  assert.equal(await commandOf(waiting), "shutdown");
});

test("worker channel: queries share one request and fall back to the last report", async () => {
  const channel = new WorkerChannel();
  const request = channel.next(); // the worker's pending request
  const first = channel.query(5_000);
  const second = channel.query(5_000);
  assert.equal(first, second, "one query in flight");
  assert.equal(await commandOf(request), "stats");
  channel.reported(reportWith(7));
  assert.equal((await first)?.stats.framesIn, 7);
  // A worker that does not answer: the last report, after the timeout.
  channel.next();
  assert.equal((await channel.query(20))?.stats.framesIn, 7);
});

test("worker channel: end answers the pending request with bye and later ones at once", async () => {
  const channel = new WorkerChannel();
  const pending = channel.next();
  const query = channel.query(5_000);
  channel.send({ type: "shutdown" });
  assert.equal(await commandOf(pending), "stats");
  const next = channel.next();
  assert.equal(await commandOf(next), "shutdown");
  const last = channel.next();
  channel.end();
  assert.equal(await commandOf(last), "bye");
  assert.equal(await query, null, "no report ever came");
  assert.equal(await commandOf(channel.next()), "bye");
  channel.send({ type: "stats" }); // dropped
  assert.equal(await commandOf(channel.next()), "bye");
});
