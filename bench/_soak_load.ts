/**
 * The soak test's load (bench/soak.ts): for a given time, pipelined framewire
 * clients, a large-frame client and fault injectors run at once against one
 * server, and every answer is checked. Faults live in bench/_soak_faults.ts.
 *
 * @module
 */
import {
  type Client,
  connect,
  ConnectionClosedError,
  RequestTimeoutError,
} from "../mod.ts";
import { denoNetwork } from "../src/adapters/deno.ts";
import { injectFault } from "./_soak_faults.ts";
import {
  type LoadContext,
  type LoadCounters,
  makePayload,
  MAX_FRAME,
  MIB,
  randomInt,
  recordError,
  sameBytes,
  seededRandom,
} from "./_soak_common.ts";

/** Pipelined clients run at once. */
export const PIPELINED_CLIENTS = 8;
/** Fault injectors run at once. */
export const FAULT_INJECTORS = 2;
/** No request may take longer than this (a hang becomes an error, not a stall). */
const REQUEST_TIMEOUT_MS = 30_000;

function describe(error: unknown): string {
  return error instanceof Error
    ? `${error.name}: ${error.message}`
    : `${error}`;
}

function errorKind(error: unknown): string {
  if (error instanceof RequestTimeoutError) return "timeout";
  if (error instanceof ConnectionClosedError) return "closed";
  return "request-failed";
}

async function openClient(context: LoadContext): Promise<Client | null> {
  while (performance.now() < context.until && !context.aborted()) {
    try {
      const client = await connect({
        host: "127.0.0.1",
        port: context.port,
        network: denoNetwork,
        requestTimeout: REQUEST_TIMEOUT_MS,
      });
      context.counters.clientConnections++;
      return client;
    } catch (error) {
      recordError(context.counters, "connect", describe(error));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return null;
}

/**
 * Sends `requests` pipelined (one write) on `client` and checks each answer
 * against its request, in order.
 *
 * @returns Whether the client is still usable.
 */
async function sendChecked(
  context: LoadContext,
  client: Client,
  requests: Uint8Array[],
  who: string,
): Promise<boolean> {
  const counters = context.counters;
  for (const request of requests) {
    counters.requests++;
    counters.bytes += request.length;
  }
  const results = await Promise.allSettled(
    requests.map((request) => client.request(request)),
  );
  let usable = true;
  results.forEach((result, i) => {
    const request = requests[i];
    if (result.status === "rejected") {
      usable = false;
      recordError(
        counters,
        errorKind(result.reason),
        `${who}, request ${
          i + 1
        } of ${requests.length} (${request.length} B): ${
          describe(result.reason)
        }`,
      );
    } else if (sameBytes(result.value, request)) {
      counters.verified++;
      counters.bytesVerified += request.length;
    } else {
      const other = requests.findIndex((r) => sameBytes(result.value, r));
      recordError(
        counters,
        other === -1 ? "mismatch" : "reordered",
        `${who}, request ${
          i + 1
        } of ${requests.length} (${request.length} B) answered with ${
          other === -1
            ? `${result.value.length} wrong bytes`
            : `the answer to request ${other + 1}`
        }`,
      );
    }
  });
  return usable;
}

/** Request sizes: a tenth up to 16 B, half up to 1 KiB, the rest up to 64 KiB. */
function pipelinedSize(rng: () => number): number {
  const r = rng();
  if (r < 0.1) return randomInt(rng, 0, 16);
  if (r < 0.6) return randomInt(rng, 0, 1024);
  return randomInt(rng, 0, 64 * 1024);
}

/** Bursts of 1-64 pipelined requests of 0 B-64 KiB; now and then a new connection. */
async function pipelinedClient(context: LoadContext, id: number) {
  const rng = seededRandom(context.seed + id * 0x9e3779b9);
  let client = await openClient(context);
  let seq = 0;
  while (
    client !== null && performance.now() < context.until && !context.aborted()
  ) {
    const depth = randomInt(rng, 1, 64);
    const requests: Uint8Array[] = [];
    for (let i = 0; i < depth; i++) {
      requests.push(makePayload(context, rng, pipelinedSize(rng), id, seq++));
    }
    const usable = await sendChecked(
      context,
      client,
      requests,
      `pipelined client ${id}`,
    );
    if (!usable || rng() < 0.02) {
      await client.close().catch(() => {});
      client = await openClient(context);
    }
  }
  await client?.close().catch(() => {});
}

/** Frames of 1-8 MiB, one to three at a time; one in 16 is a 32 MiB frame. */
async function largeFrameClient(context: LoadContext, id: number) {
  const rng = seededRandom(context.seed + id * 0x9e3779b9);
  let client = await openClient(context);
  let seq = 0;
  while (
    client !== null && performance.now() < context.until && !context.aborted()
  ) {
    const requests: Uint8Array[] = [];
    const count = randomInt(rng, 1, 3);
    for (let i = 0; i < count; i++) {
      if (rng() < 1 / 16) {
        requests.push(makePayload(context, rng, MAX_FRAME, id, seq++));
        context.counters.maxFrames++;
        break;
      }
      const size = randomInt(rng, MIB, 8 * MIB);
      requests.push(makePayload(context, rng, size, id, seq++));
      context.counters.largeFrames++;
    }
    const usable = await sendChecked(
      context,
      client,
      requests,
      "large-frame client",
    );
    if (!usable) {
      await client.close().catch(() => {});
      client = await openClient(context);
    }
  }
  await client?.close().catch(() => {});
}

/** One fault after another, each on a new raw connection, 0-20 ms apart. */
async function faultInjector(context: LoadContext, id: number) {
  const rng = seededRandom(context.seed + id * 0x9e3779b9);
  while (performance.now() < context.until && !context.aborted()) {
    await injectFault(context, rng);
    await new Promise((resolve) => setTimeout(resolve, randomInt(rng, 0, 20)));
  }
}

/**
 * The most memory the mix can ask of the server at once, in one go: a 32 MiB
 * frame and two 16 MiB ones (the large-frame client and both fault
 * injectors' resets at their largest), beside 8 connections with 64
 * pipelined 64 KiB requests each, all verified. The warm-up starts with it,
 * so the RSS baseline already holds the memory a peak of the load grows the
 * server's heap and allocator to, which they keep.
 */
async function memoryPeak(context: LoadContext): Promise<void> {
  const rng = seededRandom(context.seed + 0xbeef);
  const sizes = [
    [MAX_FRAME],
    [16 * MIB],
    [16 * MIB],
    ...Array.from(
      { length: PIPELINED_CLIENTS },
      () => new Array(64).fill(64 * 1024),
    ),
  ];
  context.counters.maxFrames++;
  context.counters.largeFrames += 2;
  const clients = await Promise.all(sizes.map(() => openClient(context)));
  await Promise.all(clients.map(async (client, i) => {
    if (client === null) return;
    const id = 300 + i;
    const requests = sizes[i].map((size, seq) =>
      makePayload(context, rng, size, id, seq)
    );
    await sendChecked(context, client, requests, "memory-peak client");
    await client.close().catch(() => {});
  }));
}

/**
 * Runs the whole mix against the server on `port` until `seconds` have
 * passed; each actor finishes what it started, then closes its connection.
 *
 * @param options.memoryPeakFirst Start with the mix's largest memory need at
 * once (see memoryPeak); the warm-up does, before the RSS baseline.
 */
export async function runLoad(options: {
  port: number;
  seconds: number;
  seed: number;
  pool: Uint8Array;
  counters: LoadCounters;
  memoryPeakFirst: boolean;
  aborted: () => boolean;
}): Promise<void> {
  const context: LoadContext = {
    port: options.port,
    counters: options.counters,
    until: performance.now() + options.seconds * 1000,
    pool: options.pool,
    seed: options.seed,
    aborted: options.aborted,
  };
  if (options.memoryPeakFirst) await memoryPeak(context);
  const actors: Promise<void>[] = [];
  for (let id = 1; id <= PIPELINED_CLIENTS; id++) {
    actors.push(pipelinedClient(context, id));
  }
  actors.push(largeFrameClient(context, 100));
  for (let id = 1; id <= FAULT_INJECTORS; id++) {
    actors.push(faultInjector(context, 200 + id));
  }
  const results = await Promise.allSettled(actors);
  for (const result of results) {
    if (result.status === "rejected") {
      recordError(context.counters, "driver", describe(result.reason));
    }
  }
}
