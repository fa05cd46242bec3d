// Request ids over real sockets (issue 16), written once as a function of a
// runtime's Network adapter and run against every adapter: out-of-order
// answers matched by id, no head-of-line blocking, request timeouts and
// aborts that keep the connection, ids wrapping around without reuse while
// a request (or an abandoned request's late answer) is outstanding, unknown
// and duplicate ids both ways, handler timeouts that drop one request,
// drain with pending out-of-order handlers, the fifo and any orderings side
// by side, ids never written into callers' or handlers' bytes, lent
// requests, maxPendingRequests and the memory budget out of order, a
// whole-frame format with its id in the header, the refusals, and 8-byte
// ids copied exactly.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Server, type ServerOptions } from "../src/server.ts";
import { Client, type ClientOptions } from "../src/client.ts";
import {
  ConnectionClosedError,
  ConnectionTimeoutError,
  ProtocolError,
  RequestTimeoutError,
} from "../src/errors.ts";
import { encodeFrames } from "../src/frame_encoder.ts";
import { FrameDecoder } from "../src/frame_decoder.ts";
import type { FrameFormat } from "../src/frame_format.ts";
import type { Network, Transport } from "../src/transport.ts";
import {
  concat,
  delay,
  patternBytes,
  RawConnection,
  sameBytes,
  seededRandom,
  str,
  text,
  waitFor,
} from "./_helpers.ts";
import { openClient, startServer } from "./_network_suite.ts";

/** 8-byte big-endian ids before the payload, behind a u32 LE length. */
const ID8: FrameFormat = {
  lengthFieldLength: 4,
  byteOrder: "little",
  requestId: { offset: 0, length: 8, byteOrder: "big" },
};

/** The bytes before a frame's payload: its id field, for each format used. */
const ID_END = { "u32le-id": 4, dns: 2, id8: 8 } as const;

/** A request as `request()` takes it: `end` bytes for the id (left 0), then `body`. */
const ask = (end: number, body: string): Uint8Array =>
  concat([new Uint8Array(end), text(body)]);

/** The id a frame handed out carries in its first `end` bytes, as a hex string. */
const idOf = (end: number, frame: Uint8Array): string =>
  Array.from(frame.subarray(0, end), (b) => b.toString(16).padStart(2, "0"))
    .join("");

/**
 * The suite's answer to `request`: its id field filled with 0xee (the
 * server must write the request's id over it), then "re:", the body and
 * "@" with the request's id as the handler saw it.
 */
function answer(end: number, request: Uint8Array): Uint8Array {
  return concat([
    new Uint8Array(end).fill(0xee),
    text(`re:${str(request.subarray(end))}@${idOf(end, request)}`),
  ]);
}

/**
 * Checks that `response` answers the request whose body is `body`: the
 * suite's answer, and the id the handler saw is the one in the response.
 */
function assertAnswers(end: number, response: Uint8Array, body: string) {
  const text = str(response.subarray(end));
  assert.equal(text, `re:${body}@${idOf(end, response)}`, `answer to ${body}`);
}

/**
 * Follows the requests `pending`: `all` resolves with their responses, in
 * request order; `order` lists their indexes as they resolve.
 */
function tracked(pending: Promise<Uint8Array>[]) {
  const order: number[] = [];
  const all = Promise.all(
    pending.map((promise, i) =>
      promise.then((response) => {
        order.push(i);
        return response;
      })
    ),
  );
  return { all, order };
}

/** Whether the indexes of `order` are ascending: answered in request order. */
const ascending = (order: number[]): boolean =>
  order.every((index, i) => i === 0 || order[i - 1] < index);

/** A promise and the function that resolves it. */
function gate(): { opened: Promise<void>; open(): void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/**
 * A hand-written server that decodes u32le-id frames (the same bytes as
 * u32le frames of id + payload) and, once `count` have come on a
 * connection, calls `respond` with them and the connection.
 */
async function rawServer(
  network: Network,
  count: number,
  respond: (frames: Uint8Array[], transport: Transport) => void,
) {
  const transports: Transport[] = [];
  const listener = await network.listen(
    { host: "127.0.0.1", port: 0 },
    (transport) => {
      transports.push(transport);
      const frames: Uint8Array[] = [];
      const decoder = new FrameDecoder((frame) => {
        frames.push(frame.slice());
        if (frames.length === count) respond(frames, transport);
      });
      transport.start({
        data: (chunk) => {
          decoder.push(chunk);
          return true;
        },
        end: () => transport.closeWrite(),
        drain: () => {},
        closed: () => {},
      });
    },
  );
  return {
    port: listener.addr.port,
    close() {
      listener.close();
      for (const transport of transports) transport.close();
    },
  };
}

/** A function's parameters after the first. */
type DropFirst<T extends unknown[]> = T extends [unknown, ...infer Rest] ? Rest
  : never;

/** Whether `error` is a ConnectionClosedError caused by a ProtocolError. */
function closedByProtocolError(error: unknown): boolean {
  assert.ok(error instanceof ConnectionClosedError, String(error));
  assert.ok(
    (error as Error).cause instanceof ProtocolError,
    `cause: ${String((error as Error).cause)}`,
  );
  return true;
}

/** Registers the suite for one adapter. */
export function requestIdSuite(name: string, network: Network): void {
  /** Closes, by force, what the running test opened, whatever its outcome. */
  const opened: Array<() => unknown> = [];
  const t = (title: string, fn: () => Promise<void>) =>
    test(`${name}: request ids: ${title}`, async () => {
      try {
        await fn();
      } finally {
        await Promise.allSettled(opened.splice(0).map((close) => close()));
      }
    });
  const serverOn = async (options: ServerOptions) => {
    const started = await startServer(network, options);
    opened.push(() => started.server.close({ force: true }));
    return started;
  };
  const clientOf = async (port: number, options?: ClientOptions) => {
    const client = await openClient(network, port, options);
    opened.push(() => client.close({ force: true }));
    return client;
  };
  const rawServerOn = async (
    ...args: DropFirst<Parameters<typeof rawServer>>
  ) => {
    const server = await rawServer(network, ...args);
    opened.push(() => server.close());
    return server;
  };
  const rawOn = async (port: number) => {
    const raw = await RawConnection.open(network, port);
    opened.push(() => raw.transport.close());
    return raw;
  };

  for (const format of ["u32le-id", "dns"] as const) {
    const end = ID_END[format];
    t(
      `${format}: responses completing in random order are all matched`,
      async () => {
        const random = seededRandom(end);
        const { server, port } = await serverOn({
          format,
          handler: async (request) => {
            await delay(Math.floor(random() * 15));
            return answer(end, request);
          },
        });
        const client = await clientOf(port, { format });
        const bodies = Array.from(
          { length: 300 },
          (_, i) => `q${i}:${"x".repeat(i % 50)}`,
        );
        const requests = bodies.map((body) => ask(end, body));
        const { all, order } = tracked(
          requests.map((request) => client.request(request)),
        );
        const responses = await all;
        responses.forEach((response, i) =>
          assertAnswers(end, response, bodies[i])
        );
        // The ids of different requests in flight at once differ.
        const ids = new Set(responses.map((r) => idOf(end, r)));
        assert.equal(ids.size, responses.length, "one id per request");
        // The id went into the copy sent, not into the caller's request.
        for (const request of requests) {
          assert.ok(request.subarray(0, end).every((b) => b === 0));
        }
        assert.ok(!ascending(order), "answered out of order");
        assert.equal(server.stats().protocolErrors, 0);
        assert.equal(server.stats().framesIn, 300);
        await client.close();
        await server.close();
      },
    );

    t(
      `${format}: the built-in echo answers each request with its id`,
      async () => {
        const { server, port } = await serverOn({ format });
        const client = await clientOf(port, { format });
        const bodies = Array.from({ length: 1000 }, (_, i) => `echo ${i}`);
        const responses = await Promise.all(
          bodies.map((body) => client.request(ask(end, body))),
        );
        responses.forEach((response, i) =>
          assert.equal(str(response.subarray(end)), bodies[i])
        );
        await client.close();
        await server.close();
      },
    );
  }

  t("a slow request does not hold back later ones", async () => {
    const end = ID_END["u32le-id"];
    const slowHandler = gate();
    const { server, port } = await serverOn({
      format: "u32le-id",
      handler: async (request) => {
        if (str(request.subarray(end)) === "slow") await slowHandler.opened;
        return answer(end, request);
      },
    });
    const client = await clientOf(port, { format: "u32le-id" });
    let slowSettled = false;
    const slow = client.request(ask(end, "slow")).finally(() => {
      slowSettled = true;
    });
    const fast = Array.from({ length: 20 }, (_, i) => `fast ${i}`);
    const responses = await Promise.all(
      fast.map((body) => client.request(ask(end, body))),
    );
    responses.forEach((response, i) => assertAnswers(end, response, fast[i]));
    assert.equal(slowSettled, false, "the slow request is still pending");
    slowHandler.open();
    assertAnswers(end, await slow, "slow");
    await client.close();
    await server.close();
  });

  t(
    "id and fifo side by side: u32le-id with ordering fifo answers in order, ids written",
    async () => {
      const end = ID_END["u32le-id"];
      const first = gate();
      let settled = 0;
      const random = seededRandom(3);
      const { server, port } = await serverOn({
        format: "u32le-id",
        ordering: "fifo",
        handler: async (request) => {
          if (str(request.subarray(end)) === "r0") await first.opened;
          else await delay(Math.floor(random() * 10));
          settled++;
          return answer(end, request);
        },
      });
      const client = await clientOf(port, { format: "u32le-id" });
      const bodies = Array.from({ length: 40 }, (_, i) => `r${i}`);
      const { all, order } = tracked(
        bodies.map((body) => client.request(ask(end, body))),
      );
      // Every handler but the first has answered; in order, none goes out.
      await waitFor(() => settled === 39, "the later handlers to settle");
      await delay(30);
      assert.deepEqual(order, [], "later answers wait for the first");
      first.open();
      const responses = await all;
      responses.forEach((response, i) =>
        assertAnswers(end, response, bodies[i])
      );
      assert.deepEqual(order, bodies.map((_, i) => i), "answered in order");
      await client.close();
      await server.close();
    },
  );

  t(
    "id and fifo side by side: a u32le server and a u32le-id server at once",
    async () => {
      const random = seededRandom(77);
      const slowly = async (response: Uint8Array) => {
        await delay(Math.floor(random() * 12));
        return response;
      };
      const end = ID_END["u32le-id"];
      const fifo = await serverOn({
        handler: (request) => slowly(text(`re:${str(request)}`)),
      });
      const any = await serverOn({
        format: "u32le-id",
        handler: (request) => slowly(answer(end, request)),
      });
      const fifoClient = await clientOf(fifo.port);
      const anyClient = await clientOf(any.port, {
        format: "u32le-id",
      });
      const count = 150;
      const fifoRequests = tracked(
        Array.from(
          { length: count },
          (_, i) => fifoClient.request(text(`f${i}`)),
        ),
      );
      const anyRequests = tracked(
        Array.from(
          { length: count },
          (_, i) => anyClient.request(ask(end, `a${i}`)),
        ),
      );
      const [fifoResponses, anyResponses] = await Promise.all([
        fifoRequests.all,
        anyRequests.all,
      ]);
      fifoResponses.forEach((response, i) =>
        assert.equal(str(response), `re:f${i}`)
      );
      anyResponses.forEach((response, i) =>
        assertAnswers(end, response, `a${i}`)
      );
      assert.ok(ascending(fifoRequests.order), "u32le answers in order");
      assert.ok(!ascending(anyRequests.order), "u32le-id answers out of order");
      await fifoClient.close();
      await anyClient.close();
      await fifo.server.close();
      await any.server.close();
    },
  );

  t(
    "a request timeout leaves the connection and the other requests alone",
    async () => {
      const end = ID_END["u32le-id"];
      const slowHandler = gate();
      const { server, port } = await serverOn({
        format: "u32le-id",
        handler: async (request) => {
          if (str(request.subarray(end)) === "slow") await slowHandler.opened;
          return answer(end, request);
        },
      });
      const client = await clientOf(port, {
        format: "u32le-id",
        requestTimeout: 300,
      });
      const slow = client.request(ask(end, "slow"));
      const fast = Array.from({ length: 10 }, (_, i) => `fast ${i}`);
      const responses = await Promise.all(
        fast.map((body) => client.request(ask(end, body))),
      );
      responses.forEach((response, i) => assertAnswers(end, response, fast[i]));
      await assert.rejects(slow, (error: unknown) => {
        assert.ok(error instanceof RequestTimeoutError, String(error));
        assert.equal(error.sent, true);
        return true;
      });
      assert.equal(client.connected, true, "the connection stays");
      assert.equal(client.lateResponses, 0);
      slowHandler.open(); // the late response comes, and is dropped
      await waitFor(() => client.lateResponses === 1, "the late response");
      assertAnswers(end, await client.request(ask(end, "after")), "after");
      assert.equal(server.stats().totalConnections, 1);
      assert.equal(server.stats().connections, 1);
      await client.close();
      await server.close();
    },
  );

  t("aborting a sent request leaves the connection alone", async () => {
    const end = ID_END.dns;
    const slowHandler = gate();
    const { server, port } = await serverOn({
      format: "dns",
      handler: async (request) => {
        if (str(request.subarray(end)) === "slow") await slowHandler.opened;
        return answer(end, request);
      },
    });
    const client = await clientOf(port, { format: "dns" });
    const controller = new AbortController();
    const slow = client.request(ask(end, "slow"), {
      signal: controller.signal,
    });
    const fast = Array.from({ length: 10 }, (_, i) => `fast ${i}`);
    const responses = await Promise.all(
      fast.map((body) => client.request(ask(end, body))),
    );
    responses.forEach((response, i) => assertAnswers(end, response, fast[i]));
    await waitFor(() => server.stats().framesIn === 11, "the slow request");
    const reason = new Error("changed my mind");
    controller.abort(reason);
    await assert.rejects(slow, (error: unknown) => error === reason);
    assert.equal(client.connected, true, "the connection stays");
    slowHandler.open();
    await waitFor(() => client.lateResponses === 1, "the late response");
    assertAnswers(end, await client.request(ask(end, "after")), "after");
    assert.equal(server.stats().totalConnections, 1);
    await client.close();
    await server.close();
  });

  t(
    "more than maxInFlight timed-out requests awaiting their answers close the connection",
    async () => {
      const end = ID_END["u32le-id"];
      const { server, port } = await serverOn({
        format: "u32le-id",
        handler: () => new Promise<Uint8Array>(() => {}), // never answers
      });
      const client = await clientOf(port, {
        format: "u32le-id",
        maxInFlight: 2,
        requestTimeout: 100,
      });
      for (let i = 0; i < 2; i++) {
        await assert.rejects(
          client.request(ask(end, `t${i}`)),
          RequestTimeoutError,
        );
      }
      assert.equal(client.connected, true, "two may still be awaited");
      await assert.rejects(client.request(ask(end, "t2")), RequestTimeoutError);
      await waitFor(() => !client.connected, "the client to give up");
      await assert.rejects(
        client.request(ask(end, "t3")),
        ConnectionClosedError,
      );
      await client.close({ force: true });
      await server.close({ force: true });
    },
  );

  t("dns: ids wrap around over 70,000 requests on one client", async () => {
    const end = ID_END.dns;
    const { server, port } = await serverOn({
      format: "dns",
      handler: (request) => answer(end, request),
    });
    const client = await clientOf(port, { format: "dns" });
    const total = 70_000;
    const batch = 7_000;
    for (let from = 0; from < total; from += batch) {
      const bodies = Array.from({ length: batch }, (_, i) => `${from + i}`);
      const responses = await Promise.all(
        bodies.map((body) => client.request(ask(end, body))),
      );
      responses.forEach((response, i) =>
        assertAnswers(end, response, bodies[i])
      );
    }
    assert.equal(server.stats().framesIn, total);
    assert.equal(server.stats().protocolErrors, 0);
    await client.close();
    await server.close();
  });

  t(
    "dns: pending and abandoned requests keep their ids while the others wrap past them",
    async () => {
      const end = ID_END.dns;
      const release = gate();
      /** Ids of the requests the handler holds: "held" and "abandoned". */
      const heldIds = new Map<string, string>();
      let reused = 0;
      const seen = new Set<string>();
      const { server, port } = await serverOn({
        format: "dns",
        handler: async (request) => {
          const id = idOf(end, request);
          const body = str(request.subarray(end));
          if (body === "held" || body === "abandoned") {
            heldIds.set(body, id);
            await release.opened;
          } else {
            seen.add(id);
            if ([...heldIds.values()].includes(id)) reused++;
          }
          return answer(end, request);
        },
      });
      const client = await clientOf(port, { format: "dns" });
      let heldSettled = false;
      const held = client.request(ask(end, "held")).finally(() => {
        heldSettled = true;
      });
      // Aborted once written: its late response may still come, so its id
      // stays taken too.
      const controller = new AbortController();
      const abandoned = client.request(ask(end, "abandoned"), {
        signal: controller.signal,
      });
      await waitFor(() => heldIds.size === 2, "the held requests");
      controller.abort();
      await assert.rejects(abandoned);
      const total = 66_000;
      const batch = 6_600;
      for (let from = 0; from < total; from += batch) {
        const bodies = Array.from({ length: batch }, (_, i) => `${from + i}`);
        const responses = await Promise.all(
          bodies.map((body) => client.request(ask(end, body))),
        );
        responses.forEach((response, i) =>
          assertAnswers(end, response, bodies[i])
        );
      }
      assert.equal(reused, 0, "no request took a held request's id");
      for (const id of heldIds.values()) {
        assert.ok(!seen.has(id), `the held id ${id} was never sent again`);
      }
      assert.ok(seen.size > 60_000, `the ids went round: ${seen.size} used`);
      assert.equal(heldSettled, false);
      assert.equal(client.lateResponses, 0);
      release.open();
      assertAnswers(end, await held, "held");
      await waitFor(() => client.lateResponses === 1, "the late response");
      assertAnswers(end, await client.request(ask(end, "last")), "last");
      await client.close();
      await server.close();
    },
  );

  t(
    "unknown, duplicate and missing ids from a server are protocol errors",
    async () => {
      const end = ID_END["u32le-id"];
      // Answers with an id no request was given.
      const unknown = await rawServerOn(3, (frames, transport) => {
        const ids = frames.map((f) => idOf(end, f));
        const frame = frames[0].slice();
        for (let n = 1; ids.includes(idOf(end, frame)); n++) {
          new DataView(frame.buffer).setUint32(0, 0x7000_0000 + n, true);
        }
        transport.write(encodeFrames([frame]));
      });
      const client = await clientOf(unknown.port, {
        format: "u32le-id",
      });
      const results = await Promise.allSettled(
        ["a", "b", "c"].map((body) => client.request(ask(end, body))),
      );
      for (const result of results) {
        assert.equal(result.status, "rejected");
        closedByProtocolError((result as PromiseRejectedResult).reason);
      }
      await client.close();
      unknown.close();
      // Answers the first request twice, then the others.
      const duplicate = await rawServerOn(3, (frames, transport) => {
        transport.write(
          encodeFrames([frames[0], frames[0], frames[1], frames[2]]),
        );
      });
      const second = await clientOf(duplicate.port, {
        format: "u32le-id",
      });
      const [first, ...rest] = await Promise.allSettled(
        ["a", "b", "c"].map((body) => second.request(ask(end, body))),
      );
      assert.equal(first.status, "fulfilled", "the first answer is taken");
      assert.equal(
        str((first as PromiseFulfilledResult<Uint8Array>).value.subarray(end)),
        "a",
      );
      for (const result of rest) {
        assert.equal(result.status, "rejected");
        closedByProtocolError((result as PromiseRejectedResult).reason);
      }
      await second.close();
      duplicate.close();
      // Answers with a frame too short to hold an id.
      const short = await rawServerOn(1, (_frames, transport) => {
        transport.write(encodeFrames([new Uint8Array([1, 2])]));
      });
      const third = await clientOf(short.port, {
        format: "u32le-id",
      });
      await assert.rejects(
        third.request(ask(end, "a")),
        closedByProtocolError,
      );
      await third.close();
      short.close();
    },
  );

  t(
    "a late response is taken once: the same id again is a protocol error",
    async () => {
      const end = ID_END["u32le-id"];
      let connection: Transport | null = null;
      let frames: Uint8Array[] = [];
      // Holds both requests and answers them when the test says.
      const server = await rawServerOn(2, (received, transport) => {
        frames = received;
        connection = transport;
      });
      const client = await clientOf(server.port, {
        format: "u32le-id",
      });
      const controller = new AbortController();
      const aborted = client.request(ask(end, "a"), {
        signal: controller.signal,
      });
      const waiting = client.request(ask(end, "b"));
      await waitFor(() => connection !== null, "both requests");
      controller.abort();
      await assert.rejects(aborted);
      connection!.write(encodeFrames([frames[0]]));
      await waitFor(() => client.lateResponses === 1, "the late response");
      assert.equal(client.connected, true);
      connection!.write(encodeFrames([frames[0]])); // once more
      await assert.rejects(waiting, closedByProtocolError);
      assert.equal(client.lateResponses, 1);
      await client.close();
      server.close();
    },
  );

  t(
    "maxInFlight bounds the requests in flight; abandoned ones do not count",
    async () => {
      const end = ID_END["u32le-id"];
      const release = gate();
      const { server, port } = await serverOn({
        format: "u32le-id",
        handler: async (request) => {
          await release.opened;
          return answer(end, request);
        },
      });
      const client = await clientOf(port, {
        format: "u32le-id",
        maxInFlight: 4,
      });
      const controller = new AbortController();
      const abandoned = [0, 1].map((i) =>
        client.request(ask(end, `abandoned ${i}`), {
          signal: controller.signal,
        })
      );
      await waitFor(() => server.stats().framesIn === 2, "two requests");
      controller.abort();
      await Promise.allSettled(abandoned);
      assert.equal(client.inFlight, 0);
      const bodies = Array.from({ length: 20 }, (_, i) => `b${i}`);
      const pending = bodies.map((body) => client.request(ask(end, body)));
      assert.equal(client.inFlight, 4, "four in flight despite two abandoned");
      assert.equal(client.waiting, 16);
      await waitFor(() => server.stats().framesIn === 6, "four more");
      release.open();
      const responses = await Promise.all(pending);
      responses.forEach((response, i) =>
        assertAnswers(end, response, bodies[i])
      );
      await waitFor(() => client.lateResponses === 2, "the late responses");
      await client.close();
      await server.close();
    },
  );

  t(
    'a handler given up on by its timeout still counts towards maxPendingRequests ("any")',
    async () => {
      const end = ID_END["u32le-id"];
      const late = gate();
      const { server, port } = await serverOn({
        format: "u32le-id",
        maxPendingRequests: 2,
        handlerTimeout: 100,
        onError: () => {},
        handler: async (request) => {
          if (str(request.subarray(end)).startsWith("hang")) {
            await late.opened;
          }
          return answer(end, request);
        },
      });
      const client = await clientOf(port, { format: "u32le-id" });
      const controller = new AbortController();
      const hangs = ["hang 0", "hang 1"].map((body) =>
        client.request(ask(end, body), { signal: controller.signal })
      );
      await waitFor(() => server.stats().handlerTimeouts === 2, "timeouts");
      controller.abort();
      await Promise.allSettled(hangs);
      let answered = false;
      const next = client.request(ask(end, "next")).finally(() => {
        answered = true;
      });
      await delay(50);
      assert.equal(answered, false, "not read while two handlers still run");
      assert.equal(server.stats().framesIn, 2);
      late.open(); // both settle: their results are discarded
      assertAnswers(end, await next, "next");
      assert.equal(client.lateResponses, 0, "no answers to the given up");
      await client.close();
      await server.close();
    },
  );

  t(
    "the server answers two requests in flight with the same id, each with it",
    async () => {
      const end = ID_END["u32le-id"];
      const { server, port } = await serverOn({
        format: "u32le-id",
        handler: async (request) => {
          // The first waits: the answers go out in the other order.
          if (str(request.subarray(end)) === "one") await delay(50);
          return answer(end, request);
        },
      });
      const raw = await rawOn(port);
      const id = new Uint8Array([4, 3, 2, 1]);
      const other = new Uint8Array([9, 9, 9, 9]);
      raw.write(encodeFrames([
        concat([id, text("one")]),
        concat([id, text("two")]),
        concat([other, text("three")]),
      ]));
      await waitFor(() => raw.frames.length === 3, "three answers");
      const answers = raw.frames.map((
        f,
      ) => [idOf(end, f), str(f.subarray(end))]);
      assert.deepEqual(
        new Set(answers.map(([i, body]) => `${i} ${body}`)),
        new Set([
          "04030201 re:one@04030201",
          "04030201 re:two@04030201",
          "09090909 re:three@09090909",
        ]),
      );
      assert.equal(
        str(raw.frames[2].subarray(end)),
        "re:one@04030201",
        "the slow first answer went out last",
      );
      assert.equal(raw.closed, false);
      raw.transport.close();
      await server.close();
    },
  );

  t(
    'a handler timeout with ordering "any" drops only that request',
    async () => {
      const end = ID_END["u32le-id"];
      const late = gate();
      const errors: unknown[] = [];
      const { server, port } = await serverOn({
        format: "u32le-id",
        handlerTimeout: 200,
        onError: (error) => errors.push(error),
        handler: async (request) => {
          if (str(request.subarray(end)) === "hang") await late.opened;
          return answer(end, request);
        },
      });
      const client = await clientOf(port, { format: "u32le-id" });
      const controller = new AbortController();
      const hang = client.request(ask(end, "hang"), {
        signal: controller.signal,
      });
      hang.catch(() => {});
      const fast = Array.from({ length: 10 }, (_, i) => `fast ${i}`);
      const responses = await Promise.all(
        fast.map((body) => client.request(ask(end, body))),
      );
      responses.forEach((response, i) => assertAnswers(end, response, fast[i]));
      await waitFor(() => server.stats().handlerTimeouts === 1, "the timeout");
      assert.equal(errors.length, 1);
      assert.ok(errors[0] instanceof ConnectionTimeoutError, String(errors[0]));
      assert.equal((errors[0] as ConnectionTimeoutError).reason, "handler");
      // The handler's late result is discarded: were it sent, the client
      // would count a late response (its request is aborted below).
      controller.abort();
      await assert.rejects(hang);
      late.open();
      await delay(20);
      assertAnswers(end, await client.request(ask(end, "after")), "after");
      assert.equal(client.lateResponses, 0, "no answer to the dropped request");
      assert.equal(client.connected, true);
      const stats = server.stats();
      assert.equal(stats.connections, 1);
      assert.equal(stats.totalConnections, 1);
      assert.equal(stats.handlerTimeouts, 1);
      await client.close();
      await server.close();
    },
  );

  t(
    'a handler timeout with ordering "any" never gives up a call early',
    async () => {
      // Calls of 350 ms against a handlerTimeout of 500 ms, begun at
      // every phase of the server's 250 ms timeout sweep: none may be
      // given up (a sweep may only make a timeout late). onHandlerError
      // answers a call given up, saying so.
      const end = ID_END["u32le-id"];
      const { server, port } = await serverOn({
        format: "u32le-id",
        handlerTimeout: 500,
        onError: () => {},
        handler: async (request) => {
          await delay(350);
          return answer(end, request);
        },
        onHandlerError: (_error, request) =>
          answer(end, concat([request, text(" given up")])),
      });
      const client = await clientOf(port, { format: "u32le-id" });
      const early: string[] = [];
      await Promise.all(
        Array.from({ length: 10 }, async (_, i) => {
          await delay(i * 27);
          const asked = performance.now();
          const response = await client.request(ask(end, `${i}`));
          const body = str(response.subarray(end));
          if (body.includes("given up")) {
            early.push(
              `${i} after ${Math.round(performance.now() - asked)} ms`,
            );
          } else assertAnswers(end, response, `${i}`);
        }),
      );
      assert.deepEqual(
        early,
        [],
        "calls of 350 ms given up under handlerTimeout 500",
      );
      assert.equal(server.stats().handlerTimeouts, 0);
      await client.close();
      await server.close();
    },
  );

  t(
    'a handler timeout with ordering "any": onHandlerError answers it',
    async () => {
      const end = ID_END["u32le-id"];
      const hooked: unknown[] = [];
      const errors: unknown[] = [];
      const { server, port } = await serverOn({
        format: "u32le-id",
        handlerTimeout: 150,
        onError: (error) => errors.push(error),
        handler: async (request) => {
          if (str(request.subarray(end)) === "hang") {
            await new Promise(() => {});
          }
          return answer(end, request);
        },
        onHandlerError: (error, request) => {
          hooked.push(error);
          return answer(end, concat([request, text(" timed out")]));
        },
      });
      const client = await clientOf(port, { format: "u32le-id" });
      const [hang, ...fast] = await Promise.all(
        ["hang", "a", "b", "c"].map((body) => client.request(ask(end, body))),
      );
      assertAnswers(end, hang, "hang timed out");
      ["a", "b", "c"].forEach((body, i) => assertAnswers(end, fast[i], body));
      assert.equal(hooked.length, 1);
      assert.ok(hooked[0] instanceof ConnectionTimeoutError);
      assert.equal((hooked[0] as ConnectionTimeoutError).reason, "handler");
      assert.equal(server.stats().handlerTimeouts, 1);
      assert.equal(client.connected, true);
      assertAnswers(end, await client.request(ask(end, "after")), "after");
      await client.close();
      await server.close();
    },
  );

  t(
    'onHandlerError answers failed calls with their ids, out of order ("any")',
    async () => {
      const end = ID_END.dns;
      const random = seededRandom(21);
      const { server, port } = await serverOn({
        format: "dns",
        handler: async (request) => {
          await delay(Math.floor(random() * 10));
          const body = str(request.subarray(end));
          if (body.startsWith("throw")) throw new Error(body);
          if (body.startsWith("text")) return body as unknown as Uint8Array;
          return answer(end, request);
        },
        onHandlerError: (error, request) =>
          answer(
            end,
            concat([request, text(` failed: ${(error as Error).name}`)]),
          ),
      });
      const client = await clientOf(port, { format: "dns" });
      const bodies = Array.from(
        { length: 60 },
        (_, i) =>
          i % 3 === 0 ? `throw ${i}` : i % 3 === 1 ? `text ${i}` : `ok ${i}`,
      );
      const responses = await Promise.all(
        bodies.map((body) => client.request(ask(end, body))),
      );
      responses.forEach((response, i) => {
        const body = bodies[i];
        assertAnswers(
          end,
          response,
          body.startsWith("throw")
            ? `${body} failed: Error`
            : body.startsWith("text")
            ? `${body} failed: TypeError`
            : body,
        );
      });
      assert.equal(server.stats().handlerErrors, 40);
      assert.equal(client.connected, true);
      await client.close();
      await server.close();
    },
  );

  t(
    "close() while out-of-order handlers are pending answers them all first",
    async () => {
      const end = ID_END["u32le-id"];
      const count = 15;
      const { server, port } = await serverOn({
        format: "u32le-id",
        handler: async (request) => {
          // Later requests answer sooner.
          const i = Number(str(request.subarray(end)));
          await delay(20 + (count - i) * 8);
          return answer(end, request);
        },
      });
      const client = await clientOf(port, { format: "u32le-id" });
      const { all, order } = tracked(
        Array.from(
          { length: count },
          (_, i) => client.request(ask(end, `${i}`)),
        ),
      );
      await waitFor(
        () => server.stats().framesIn === count,
        "every request to be pending",
      );
      const closing = server.close();
      const responses = await all;
      responses.forEach((response, i) => assertAnswers(end, response, `${i}`));
      assert.ok(!ascending(order), "answered out of order");
      await closing;
      assert.equal(server.stats().connections, 0);
      await waitFor(() => !client.connected, "the client to see the close");
      await client.close();
    },
  );

  t(
    "the refusals: ordering any without an id, short frames and responses",
    async () => {
      assert.throws(
        () => new Server({ format: "u32le", ordering: "any" }),
        RangeError,
      );
      assert.throws(
        () => new Server({ ordering: "any" }),
        RangeError,
      );
      assert.throws(
        () =>
          new Server({
            format: { lengthFieldLength: 2, byteOrder: "big" },
            ordering: "any",
          }),
        RangeError,
      );
      new Server({ format: "dns", ordering: "any" });
      new Server({ format: "u32le-id", ordering: "fifo" });
      new Server({ format: "u32le", ordering: "fifo" });
      const end = ID_END["u32le-id"];
      const errors: unknown[] = [];
      const { server, port } = await serverOn({
        format: "u32le-id",
        onError: (error) => errors.push(error),
        handler: (request) => answer(end, request),
      });
      // maxInFlight * 2 must not exceed the id space.
      const transport = await network.connect({ host: "127.0.0.1", port });
      assert.throws(
        () => new Client(transport, { format: "dns", maxInFlight: 32_769 }),
        RangeError,
      );
      new Client(transport, { format: "dns", maxInFlight: 32_768 }).close();
      const client = await clientOf(port, { format: "u32le-id" });
      // A request without room for the id is refused before it is sent.
      await assert.rejects(
        client.request(new Uint8Array(end - 1)),
        /no room for the request id/,
      );
      // An empty payload after the id is fine.
      const empty = await client.request(new Uint8Array(end));
      assertAnswers(end, empty, "");
      await client.close();
      // A frame shorter than the id is a protocol error.
      const raw = await rawOn(port);
      raw.write(encodeFrames([new Uint8Array([1, 2])]));
      await raw.waitClosed();
      await waitFor(() => errors.length === 1, "the error");
      assert.ok(errors[0] instanceof ProtocolError, String(errors[0]));
      assert.equal(server.stats().protocolErrors, 1);
      assert.equal(raw.frames.length, 0);
      await server.close();
      // dns: a 1-byte message.
      const dnsErrors: unknown[] = [];
      const dns = await serverOn({
        format: "dns",
        onError: (error) => dnsErrors.push(error),
      });
      const dnsRaw = await rawOn(dns.port);
      dnsRaw.write(new Uint8Array([0, 1, 0x42]));
      await dnsRaw.waitClosed();
      assert.equal(dns.server.stats().protocolErrors, 1);
      assert.ok(dnsErrors[0] instanceof ProtocolError, String(dnsErrors[0]));
      await dns.server.close();
    },
  );

  t(
    "a response without room for the id is a handler error: the connection closes",
    async () => {
      const errors: unknown[] = [];
      const { server, port } = await serverOn({
        format: "dns",
        onError: (error) => errors.push(error),
        handler: () => new Uint8Array(1),
      });
      const client = await clientOf(port, { format: "dns" });
      await assert.rejects(
        client.request(ask(2, "x"), { signal: AbortSignal.timeout(5000) }),
        ConnectionClosedError,
      );
      await waitFor(() => errors.length === 1, "the error");
      assert.match(String((errors[0] as Error).message), /request id/);
      assert.equal(server.stats().handlerErrors, 1);
      await client.close();
      await server.close();
    },
  );

  t(
    "the same bytes requested many times at once go out with ids of their own, small and large",
    async () => {
      const end = ID_END["u32le-id"];
      const random = seededRandom(5);
      const { server, port } = await serverOn({
        format: "u32le-id",
        handler: async (request) => {
          await delay(Math.floor(random() * 6));
          // The id the handler saw, after the request's own bytes.
          return concat([request, text(`@${idOf(end, request)}`)]);
        },
      });
      const client = await clientOf(port, { format: "u32le-id" });
      for (const size of [10, 100 * 1024]) {
        const request = concat([new Uint8Array(end), patternBytes(size, 9)]);
        const before = request.slice();
        const responses = await Promise.all(
          Array.from({ length: 100 }, () => client.request(request)),
        );
        assert.ok(sameBytes(request, before), "the caller's bytes unchanged");
        const ids = new Set<string>();
        for (const response of responses) {
          const id = idOf(end, response);
          ids.add(id);
          const body = response.subarray(end);
          assert.ok(sameBytes(body.subarray(0, size), before.subarray(end)));
          assert.equal(str(body.subarray(size)), `@${id}`, "its own id");
        }
        assert.equal(ids.size, 100, `${size}: one id per request`);
      }
      await client.close();
      await server.close();
    },
  );

  t(
    "a handler that answers with its request changed in place still sends the request's id",
    async () => {
      // The handler owns its request: it may turn it into the response in
      // place, id field included; the server writes the request's id.
      const end = ID_END["u32le-id"];
      const inPlace = (request: Uint8Array) => {
        request.fill(0xee, 0, end);
        request.subarray(end).reverse();
        return request;
      };
      for (const sync of [true, false]) {
        for (const ordering of ["any", "fifo"] as const) {
          const { server, port } = await serverOn({
            format: "u32le-id",
            ordering,
            onError: () => {},
            handler: sync ? inPlace : async (request) => {
              await delay(1);
              return inPlace(request);
            },
          });
          const client = await clientOf(port, {
            format: "u32le-id",
          });
          const bodies = ["abc", "hello", "xy"];
          const results = await Promise.allSettled(
            bodies.map((body) => client.request(ask(end, body))),
          );
          const how = `${sync ? "sync" : "async"} handler, ${ordering}`;
          results.forEach((result, i) => {
            assert.equal(
              result.status,
              "fulfilled",
              `${how}: ${
                String((result as PromiseRejectedResult).reason?.cause ?? "")
              }`,
            );
            const response = (result as PromiseFulfilledResult<Uint8Array>)
              .value;
            assert.equal(
              str(response.subarray(end)),
              [...bodies[i]].reverse().join(""),
              how,
            );
          });
          await client.close();
          await server.close();
        }
      }
    },
  );

  t(
    "one response buffer returned for many requests gets each id in the bytes sent, never in the buffer",
    async () => {
      const end = ID_END["u32le-id"];
      const random = seededRandom(6);
      for (const size of [50, 200 * 1024]) {
        const shared = concat([
          new Uint8Array(end).fill(0xee),
          patternBytes(size, 4),
        ]);
        const before = shared.slice();
        const { server, port } = await serverOn({
          format: "u32le-id",
          handler: async () => {
            await delay(Math.floor(random() * 6));
            return shared;
          },
        });
        const client = await clientOf(port, {
          format: "u32le-id",
        });
        const responses = await Promise.all(
          Array.from(
            { length: 60 },
            (_, i) => client.request(ask(end, `${i}`)),
          ),
        );
        assert.ok(sameBytes(shared, before), "the handler's bytes unchanged");
        const ids = new Set(responses.map((r) => idOf(end, r)));
        assert.equal(ids.size, 60, `${size}: each with its own id`);
        for (const response of responses) {
          assert.ok(sameBytes(response.subarray(end), before.subarray(end)));
        }
        await client.close();
        await server.close();
      }
    },
  );

  t(
    "zeroCopy: lent requests answered with themselves out of order, small and large",
    async () => {
      const end = ID_END["u32le-id"];
      const random = seededRandom(7);
      const { server, port } = await serverOn({
        format: "u32le-id",
        zeroCopy: true,
        handler: async (request) => {
          await delay(Math.floor(random() * 10));
          return request;
        },
      });
      const client = await clientOf(port, { format: "u32le-id" });
      const sizes = [4, 5, 100, 4000, 70_000, 1_200_000];
      for (let round = 0; round < 3; round++) {
        const requests = Array.from({ length: 60 }, (_, i) => {
          const request = patternBytes(end + sizes[i % sizes.length], i);
          request.fill(0, 0, end);
          new DataView(request.buffer).setUint32(end, round * 1000 + i);
          return request;
        });
        const { all, order } = tracked(
          requests.map((request) => client.request(request)),
        );
        const responses = await all;
        responses.forEach((response, i) =>
          assert.ok(
            sameBytes(response.subarray(end), requests[i].subarray(end)),
            `round ${round}, request ${i}`,
          )
        );
        assert.ok(!ascending(order), "answered out of order");
      }
      await client.close();
      await server.close();
    },
  );

  t(
    'lent requests: answered large frames free their memory while an older handler is pending ("any")',
    async () => {
      // One call waits the whole test; the large requests after it are
      // answered at once, so their lent memory must come back: were it
      // held, 8 of them would fill the 16 MiB budget and reading would stop.
      const end = ID_END["u32le-id"];
      const MiB = 1024 * 1024;
      const release = gate();
      const { server, port } = await serverOn({
        format: "u32le-id",
        zeroCopy: true,
        maxFrameSize: 4 * MiB,
        maxBufferedBytes: 16 * MiB,
        handler: async (request) => {
          if (request.length === end) await release.opened;
          return request.subarray(0, end + 8);
        },
      });
      const client = await clientOf(port, { format: "u32le-id" });
      const held = client.request(new Uint8Array(end));
      held.catch(() => {}); // closed by force if the test fails
      const deadline = AbortSignal.timeout(5000);
      let answered = 0;
      let most = 0;
      try {
        for (let i = 0; i < 30; i++) {
          const request = patternBytes(end + 2 * MiB, i);
          request.fill(0, 0, end);
          const response = await client.request(request, { signal: deadline });
          assert.ok(
            sameBytes(response.subarray(end), request.subarray(end, end + 8)),
          );
          answered++;
          most = Math.max(most, server.stats().bufferedBytes);
        }
      } catch (error) {
        assert.fail(
          `${answered} of 30 answered, then ${error}; bufferedBytes ${server.stats().bufferedBytes}, memoryDeferrals ${server.stats().memoryDeferrals}`,
        );
      }
      assert.ok(most <= 8 * MiB, `bufferedBytes reached ${most}`);
      release.open();
      assert.equal((await held).length, end, "the held request answered last");
      await client.close();
      await server.close();
    },
  );

  t(
    'maxPendingRequests pauses reading with ordering "any" until one settles, in any order',
    async () => {
      const end = ID_END["u32le-id"];
      const gates = new Map<string, () => void>();
      const { server, port } = await serverOn({
        format: "u32le-id",
        maxPendingRequests: 3,
        handler: async (request) => {
          const body = str(request.subarray(end));
          await new Promise<void>((resolve) => gates.set(body, resolve));
          return answer(end, request);
        },
      });
      const client = await clientOf(port, { format: "u32le-id" });
      const first = ["a0", "a1", "a2"].map((body) =>
        client.request(ask(end, body))
      );
      await waitFor(() => gates.size === 3, "three handlers");
      const later = ["b0", "b1", "b2"].map((body) =>
        client.request(ask(end, body))
      );
      await delay(50);
      assert.equal(gates.size, 3, "no more read while three are pending");
      gates.get("a1")!(); // the middle one settles first
      assertAnswers(end, await first[1], "a1");
      await waitFor(() => gates.size > 3, "reading to resume");
      for (const open of gates.values()) open();
      await waitFor(() => gates.size === 6, "every handler");
      for (const open of gates.values()) open();
      const responses = await Promise.all([...first, ...later]);
      ["a0", "a1", "a2", "b0", "b1", "b2"].forEach((body, i) =>
        assertAnswers(end, responses[i], body)
      );
      await client.close();
      await server.close();
    },
  );

  t(
    'the memory budget with ordering "any": large frames wait for memory, then all complete',
    async () => {
      const end = ID_END["u32le-id"];
      const MiB = 1024 * 1024;
      const random = seededRandom(13);
      const { server, port } = await serverOn({
        format: "u32le-id",
        maxFrameSize: 4 * MiB,
        maxBufferedBytes: 4 * MiB,
        handler: async (request) => {
          await delay(Math.floor(random() * 20));
          // The request, its body reversed: its memory is held till written.
          const response = request.slice();
          response.subarray(end).reverse();
          return response;
        },
      });
      const clients = await Promise.all(
        [0, 1].map(() => clientOf(port, { format: "u32le-id" })),
      );
      const requests = Array.from({ length: 8 }, (_, i) => {
        const request = patternBytes(end + 1.5 * MiB, i);
        request.fill(0, 0, end);
        return request;
      });
      const responses = await Promise.all(
        requests.map((request, i) => clients[i % 2].request(request)),
      );
      responses.forEach((response, i) => {
        const expected = requests[i].slice();
        expected.subarray(end).reverse();
        assert.ok(
          sameBytes(response.subarray(end), expected.subarray(end)),
          `request ${i}`,
        );
      });
      assert.ok(server.stats().memoryDeferrals > 0, "frames waited");
      await waitFor(() => server.stats().bufferedBytes === 0, "the memory");
      await Promise.all(clients.map((client) => client.close()));
      await server.close();
    },
  );

  t(
    "a whole-frame format with its id in the header: both sides write ids, answers out of order",
    async () => {
      // memcached's binary protocol: a 24-byte header kept, the body
      // length at 8, the opaque field (the id) at 12.
      const format: FrameFormat = {
        lengthFieldOffset: 8,
        lengthFieldLength: 4,
        byteOrder: "big",
        lengthAdjustment: 12,
        initialBytesToStrip: 0,
        requestId: { offset: 12, length: 4, byteOrder: "big" },
      };
      const frame = (body: Uint8Array, opaque = 0) => {
        const bytes = new Uint8Array(24 + body.length);
        const view = new DataView(bytes.buffer);
        view.setUint32(8, body.length, false);
        view.setUint32(12, opaque, false);
        bytes.set(body, 24);
        return bytes;
      };
      const random = seededRandom(12);
      const { server, port } = await serverOn({
        format,
        handler: async (request) => {
          await delay(Math.floor(random() * 10));
          const opaque = new DataView(request.buffer, request.byteOffset)
            .getUint32(12, false);
          const body = str(request.subarray(24));
          // A wrong opaque: the server writes the request's over it.
          return frame(text(`re:${body}@${opaque}`), 0xdead_beef);
        },
      });
      const client = await clientOf(port, { format });
      const bodies = Array.from({ length: 200 }, (_, i) => `m${i}`);
      const { all, order } = tracked(
        bodies.map((body) => client.request(frame(text(body)))),
      );
      const responses = await all;
      responses.forEach((response, i) => {
        const opaque = new DataView(response.buffer, response.byteOffset)
          .getUint32(12, false);
        assert.equal(str(response.subarray(24)), `re:${bodies[i]}@${opaque}`);
      });
      assert.ok(!ascending(order), "answered out of order");
      await client.close();
      await server.close();
    },
  );

  t("a request aborted before it is written is never sent", async () => {
    const end = ID_END["u32le-id"];
    const { server, port } = await serverOn({
      format: "u32le-id",
      handler: (request) => answer(end, request),
    });
    const client = await clientOf(port, { format: "u32le-id" });
    const controller = new AbortController();
    const aborted = client.request(ask(end, "never"), {
      signal: controller.signal,
    });
    controller.abort(); // in the same tick: not written yet
    const after = client.request(ask(end, "after"));
    await assert.rejects(aborted);
    assertAnswers(end, await after, "after");
    assert.equal(server.stats().framesIn, 1);
    assert.equal(client.lateResponses, 0);
    await client.close();
    await server.close();
  });

  t(
    'u32le-id with ordering "fifo": a handler timeout still closes the connection',
    async () => {
      const end = ID_END["u32le-id"];
      const { server, port } = await serverOn({
        format: "u32le-id",
        ordering: "fifo",
        handlerTimeout: 150,
        onError: () => {},
        handler: (request) =>
          str(request.subarray(end)) === "hang"
            ? new Promise<Uint8Array>(() => {})
            : answer(end, request),
      });
      const client = await clientOf(port, { format: "u32le-id" });
      const results = await Promise.allSettled(
        ["a", "hang", "c"].map((body) => client.request(ask(end, body))),
      );
      assert.equal(results[0].status, "fulfilled");
      for (const result of results.slice(1)) {
        assert.equal(result.status, "rejected");
        assert.ok(
          (result as PromiseRejectedResult).reason instanceof
            ConnectionClosedError,
        );
      }
      assert.equal(server.stats().handlerTimeouts, 1);
      await client.close();
      await server.close();
    },
  );

  t(
    'close() does not wait for a handler given up on by its timeout ("any")',
    async () => {
      const end = ID_END["u32le-id"];
      const { server, port } = await serverOn({
        format: "u32le-id",
        handlerTimeout: 150,
        onError: () => {},
        handler: async (request) => {
          const body = str(request.subarray(end));
          if (body === "hang") await new Promise(() => {});
          await delay(Number(body));
          return answer(end, request);
        },
      });
      const client = await clientOf(port, { format: "u32le-id" });
      const hang = client.request(ask(end, "hang"), {
        signal: AbortSignal.timeout(5000),
      });
      hang.catch(() => {});
      await waitFor(() => server.stats().handlerTimeouts === 1, "the timeout");
      const pending = ["30", "10", "20"].map((body) =>
        client.request(ask(end, body))
      );
      await waitFor(() => server.stats().framesIn === 4, "the requests");
      await server.close();
      const responses = await Promise.all(pending);
      responses.forEach((response, i) =>
        assertAnswers(end, response, ["30", "10", "20"][i])
      );
      await assert.rejects(hang, ConnectionClosedError);
      await client.close();
    },
  );

  t("8-byte ids: round trips, and ids above 2^53 copied exactly", async () => {
    const end = ID_END.id8;
    const random = seededRandom(8);
    const { server, port } = await serverOn({
      format: ID8,
      handler: async (request) => {
        await delay(Math.floor(random() * 8));
        return answer(end, request);
      },
    });
    const client = await clientOf(port, { format: ID8 });
    const bodies = Array.from({ length: 200 }, (_, i) => `eight ${i}`);
    const responses = await Promise.all(
      bodies.map((body) => client.request(ask(end, body))),
    );
    responses.forEach((response, i) => assertAnswers(end, response, bodies[i]));
    await client.close();
    // A raw client sends ids no JavaScript number holds.
    const ids = [
      0xffff_ffff_ffff_fffen,
      0x0020_0000_0000_0001n,
      0x0123_4567_89ab_cdefn,
      0x8000_0000_0000_0000n,
    ];
    const raw = await rawOn(port);
    raw.write(encodeFrames(ids.map((id, i) => {
      const frame = concat([new Uint8Array(8), text(`big ${i}`)]);
      new DataView(frame.buffer).setBigUint64(0, id, false);
      return frame;
    })));
    await waitFor(() => raw.frames.length === ids.length, "the answers");
    const got = new Map(raw.frames.map((f) => [str(f.subarray(end)), f]));
    ids.forEach((id, i) => {
      const hex = id.toString(16).padStart(16, "0");
      const frame = got.get(`re:big ${i}@${hex}`);
      assert.ok(frame !== undefined, `answer ${i}: ${[...got.keys()]}`);
      assert.equal(
        new DataView(frame.buffer, frame.byteOffset).getBigUint64(0, false),
        id,
        `id ${hex}`,
      );
    });
    raw.transport.close();
    await server.close();
  });
}
