// Zero-loss rolling restart: two `serve` processes of this runtime (with
// --drain-delay and --drain-notice) under pipelined load from framewire's
// client pool, 50 connections x 8 requests in flight, for 10 s. Meanwhile
// each server in turn gets SIGTERM, must exit 0, and is started again on the
// same port and admin port, and waited for until /readyz answers 200; then
// the other. Every request carries a unique sequence number and the echo must
// return it byte for byte. None may be lost: a request that a draining server
// did not answer comes back from the pool (its drain notice says it never
// ran) and is sent again to the other server; those retries are counted and
// reported, not failed.
//
// Twice: through a real HAProxy that checks `GET /readyz` on the admin ports
// (inter 100ms fall 1 rise 1) and sends PROXY v2, skipped without HAProxy;
// and with the pool connected to both servers directly, no balancer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createPool, type Pool, type PoolEndpoint } from "../src/pool.ts";
import {
  exited,
  type ServeProcess,
  startServeProcess,
  stopServe,
} from "./_cli_process.ts";
import {
  haproxyTcpConfig,
  type PeerProcess,
  startPeer,
} from "./_peer_process.ts";
import { requireProgram } from "./_requires.ts";
import { runtime } from "./_runtime.ts";
import { delay, sameBytes } from "./_helpers.ts";

// Skipped without HAProxy on PATH (failed under FRAMEWIRE_REQUIRE_ALL=1).
const needsHaproxy = requireProgram("haproxy", import.meta.url);

/** How long the load runs in all, restarts included. */
const LOAD_MS = 10_000;
/** Load before the first restart, and at least after the last. */
const STEADY_MS = 1000;
/** Pool connections in all. */
const CONNECTIONS = 50;
/** Requests in flight on each connection: one request loop each. */
const PIPELINE = 8;
/** After a restarted server's /readyz answers: five HAProxy check intervals. */
const SETTLE_MS = 500;
const METRICS = /Metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/;

/** One of the two servers: its ports stay, its process is replaced. */
interface Slot {
  name: string;
  port: number;
  admin: number;
  process: ServeProcess;
}

/** `serve` on `port` and admin port `admin` (0: any), draining with a notice. */
async function startSlot(
  name: string,
  proxy: boolean,
  port = 0,
  admin = 0,
): Promise<Slot> {
  const process = await startServeProcess(
    [
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--admin-port",
      String(admin),
      "--drain-delay",
      "500ms",
      "--drain-notice",
      ...(proxy ? ["--proxy-protocol"] : []),
    ],
    METRICS,
  );
  const listening = /Server listening on 127\.0\.0\.1:(\d+)/.exec(
    process.output(),
  );
  return {
    name,
    port: Number(listening![1]),
    admin: Number(process.match[1]),
    process,
  };
}

/** The HTTP status of `path` on the slot's admin port, or 0 when refused. */
async function adminStatus(slot: Slot, path: string): Promise<number> {
  try {
    const response = await fetch(`http://127.0.0.1:${slot.admin}${path}`);
    await response.body?.cancel();
    return response.status;
  } catch {
    return 0;
  }
}

/** Request frames the slot's current process has received, from /stats. */
async function framesIn(slot: Slot): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${slot.admin}/stats`);
  const document = await response.json();
  return document.total.stats.framesIn;
}

/** Polls until the slot's /readyz answers 200, for at most 10 s. */
async function untilReady(slot: Slot): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (await adminStatus(slot, "/readyz") !== 200) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out waiting for ${slot.name}'s /readyz`);
    }
    await delay(20);
  }
}

/** Whether the slot's current process has not exited yet. */
function running(slot: Slot): boolean {
  const { child } = slot.process;
  return child.exitCode === null && child.signalCode === null;
}

/** A request that rejected: its sequence number and error. */
interface Lost {
  seq: number;
  error: unknown;
}

/** Request `seq`'s payload: the number, then bytes derived from it. */
function payloadOf(seq: number): Uint8Array {
  const payload = new Uint8Array(16);
  const view = new DataView(payload.buffer);
  view.setFloat64(0, seq);
  view.setUint32(8, Math.imul(seq, 0x9e3779b1));
  view.setUint32(12, ~seq);
  return payload;
}

/**
 * `loops` request loops over the pool, each sending its next request once
 * the last settled, until `stop()`; counts, and checks every answer.
 */
class EchoLoad {
  sent = 0;
  answered = 0;
  readonly wrong: number[] = [];
  readonly lost: Lost[] = [];
  #stopping = false;
  #loops: Promise<void>[];

  constructor(pool: Pool, loops: number) {
    this.#loops = Array.from({ length: loops }, () => this.#loop(pool));
  }

  async #loop(pool: Pool): Promise<void> {
    while (!this.#stopping) {
      const seq = this.sent++;
      const payload = payloadOf(seq);
      try {
        const answer = await pool.request(payload);
        if (sameBytes(answer, payload)) this.answered++;
        else this.wrong.push(seq);
      } catch (error) {
        this.lost.push({ seq, error });
      }
    }
  }

  /** Stops the loops and waits for their last requests to settle. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#loops);
  }
}

/** What one restart showed. */
interface Restart {
  slot: string;
  /** The old process's exit code after SIGTERM. */
  code: number | null;
  /** Requests the old process said it served when it stopped. */
  served: number;
  /** The load's answers when the new process was ready. */
  answeredAt: number;
}

/**
 * SIGTERMs the slot's process, waits for its exit, starts it again on the
 * same ports and waits until it is ready and HAProxy has seen it UP.
 */
async function restart(
  slot: Slot,
  proxy: boolean,
  load: EchoLoad,
): Promise<Restart> {
  const old = slot.process;
  const code = await stopServe(old);
  const served = /(\d+) requests served/.exec(old.output());
  slot.process = (await startSlot(slot.name, proxy, slot.port, slot.admin))
    .process;
  await untilReady(slot);
  await delay(SETTLE_MS);
  return {
    slot: slot.name,
    code,
    served: served === null ? 0 : Number(served[1]),
    answeredAt: load.answered,
  };
}

/** Names up to 10 lost requests with their errors. */
function describeLost(lost: readonly Lost[]): string {
  const named = lost.slice(0, 10).map(({ seq, error }) =>
    `#${seq} (${
      error instanceof Error ? `${error.name}: ${error.message}` : error
    })`
  );
  const more = lost.length > 10 ? `, and ${lost.length - 10} more` : "";
  return `${lost.length} request(s) lost: ${named.join(", ")}${more}`;
}

/** Requests the pool sent again elsewhere, over all endpoints. */
function retriedBy(pool: Pool): number {
  return pool.stats().endpoints.reduce((n, e) => n + e.retried, 0);
}

/**
 * Runs the load over a pool to `endpoints`, restarts `slots` one after the
 * other under it, and checks that nothing was lost.
 */
async function rollingRestartUnderLoad(
  label: string,
  slots: Slot[],
  endpoints: PoolEndpoint[],
  proxy: boolean,
): Promise<void> {
  const started = Date.now();
  const pool = await createPool({
    endpoints,
    connectionsPerEndpoint: CONNECTIONS / endpoints.length,
    reconnect: { initialDelay: 20, maxDelay: 200 },
    requestTimeout: 5000,
  });
  const load = new EchoLoad(pool, CONNECTIONS * PIPELINE);
  const restarts: Restart[] = [];
  let newFirstServed = 0;
  let retried = 0;
  try {
    await delay(STEADY_MS);
    for (const slot of slots) restarts.push(await restart(slot, proxy, load));
    await delay(Math.max(STEADY_MS, LOAD_MS - (Date.now() - started)));
    newFirstServed = await framesIn(slots[0]);
  } finally {
    await load.stop();
    retried = retriedBy(pool);
    await pool.close({ timeout: 2000 });
  }
  console.log(
    `zero-loss (${label}, servers on ${runtime}): ${load.sent} sent, ${load.answered} answered, ${retried} retried, ${load.lost.length} failed, ${load.wrong.length} wrong; ${
      restarts.map((r) =>
        `${r.slot} restarted (old served ${r.served}, exit ${r.code})`
      ).join(", ")
    }; new ${slots[0].name} served ${newFirstServed}`,
  );
  assert.equal(load.lost.length, 0, describeLost(load.lost));
  assert.equal(
    load.wrong.length,
    0,
    `wrong answers to requests ${
      load.wrong.slice(0, 10).map((seq) => `#${seq}`).join(", ")
    }`,
  );
  assert.equal(load.answered, load.sent, "every request answered");
  for (const r of restarts) {
    assert.equal(r.code, 0, `${r.slot} exited ${r.code} after SIGTERM`);
    assert.ok(r.served > 0, `${r.slot} served nothing before its restart`);
    assert.ok(
      load.answered > r.answeredAt,
      `no answer after ${r.slot}'s restart`,
    );
  }
  assert.ok(newFirstServed > 0, `the new ${slots[0].name} served nothing`);
}

/** Starts two slots, runs `body` with them, and stops whatever still runs. */
async function withTwoServers(
  proxy: boolean,
  body: (slots: Slot[]) => Promise<void>,
): Promise<void> {
  const slots = [await startSlot("a", proxy)];
  try {
    slots.push(await startSlot("b", proxy));
    await body(slots);
  } finally {
    for (const slot of slots) {
      if (running(slot)) await stopServe(slot.process);
      else await exited(slot.process.child);
    }
  }
}

/** HAProxy in front of `slots`, checking `GET /readyz` on their admin ports. */
function startHaproxy(slots: Slot[]): Promise<PeerProcess> {
  const backend = "  option httpchk GET /readyz\n" +
    "  http-check expect status 200\n" +
    slots.map((s) =>
      `  server fw${s.name} 127.0.0.1:${s.port} send-proxy-v2 check port ${s.admin} inter 100ms fall 1 rise 1\n`
    ).join("");
  // The configuration reaches HAProxy as a here-document on fd 3.
  return startPeer("sh", (port) => [
    "-c",
    `exec haproxy -db -f /dev/fd/3 3<<'EOF'\n${
      haproxyTcpConfig(port, 1000, backend)
    }\nEOF\n`,
  ]);
}

test(
  "zero-loss: a rolling restart behind HAProxy (httpchk GET /readyz) loses no request of a pipelined pool",
  { skip: needsHaproxy.skip },
  async () => {
    needsHaproxy.check();
    await withTwoServers(true, async (slots) => {
      const haproxy = await startHaproxy(slots);
      try {
        await delay(SETTLE_MS); // both UP
        await rollingRestartUnderLoad(
          "haproxy",
          slots,
          [{ host: "127.0.0.1", port: haproxy.port }],
          true,
        );
      } finally {
        await haproxy.stop();
      }
    });
  },
);

test("zero-loss: a rolling restart loses no request of a pipelined pool connected to both servers", async () => {
  await withTwoServers(false, async (slots) => {
    await rollingRestartUnderLoad(
      "direct",
      slots,
      slots.map((s) => ({ host: "127.0.0.1", port: s.port })),
      false,
    );
  });
});
