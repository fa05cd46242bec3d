// Property-based test of request ids (issue 16) over a real loopback server
// and client of this runtime's default adapter: with random handler delays
// (each request carries its own), random request sizes (up to past the
// size written by reference) and random aborts, every response reaches its
// own request: each answer is derived from its request's bytes, which are
// unique. Requests aborted while in flight are answered late; their late
// responses are counted, never handed to another request, and the
// connection stays up throughout.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { connect, serve } from "../src/adapters/auto.ts";
import type { FrameFormat, FrameFormatOption } from "../src/frame_format.ts";
import { delay, sameBytes, waitFor } from "./_helpers.ts";

/** One request of a run: its handler's delay, its size, when it is aborted. */
interface Spec {
  /** Milliseconds the handler waits before answering. */
  wait: number;
  /** Bytes after the id field's end, at least 5 (the wait and a serial number). */
  size: number;
  /** Milliseconds after the request is made that it is aborted, if it is. */
  abortAfter: number | null;
}

/**
 * The response for `request`: `end` zero bytes (the id field and what is
 * before it; the server writes the id), then the rest of the request
 * reversed, every byte flipped.
 */
function answerOf(end: number, request: Uint8Array): Uint8Array {
  const body = request.subarray(end);
  const out = new Uint8Array(request.length);
  for (let i = 0; i < body.length; i++) {
    out[end + i] = body[body.length - 1 - i] ^ 0xa5;
  }
  return out;
}

/** A u16be frame whose first 3 bytes come before a 4-byte little-endian id. */
const OFFSET_ID: FrameFormat = {
  lengthFieldLength: 2,
  byteOrder: "big",
  requestId: { offset: 3, length: 4, byteOrder: "little" },
};

/** Each format, where its id ends, its largest frame. */
const FORMATS: Array<[string, FrameFormatOption, number, number]> = [
  ["u32le-id", "u32le-id", 4, 200_000],
  ["dns", "dns", 2, 65_535],
  ["an id at offset 3", OFFSET_ID, 7, 65_535],
];

for (const [name, format, end, largest] of FORMATS) {
  test(`request ids (${name}): every response reaches its own request, with random delays, sizes and aborts`, async () => {
    const server = await serve({
      host: "127.0.0.1",
      port: 0,
      format,
      handler: async (request) => {
        const wait = request[end];
        if (wait > 0) await delay(wait);
        return answerOf(end, request);
      },
    });
    const client = await connect({
      host: "127.0.0.1",
      port: server.addr.port,
      format,
    });
    let serial = 0;
    let fulfilled = 0;
    const spec: fc.Arbitrary<Spec> = fc.record({
      wait: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 12 })),
      size: fc.oneof(
        { weight: 8, arbitrary: fc.integer({ min: 5, max: 200 }) },
        {
          weight: 1,
          arbitrary: fc.integer({ min: 1000, max: largest - end }),
        },
      ),
      abortAfter: fc.option(fc.integer({ min: 0, max: 15 }), { freq: 4 }),
    });
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(spec, { minLength: 1, maxLength: 50, size: "medium" }),
          async (specs) => {
            const timers: ReturnType<typeof setTimeout>[] = [];
            const requests = specs.map(({ wait, size }) => {
              const request = new Uint8Array(end + size);
              const body = request.subarray(end);
              body[0] = wait;
              // A serial number makes every request unique.
              new DataView(body.buffer, body.byteOffset).setUint32(
                1,
                ++serial,
              );
              for (let i = 5; i < size; i++) body[i] = (i * 7 + serial) & 0xff;
              return request;
            });
            const results = await Promise.allSettled(
              specs.map(({ abortAfter }, i) => {
                if (abortAfter === null) return client.request(requests[i]);
                const controller = new AbortController();
                timers.push(
                  setTimeout(() => controller.abort(i), abortAfter),
                );
                return client.request(requests[i], {
                  signal: controller.signal,
                });
              }),
            );
            timers.forEach(clearTimeout);
            results.forEach((result, i) => {
              if (result.status === "rejected") {
                assert.notEqual(specs[i].abortAfter, null, `${i} rejected`);
                assert.equal(result.reason, i, `${i}: its own abort`);
                return;
              }
              fulfilled++;
              const response = result.value;
              assert.equal(response.length, requests[i].length, `${i} length`);
              assert.ok(
                sameBytes(
                  response.subarray(end),
                  answerOf(end, requests[i]).subarray(end),
                ),
                `${i}: the answer to its own request`,
              );
            });
            assert.equal(client.connected, true);
          },
        ),
        { numRuns: 40 },
      );
      // Every request that reached the server is answered: on time
      // (fulfilled), or late after its abort (counted, dropped).
      await waitFor(
        () => server.stats().framesOut === server.stats().framesIn,
        "every handler to answer",
      );
      const last = new Uint8Array(end + 5);
      assert.equal((await client.request(last)).length, end + 5);
      fulfilled++;
      const { framesIn, protocolErrors } = server.stats();
      assert.equal(client.lateResponses, framesIn - fulfilled);
      assert.equal(protocolErrors, 0);
      assert.equal(server.stats().totalConnections, 1);
    } finally {
      await client.close();
      await server.close();
    }
  });
}
