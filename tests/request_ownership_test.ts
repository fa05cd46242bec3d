// A handler owns its request: it may keep it without a copy, and nothing the
// server does afterwards (reusing a read buffer on Deno, reusing pooled
// memory for large frames) changes its bytes. Stored requests are read back
// after many more requests on every adapter of the runtime running the test.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Server } from "../src/server.ts";
import { Client } from "../src/client.ts";
import type { Network } from "../src/transport.ts";
import { availableNetworks } from "./_runtime.ts";
import { patternBytes, sameBytes } from "./_helpers.ts";

const STORE = 1;
const FETCH = 2;
const OTHER = 3;
const ACK = new Uint8Array([0]);

/**
 * A store that keeps requests as given: byte 0 is the operation, bytes 1-4
 * the key (STORE keeps the whole request, FETCH answers it).
 */
function keepingHandler(kept: Map<number, Uint8Array>) {
  return (request: Uint8Array): Uint8Array => {
    const key = new DataView(request.buffer, request.byteOffset + 1, 4)
      .getUint32(0, true);
    if (request[0] === STORE) {
      kept.set(key, request); // no copy: the point of the test
      return ACK;
    }
    if (request[0] === FETCH) return kept.get(key) ?? new Uint8Array(0);
    return ACK;
  };
}

function message(op: number, key: number, bodyLength: number, seed: number) {
  const bytes = new Uint8Array(5 + bodyLength);
  bytes[0] = op;
  new DataView(bytes.buffer).setUint32(1, key, true);
  bytes.set(patternBytes(bodyLength, seed), 5);
  return bytes;
}

async function withServer(
  network: Network,
  kept: Map<number, Uint8Array>,
  body: (client: Client) => Promise<void>,
): Promise<void> {
  const server = new Server({ handler: keepingHandler(kept) });
  const addr = await server.listen(network, { host: "127.0.0.1", port: 0 });
  const client = await Client.dial(
    () => network.connect({ host: "127.0.0.1", port: addr.port }),
    { maxInFlight: 256 },
  );
  try {
    await body(client);
  } finally {
    await client.close();
    await server.close();
  }
}

for (const [name, network] of availableNetworks()) {
  test(`${name}: small requests kept without a copy stay intact after 100,000 more`, async () => {
    const kept = new Map<number, Uint8Array>();
    await withServer(network, kept, async (client) => {
      const stored: Uint8Array[] = [];
      const writes: Promise<Uint8Array>[] = [];
      for (let key = 0; key < 1000; key++) {
        const request = message(STORE, key, 16 + (key % 48), key);
        stored.push(request);
        writes.push(client.request(request));
      }
      await Promise.all(writes);
      // 100,000 more requests, pipelined in batches, with other bytes.
      for (let batch = 0; batch < 100; batch++) {
        const more: Promise<Uint8Array>[] = [];
        for (let i = 0; i < 1000; i++) {
          more.push(client.request(message(OTHER, i, 16 + (i % 48), 999 - i)));
        }
        await Promise.all(more);
      }
      const answers = await Promise.all(
        stored.map((_, key) => client.request(message(FETCH, key, 0, 0))),
      );
      let intact = 0;
      for (let key = 0; key < stored.length; key++) {
        if (sameBytes(answers[key], stored[key])) intact++;
      }
      assert.equal(
        intact,
        stored.length,
        `${intact} of ${stored.length} intact`,
      );
    });
  });

  test(`${name}: requests of several MiB kept without a copy stay intact after more large frames`, async () => {
    const kept = new Map<number, Uint8Array>();
    const size = 3 * 1024 * 1024;
    await withServer(network, kept, async (client) => {
      const stored: Uint8Array[] = [];
      for (let key = 0; key < 3; key++) {
        const request = message(STORE, key, size, 11 + key);
        stored.push(request);
        await client.request(request);
      }
      // More large frames, one at a time and pipelined, in other bytes:
      // pooled memory would be handed to each of them in turn.
      for (let i = 0; i < 4; i++) {
        await client.request(message(OTHER, i, size, 50 + i));
      }
      await Promise.all(
        [0, 1, 2, 3].map((i) =>
          client.request(message(OTHER, i, size + i, 60 + i))
        ),
      );
      for (let key = 0; key < stored.length; key++) {
        const answer = await client.request(message(FETCH, key, 0, 0));
        assert.ok(
          sameBytes(answer, stored[key]),
          `stored request ${key} (${size + 5} bytes) changed`,
        );
      }
    });
  });
}
