// The application hooks of a server, over real sockets: error responses
// (onHandlerError), connection hooks and per-connection state, why a
// connection closed, and forced or bounded closes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Server, type ServerOptions } from "../src/server.ts";
import { Client } from "../src/client.ts";
import { encodeFrame } from "../src/frame_encoder.ts";
import type { CloseReason, RequestContext } from "../src/handler.ts";
import type { Network, Transport } from "../src/transport.ts";
import { availableNetworks } from "./_runtime.ts";
import { RawConnection, str, text, waitFor } from "./_helpers.ts";

const [[networkName, network]] = availableNetworks();

async function start<State = Record<string, unknown>>(
  options: ServerOptions<State>,
): Promise<{ server: Server<State>; port: number }> {
  const server = new Server<State>({ onError: () => {}, ...options });
  const addr = await server.listen(network, { host: "127.0.0.1", port: 0 });
  return { server, port: addr.port };
}

function dial(port: number, net: Network = network): Promise<Client> {
  return Client.dial(() => net.connect({ host: "127.0.0.1", port }));
}

/** Answers "ok:<request>", fails on "throw", "reject" and "null". */
function picky(request: Uint8Array): Uint8Array | Promise<Uint8Array> {
  const s = str(request);
  if (s === "throw") throw new Error("thrown");
  if (s === "reject") return Promise.reject(new Error("rejected"));
  if (s === "null") return null as unknown as Uint8Array;
  if (s === "slow") {
    return new Promise((resolve) =>
      setTimeout(() => resolve(text("ok:slow")), 20)
    );
  }
  return text(`ok:${s}`);
}

test(`${networkName}: onHandlerError answers a failed request and the connection goes on in order`, async () => {
  const seen: string[] = [];
  const { server, port } = await start({
    handler: picky,
    onHandlerError: (error, request) => {
      seen.push(`${str(request)}: ${(error as Error).message}`);
      return text(`error:${(error as Error).message}`);
    },
  });
  const client = await dial(port);
  try {
    const requests = ["a", "throw", "slow", "reject", "b", "null", "c"];
    const answers = await Promise.all(
      requests.map((r) => client.request(text(r))),
    );
    assert.deepEqual(answers.map(str), [
      "ok:a",
      "error:thrown",
      "ok:slow",
      "error:rejected",
      "ok:b",
      "error:Cannot send response: handler returned null, not a Uint8Array",
      "ok:c",
    ]);
    assert.equal(seen.length, 3);
    assert.equal(server.stats().handlerErrors, 3);
    assert.equal(str(await client.request(text("after"))), "ok:after");
  } finally {
    await client.close();
    await server.close();
  }
});

test(`${networkName}: onHandlerError may answer with a promise, or return undefined to close`, async () => {
  const { server, port } = await start({
    handler: picky,
    onHandlerError: (error, request) =>
      str(request) === "throw"
        ? Promise.resolve(text(`later:${(error as Error).message}`))
        : undefined,
  });
  const client = await dial(port);
  try {
    assert.equal(str(await client.request(text("throw"))), "later:thrown");
    const answers = await Promise.allSettled(
      ["a", "reject", "b"].map((r) => client.request(text(r))),
    );
    assert.equal(answers[0].status, "fulfilled");
    assert.equal(answers[1].status, "rejected");
    assert.equal(answers[2].status, "rejected");
  } finally {
    await client.close();
    await server.close();
  }
});

test(`${networkName}: without onHandlerError a failed request closes the connection after the answers before it`, async () => {
  const errors: unknown[] = [];
  const { server, port } = await start({
    handler: picky,
    onError: (error) => errors.push(error),
  });
  const client = await dial(port);
  try {
    const answers = await Promise.allSettled(
      ["a", "throw", "b"].map((r) => client.request(text(r))),
    );
    assert.equal(answers[0].status, "fulfilled");
    assert.equal(answers[1].status, "rejected");
    assert.equal(answers[2].status, "rejected");
    assert.equal((errors[0] as Error).message, "thrown");
  } finally {
    await client.close();
    await server.close();
  }
});

test(`${networkName}: an onHandlerError that throws closes the connection and is reported`, async () => {
  const errors: unknown[] = [];
  const { server, port } = await start({
    handler: picky,
    onHandlerError: () => {
      throw new Error("hook failed");
    },
    onError: (error) => errors.push(error),
  });
  const client = await dial(port);
  try {
    await assert.rejects(client.request(text("throw")));
    assert.equal((errors[0] as Error).message, "hook failed");
  } finally {
    await client.close();
    await server.close();
  }
});

test(`${networkName}: onConnection sets per-connection state the handler reads; onClose says why`, async () => {
  interface Session {
    name: string;
    requests: number;
  }
  const closes: Array<[string, CloseReason]> = [];
  let next = 0;
  const { server, port } = await start<Session>({
    onConnection: (context) => {
      context.state.name = `session-${++next}`;
      context.state.requests = 0;
    },
    handler: (_request, context) => {
      context.state.requests++;
      return text(`${context.state.name}#${context.state.requests}`);
    },
    onClose: (context, reason) => closes.push([context.state.name, reason]),
  });
  const first = await dial(port);
  const second = await dial(port);
  try {
    assert.equal(str(await first.request(text("x"))), "session-1#1");
    assert.equal(str(await second.request(text("x"))), "session-2#1");
    assert.equal(str(await first.request(text("x"))), "session-1#2");
    await first.close();
    await waitFor(() => closes.length === 1, "onClose for the first");
    assert.deepEqual(closes, [["session-1", "peer"]]);
  } finally {
    await server.close();
    await second.close();
  }
  assert.deepEqual(closes[1], ["session-2", "shutdown"]);
});

test(`${networkName}: onClose reasons: protocol, handler, timeout`, async () => {
  const reasons: Array<[CloseReason, string]> = [];
  const { server, port } = await start({
    maxFrameSize: 16,
    idleTimeout: 100,
    handler: picky,
    onClose: (_context, reason, error) =>
      reasons.push([reason, (error as Error | undefined)?.name ?? "-"]),
  });
  try {
    const big = await RawConnection.open(network, port);
    big.write(encodeFrame(new Uint8Array(17)));
    await big.waitClosed();
    const failing = await RawConnection.open(network, port);
    failing.write(encodeFrame(text("throw")));
    await failing.waitClosed();
    const idle = await RawConnection.open(network, port);
    await idle.waitClosed();
    await waitFor(() => reasons.length === 3, "three onClose calls");
    assert.deepEqual(reasons, [
      ["protocol", "FrameTooLargeError"],
      ["handler", "Error"],
      ["timeout", "ConnectionTimeoutError"],
    ]);
  } finally {
    await server.close();
  }
});

test(`${networkName}: an onConnection that throws closes that connection only`, async () => {
  const errors: unknown[] = [];
  const reasons: CloseReason[] = [];
  let calls = 0;
  const { server, port } = await start({
    onConnection: () => {
      if (++calls === 1) throw new Error("not you");
    },
    onClose: (_context, reason) => reasons.push(reason),
    onError: (error) => errors.push(error),
  });
  try {
    const refused = await RawConnection.open(network, port);
    await refused.waitClosed();
    const client = await dial(port);
    assert.equal(str(await client.request(text("hi"))), "hi");
    await client.close();
    await waitFor(() => reasons.length === 2, "two onClose calls");
    assert.deepEqual(reasons, ["handler", "peer"]);
    assert.equal((errors[0] as Error).message, "not you");
  } finally {
    await server.close();
  }
});

test(`${networkName}: close({ force: true }) closes at once, with a handler that never settles`, async () => {
  const reasons: CloseReason[] = [];
  const { server, port } = await start({
    closeTimeout: 600_000,
    handler: () => new Promise<Uint8Array>(() => {}),
    onClose: (_context, reason) => reasons.push(reason),
  });
  const client = await dial(port);
  // Settled into a value at once: the rejection is not left unhandled.
  const pending = client.request(text("never")).then(
    () => "answered",
    (error: Error) => error.name,
  );
  await waitFor(() => server.stats().framesIn === 1, "the request to arrive");
  const graceful = server.close(); // would wait for the handler
  await server.close({ force: true });
  await graceful;
  assert.equal(await pending, "ConnectionClosedError");
  assert.deepEqual(reasons, ["shutdown"]);
  await client.close();
});

/** A peer that never closes its side, even after the server's FIN. */
async function stubbornPeer(port: number): Promise<Transport> {
  const transport: Transport = await network.connect({
    host: "127.0.0.1",
    port,
  });
  transport.start({
    data: () => true,
    end: () => {}, // keeps its side open
    drain: () => {},
    closed: () => {},
  });
  transport.write(encodeFrame(text("hello")));
  return transport;
}

test(`${networkName}: close({ timeout }) bounds the wait for a peer that keeps its side open`, async () => {
  const { server, port } = await start({ closeTimeout: 600_000 });
  const peer = await stubbornPeer(port);
  await waitFor(() => server.stats().framesOut === 1, "the answer");
  // Without the timeout this would wait the 10 minutes of closeTimeout.
  await server.close({ timeout: 50 });
  assert.equal(server.stats().connections, 0);
  peer.close();
});

test(`${networkName}: bytesIn and bytesOut both count frame headers`, async () => {
  const { server, port } = await start({ handler: (r) => r });
  const client = await dial(port);
  await Promise.all(
    [1, 10, 100].map((n) => client.request(new Uint8Array(n))),
  );
  await client.close();
  await server.close();
  const stats = server.stats();
  assert.equal(stats.bytesIn, 3 * 4 + 111);
  assert.equal(stats.bytesOut, stats.bytesIn);
});

test("a server's context is typed by its State and starts as an empty object", async () => {
  let seen: RequestContext<{ hits?: number }> | null = null;
  const { server, port } = await start<{ hits?: number }>({
    handler: (request, context) => {
      seen = context;
      return request;
    },
  });
  const client = await dial(port);
  await client.request(text("x"));
  await client.close();
  await server.close();
  assert.deepEqual(seen!.state, {});
});
