// webSocketTransport(), Client.fromWebSocket() and Server.serveWebSocket():
// unit tests over an in-memory pair of fake WebSockets, on every runtime,
// then a real WebSocket server on this runtime (Deno: Deno.serve with
// Deno.upgradeWebSocket; Bun: Bun.serve's websocket handlers through a small
// adapter; Node: the npm ws package's WebSocketServer) with a framewire
// client pipelining over a real socket.
import { test } from "node:test";
import assert from "node:assert/strict";
import { WebSocket as WsWebSocket, WebSocketServer } from "ws";
import { Server } from "../src/server.ts";
import { Client } from "../src/client.ts";
import {
  ConnectError,
  ConnectionClosedError,
  FrameTooLargeError,
  ProtocolError,
} from "../src/errors.ts";
import { encodeFrame, encodeFrames } from "../src/frame_encoder.ts";
import type { FrameFormatOption } from "../src/frame_format.ts";
import type { NetAddr, Transport } from "../src/transport.ts";
import {
  type WebSocketLike,
  webSocketTransport,
} from "../src/websocket_transport.ts";
import { concat, patternBytes, sameBytes, text, waitFor } from "./_helpers.ts";
import { runtime } from "./_runtime.ts";

// deno-lint-ignore no-explicit-any
type Listener = (event: any) => void;

/** Event listeners by type, for the stand-ins of WebSocketLike below. */
class EventListeners {
  #byType = new Map<string, Listener[]>();
  add(type: string, listener: Listener): void {
    const list = this.#byType.get(type) ?? [];
    list.push(listener);
    this.#byType.set(type, list);
  }
  dispatch(type: string, event: unknown): void {
    for (const listener of this.#byType.get(type) ?? []) listener(event);
  }
}

interface CloseEvent {
  code: number;
  reason: string;
  wasClean: boolean;
}

type Item =
  | { kind: "message"; data: ArrayBuffer | string; size: number }
  | { kind: "close"; code: number; reason: string };

/**
 * One end of an in-memory WebSocket connection, with the WHATWG behaviour
 * the transport relies on: messages in order, `bufferedAmount` until the
 * peer has them, and the closing handshake answered by the peer at once.
 * `hold` keeps what is sent from leaving until `release()`.
 */
class FakeWebSocket implements WebSocketLike {
  binaryType = "blob";
  readyState = 1;
  bufferedAmount = 0;
  peer!: FakeWebSocket;
  hold = false;
  /** Throw for the codes a browser refuses (not 1000, not 3000-4999). */
  browserCodes = false;
  readonly closeCalls: Array<[number | undefined, string | undefined]> = [];
  closeEvent: CloseEvent | null = null;
  #outbox: Item[] = [];
  #scheduled = false;
  readonly #listeners = new EventListeners();

  static pair(): [FakeWebSocket, FakeWebSocket] {
    const a = new FakeWebSocket();
    const b = new FakeWebSocket();
    a.peer = b;
    b.peer = a;
    return [a, b];
  }

  addEventListener(type: string, listener: Listener): void {
    this.#listeners.add(type, listener);
  }

  dispatch(type: string, event: unknown): void {
    this.#listeners.dispatch(type, event);
  }

  send(data: Uint8Array): void {
    if (this.readyState !== 1) return;
    const copy = data.slice().buffer;
    this.bufferedAmount += data.byteLength;
    this.#queue({ kind: "message", data: copy, size: data.byteLength });
  }

  /** Sends a text message to the peer. */
  sendText(data: string): void {
    this.#queue({ kind: "message", data, size: 0 });
  }

  close(code?: number, reason?: string): void {
    if (
      this.browserCodes && code !== undefined && code !== 1000 &&
      !(code >= 3000 && code <= 4999)
    ) {
      throw new DOMException("close code not allowed", "InvalidAccessError");
    }
    this.closeCalls.push([code, reason]);
    if (this.readyState !== 1) return;
    this.readyState = 2;
    this.#queue({ kind: "close", code: code ?? 1005, reason: reason ?? "" });
  }

  release(): void {
    this.hold = false;
    this.#schedule();
  }

  #queue(item: Item): void {
    this.#outbox.push(item);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled || this.hold) return;
    this.#scheduled = true;
    setTimeout(() => {
      this.#scheduled = false;
      if (this.hold) return;
      const items = this.#outbox.splice(0);
      for (const item of items) {
        if (item.kind === "message") {
          this.bufferedAmount -= item.size;
          this.peer.#receiveMessage(item.data);
        } else {
          this.peer.#receiveClose(item.code, item.reason);
        }
      }
    }, 0);
  }

  #receiveMessage(data: ArrayBuffer | string): void {
    if (this.readyState !== 1 && this.readyState !== 2) return;
    this.dispatch("message", { data });
  }

  #receiveClose(code: number, reason: string): void {
    if (this.readyState === 1) {
      // Answer the handshake at once, as a WHATWG WebSocket does.
      this.readyState = 2;
      this.#queue({ kind: "close", code, reason });
    }
    this.#closed(code, reason);
  }

  #closed(code: number, reason: string): void {
    this.readyState = 3;
    this.closeEvent = { code, reason, wasClean: true };
    this.dispatch("close", this.closeEvent);
  }
}

/** A transport started with events that record everything. */
function recorded(transport: Transport) {
  const seen = {
    chunks: [] as Uint8Array[],
    drains: 0,
    ended: false,
    closed: false,
    error: undefined as unknown,
  };
  transport.start({
    data: (chunk) => {
      seen.chunks.push(chunk.slice());
      return true;
    },
    end: () => (seen.ended = true),
    drain: () => seen.drains++,
    closed: (error) => {
      seen.closed = true;
      seen.error = error;
    },
  });
  return seen;
}

/** Collects the binary messages a fake socket receives. */
function messagesOf(socket: FakeWebSocket): Uint8Array[] {
  const messages: Uint8Array[] = [];
  socket.addEventListener("message", (event) => {
    if (typeof event.data !== "string") {
      messages.push(new Uint8Array(event.data));
    }
  });
  return messages;
}

test("websocket: each binary message becomes one frame of the format", async () => {
  const cases: Array<[FrameFormatOption, Uint8Array[]]> = [
    ["u32le", [text("a"), new Uint8Array(0), patternBytes(70_000, 1)]],
    ["u32le-id", [text("\x01\0\0\0x"), text("\x02\0\0\0yz")]],
    ["varint", [patternBytes(300, 2), text("q")]],
  ];
  for (const [format, payloads] of cases) {
    const [local, remote] = FakeWebSocket.pair();
    const seen = recorded(webSocketTransport(local, { format }));
    assert.equal(local.binaryType, "arraybuffer");
    for (const payload of payloads) remote.send(payload);
    await waitFor(() => seen.chunks.length === payloads.length, "frames");
    assert.ok(
      sameBytes(concat(seen.chunks), encodeFrames(payloads, { format })),
      `format ${String(format)}`,
    );
  }
});

test("websocket: a format that keeps its header takes each message as a whole frame", async () => {
  const format = {
    lengthFieldLength: 2,
    byteOrder: "big",
    initialBytesToStrip: 0,
  } as const;
  const [local, remote] = FakeWebSocket.pair();
  const seen = recorded(webSocketTransport(local, { format }));
  const frame = new Uint8Array([0, 3, 7, 8, 9]);
  remote.send(frame);
  await waitFor(() => seen.chunks.length === 1, "the frame");
  assert.deepEqual(seen.chunks[0], frame);
  remote.send(new Uint8Array([0, 9, 1])); // declares 9 bytes, has 1
  await waitFor(() => seen.closed, "the refusal");
  assert.ok(seen.error instanceof ProtocolError);
  assert.match((seen.error as Error).message, /^Cannot read message: /);
  assert.deepEqual(local.closeCalls.map(([code]) => code), [1002]);
});

test("websocket: frames written are sent one message each, however the writes cut them", async () => {
  const [local, remote] = FakeWebSocket.pair();
  const messages = messagesOf(remote);
  const transport = webSocketTransport(local, { format: "u32le-id" });
  recorded(transport);
  const payloads = Array.from(
    { length: 50 },
    (_, i) => patternBytes(4 + i * 37, i),
  );
  const wire = encodeFrames(payloads, { format: "u32le-id" });
  // Many frames in one write, then the same frames cut at every 7th byte
  // (headers split too), then one byte at a time.
  transport.write(wire);
  for (let at = 0; at < wire.length; at += 7) {
    transport.write(wire.slice(at, at + 7));
  }
  for (let at = 0; at < 200; at++) transport.write(wire.slice(at, at + 1));
  // Frames of 8, 45 and 82 bytes end within the first 200; the 4th does not.
  await waitFor(() => messages.length === 103, "the messages");
  for (let i = 0; i < 103; i++) {
    assert.ok(sameBytes(messages[i], payloads[i % 50]), `message ${i}`);
  }
});

test("websocket: a text message closes with 1003 and a ProtocolError", async () => {
  const [local, remote] = FakeWebSocket.pair();
  const seen = recorded(webSocketTransport(local));
  remote.sendText("hello");
  await waitFor(() => seen.closed, "the close");
  assert.ok(seen.error instanceof ProtocolError);
  assert.equal(
    (seen.error as Error).message,
    "Cannot read message: text messages are not accepted, only binary ones",
  );
  assert.equal(local.closeCalls[0][0], 1003);
  await waitFor(() => remote.closeEvent !== null, "the peer's close event");
  assert.equal(remote.closeEvent!.code, 1003);
  assert.equal(seen.chunks.length, 0);
});

test("websocket: a message over maxFrameSize closes with 1009", async () => {
  const [local, remote] = FakeWebSocket.pair();
  const seen = recorded(webSocketTransport(local, { maxFrameSize: 10 }));
  remote.send(new Uint8Array(10));
  remote.send(new Uint8Array(11));
  await waitFor(() => seen.closed, "the close");
  assert.equal(seen.chunks.length, 1);
  assert.ok(seen.error instanceof FrameTooLargeError);
  assert.equal((seen.error as FrameTooLargeError).length, 11);
  assert.equal(local.closeCalls[0][0], 1009);
  await waitFor(() => remote.closeEvent !== null, "the peer's close event");
  assert.equal(remote.closeEvent!.code, 1009);
});

test("websocket: a browser's refusal of a close code falls back to 1000", async () => {
  const [local, remote] = FakeWebSocket.pair();
  local.browserCodes = true;
  const seen = recorded(webSocketTransport(local, { maxFrameSize: 1 }));
  remote.send(new Uint8Array(2));
  await waitFor(() => seen.closed, "the close");
  assert.deepEqual(local.closeCalls.map(([code]) => code), [1000]);
  assert.match(local.closeCalls[0][1]!, /exceeds maxFrameSize 1/);
});

test("websocket: bufferedAmount is the socket's, and drain comes once it is sent", async () => {
  const [local, remote] = FakeWebSocket.pair();
  const messages = messagesOf(remote);
  const transport = webSocketTransport(local);
  const seen = recorded(transport);
  local.hold = true;
  transport.write(encodeFrames([patternBytes(1000), patternBytes(500)]));
  transport.write(encodeFrame(patternBytes(300)).subarray(0, 100));
  // 1500 bytes in the socket, 100 of an unfinished frame in the transport.
  assert.equal(transport.bufferedAmount, 1600);
  assert.equal(seen.drains, 0);
  local.release();
  await waitFor(() => seen.drains === 1, "drain");
  assert.equal(messages.length, 2);
  assert.equal(transport.bufferedAmount, 100);
});

test("websocket: closeWrite() sends what is queued, then closes with 1000", async () => {
  const [local, remote] = FakeWebSocket.pair();
  const messages = messagesOf(remote);
  const transport = webSocketTransport(local);
  const seen = recorded(transport);
  local.hold = true;
  transport.write(encodeFrames([text("one"), text("two")]));
  transport.closeWrite();
  assert.deepEqual(local.closeCalls, []); // not while messages are queued
  local.release();
  await waitFor(() => seen.closed, "the close");
  assert.equal(seen.error, undefined);
  assert.equal(seen.ended, false); // this end closed first
  assert.deepEqual(local.closeCalls, [[1000, ""]]);
  assert.deepEqual(messages.map((m) => new TextDecoder().decode(m)), [
    "one",
    "two",
  ]);
  assert.equal(remote.closeEvent!.code, 1000);
});

test("websocket: the peer's close ends the stream, and close() is final", async () => {
  const [local, remote] = FakeWebSocket.pair();
  const seen = recorded(webSocketTransport(local));
  remote.send(text("last"));
  remote.close(1000);
  await waitFor(() => seen.closed, "the close");
  assert.equal(seen.chunks.length, 1);
  assert.equal(seen.ended, true);
  assert.equal(seen.error, undefined);

  const [other, otherPeer] = FakeWebSocket.pair();
  const transport = webSocketTransport(other);
  const seen2 = recorded(transport);
  transport.close();
  assert.equal(seen2.closed, true);
  assert.deepEqual(other.closeCalls, [[1000, ""]]);
  await waitFor(() => otherPeer.closeEvent !== null, "the peer's close");
  transport.write(encodeFrame(text("late"))); // ignored
  assert.equal(other.bufferedAmount, 0);
});

test("websocket: an abnormal close fails the transport with its code", async () => {
  const [local, remote] = FakeWebSocket.pair();
  const seen = recorded(webSocketTransport(local));
  remote.close(4321, "bye");
  await waitFor(() => seen.closed, "the close");
  assert.ok(seen.error instanceof ConnectionClosedError);
  assert.equal(
    (seen.error as Error).message,
    "Cannot read message: the peer closed the WebSocket with code 4321 (bye)",
  );
});

test("websocket: messages wait while paused, up to maxPausedBytes", async () => {
  const [local, remote] = FakeWebSocket.pair();
  const transport = webSocketTransport(local, { maxPausedBytes: 30 });
  const seen = recorded(transport);
  transport.pause();
  remote.send(text("first"));
  remote.send(text("second"));
  await waitFor(() => remote.bufferedAmount === 0, "the messages to arrive");
  assert.equal(seen.chunks.length, 0);
  transport.resume();
  assert.deepEqual(
    seen.chunks,
    [encodeFrame(text("first")), encodeFrame(text("second"))],
  );
  transport.pause();
  remote.send(new Uint8Array(20));
  remote.send(new Uint8Array(20)); // 48 bytes of frames held: over 30
  await waitFor(() => seen.closed, "the close");
  assert.ok(seen.error instanceof ProtocolError);
  assert.deepEqual(local.closeCalls.map(([code]) => code), [1008]);
});

test("websocket: bad options throw before the socket is touched", () => {
  const [local] = FakeWebSocket.pair();
  assert.throws(
    () => webSocketTransport(local, { maxFrameSize: -1 }),
    RangeError,
  );
  assert.throws(
    () => webSocketTransport(local, { maxPausedBytes: 1.5 }),
    TypeError,
  );
  assert.throws(
    () =>
      webSocketTransport(local, {
        format: { lengthFieldOffset: 2, lengthFieldLength: 1 },
      }),
    RangeError,
  );
  assert.equal(local.binaryType, "blob");
});

/** Pipelines 1,000 requests, one of 1 MiB, and checks every answer. */
async function pipeline(client: Client, withId: boolean): Promise<void> {
  const requests = Array.from(
    { length: 1000 },
    (_, i) =>
      i === 500
        ? patternBytes(1024 * 1024, i)
        : patternBytes((withId ? 4 : 0) + (i % 300), i),
  );
  const responses = await Promise.all(requests.map((r) => client.request(r)));
  responses.forEach((response, i) => {
    // With ids, the client wrote its own id over the first 4 bytes it sent.
    const offset = withId ? 4 : 0;
    assert.ok(
      sameBytes(response.subarray(offset), requests[i].subarray(offset)),
      `response ${i}`,
    );
  });
}

for (const format of ["u32le", "u32le-id"] as const) {
  test(`websocket: Server.serveWebSocket and Client.fromWebSocket over fake sockets, ${format}`, async () => {
    const [serverSide, clientSide] = FakeWebSocket.pair();
    const server = new Server({ format });
    server.serveWebSocket(serverSide);
    const client = await Client.fromWebSocket(clientSide, { format });
    await pipeline(client, format === "u32le-id");
    assert.equal(server.stats().framesIn, 1000);
    await client.close();
    assert.deepEqual(clientSide.closeCalls, [[1000, ""]]);
    await server.close();
    assert.equal(server.stats().connections, 0);
  });
}

test("websocket: a server's graceful close answers what it received, then closes with 1001", async () => {
  const [serverSide, clientSide] = FakeWebSocket.pair();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const seen: NetAddr[] = [];
  const server = new Server({
    handler: async (request, context) => {
      seen.push(context.remoteAddr);
      await gate;
      return request;
    },
  });
  const addr: NetAddr = {
    transport: "websocket",
    hostname: "10.1.2.3",
    port: 7,
  };
  server.serveWebSocket(serverSide, addr);
  const client = await Client.fromWebSocket(clientSide);
  const answer = client.request(text("answered"));
  await waitFor(() => server.stats().framesIn === 1, "the request");
  const closed = server.close();
  release();
  assert.deepEqual(await answer, text("answered"));
  await closed;
  assert.deepEqual(serverSide.closeCalls, [[1001, "going away"]]);
  assert.deepEqual(seen, [addr]);
  await assert.rejects(client.request(text("late")), ConnectionClosedError);
  await client.close();
});

test('websocket: a drain notice travels as close 1001 "drain notice"', async () => {
  const [serverSide, clientSide] = FakeWebSocket.pair();
  const server = new Server({ format: "u32le-id", drainNotice: true });
  server.serveWebSocket(serverSide);
  const client = await Client.fromWebSocket(clientSide, {
    format: "u32le-id",
  });
  assert.equal(
    (await client.request(text("....x"))).length,
    5,
  );
  // A request the server does not process: it is closing when it arrives.
  const closed = server.close();
  const unread = client.request(text("....y")).then(() => null, (e) => e);
  await closed;
  const error = await unread;
  assert.ok(error instanceof ConnectionClosedError);
  assert.deepEqual(serverSide.closeCalls, [[1001, "drain notice"]]);
  assert.equal(error.sent, false);
  await client.close();
});

test("websocket: Client.fromWebSocket rejects a socket that closes before it opens", async () => {
  const [socket] = FakeWebSocket.pair();
  socket.readyState = 0;
  const client = Client.fromWebSocket(socket);
  socket.readyState = 3;
  socket.dispatch("close", { code: 1006, reason: "", wasClean: false });
  const error = await client.then(() => null, (e) => e);
  assert.ok(error instanceof ConnectError);
  assert.equal(error.code, "EUNKNOWN");
  await assert.rejects(
    Client.fromWebSocket(42 as unknown as WebSocketLike),
    TypeError,
  );
  await assert.rejects(
    Client.fromWebSocket(socket, { maxInFlight: -1 }),
    RangeError,
  );
});

// Real sockets.

interface RealServer {
  url: string;
  close(): Promise<void>;
}

/** Starts a WebSocket server that hands each accepted socket to `onSocket`. */
type Serve = (
  onSocket: (socket: WebSocketLike) => void,
) => Promise<RealServer>;

/** Deno.serve with Deno.upgradeWebSocket. */
const denoServe: Serve = (onSocket) => {
  const deno = (globalThis as unknown as {
    Deno: {
      serve(
        options: { hostname: string; port: number; onListen(): void },
        handler: (request: Request) => Response,
      ): { addr: { port: number }; shutdown(): Promise<void> };
      upgradeWebSocket(request: Request): {
        socket: WebSocketLike;
        response: Response;
      };
    };
  }).Deno;
  const http = deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => {
      const { socket, response } = deno.upgradeWebSocket(request);
      onSocket(socket);
      return response;
    },
  );
  return Promise.resolve({
    url: `ws://127.0.0.1:${http.addr.port}/`,
    close: () => http.shutdown(),
  });
};

/** Bun's ServerWebSocket, as much of it as the adapter below uses. */
interface BunServerWebSocket {
  readonly readyState: number;
  readonly data: BunSocketAdapter;
  binaryType: string;
  send(data: Uint8Array): number;
  close(code?: number, reason?: string): void;
  getBufferedAmount(): number;
}

/**
 * Bun's server-side socket reports to Bun.serve's `websocket` handlers, not
 * to listeners: this adapter forwards them, making a WebSocketLike.
 */
class BunSocketAdapter implements WebSocketLike {
  #socket: BunServerWebSocket | null = null;
  readonly #listeners = new EventListeners();

  attach(socket: BunServerWebSocket): void {
    this.#socket = socket;
  }
  get binaryType(): string {
    return this.#socket!.binaryType;
  }
  set binaryType(value: string) {
    this.#socket!.binaryType = value;
  }
  get readyState(): number {
    return this.#socket!.readyState;
  }
  get bufferedAmount(): number {
    return this.#socket!.getBufferedAmount();
  }
  send(data: Uint8Array): void {
    this.#socket!.send(data);
  }
  close(code?: number, reason?: string): void {
    this.#socket!.close(code, reason);
  }
  addEventListener(type: string, listener: Listener): void {
    this.#listeners.add(type, listener);
  }
  dispatch(type: string, event: unknown): void {
    this.#listeners.dispatch(type, event);
  }
}

/** Bun.serve with its websocket handlers, through BunSocketAdapter. */
const bunServe: Serve = (onSocket) => {
  const bun = (globalThis as unknown as {
    Bun: {
      serve(options: unknown): { port: number; stop(force?: boolean): void };
    };
  }).Bun;
  const http = bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(
      request: Request,
      srv: { upgrade(r: Request, o: { data: unknown }): boolean },
    ) {
      if (srv.upgrade(request, { data: new BunSocketAdapter() })) return;
      return new Response("WebSocket only", { status: 400 });
    },
    websocket: {
      maxPayloadLength: 64 * 1024 * 1024,
      open(socket: BunServerWebSocket) {
        socket.data.attach(socket);
        onSocket(socket.data);
      },
      message(socket: BunServerWebSocket, message: string | Uint8Array) {
        socket.data.dispatch("message", { data: message });
      },
      close(socket: BunServerWebSocket, code: number, reason: string) {
        socket.data.dispatch("close", { code, reason, wasClean: true });
      },
    },
  });
  return Promise.resolve({
    url: `ws://127.0.0.1:${http.port}/`,
    close: () => Promise.resolve(http.stop(true)),
  });
};

/** The npm ws package's WebSocketServer. */
const wsServe: Serve = async (onSocket) => {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  wss.on("connection", (socket) => onSocket(socket));
  await new Promise<void>((resolve) => wss.once("listening", resolve));
  const { port } = wss.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}/`,
    close: () => new Promise<void>((resolve) => wss.close(() => resolve())),
  };
};

// The ws package's server runs on every runtime, beside the runtime's own.
const servers: Array<[string, Serve]> = [
  ...(runtime === "deno"
    ? [["Deno.serve", denoServe] as [string, Serve]]
    : runtime === "bun"
    ? [["Bun.serve", bunServe] as [string, Serve]]
    : []),
  ["ws WebSocketServer", wsServe],
];

/** The client's socket: a URL where the runtime has a WebSocket (not Node 20). */
function clientTarget(url: string): string | WebSocketLike {
  const hasWebSocket =
    typeof (globalThis as { WebSocket?: unknown }).WebSocket === "function";
  return hasWebSocket ? url : new WsWebSocket(url);
}

for (const [name, serve] of servers) {
  for (const format of ["u32le", "u32le-id"] as const) {
    test(`websocket: real sockets, ${name}, ${format}: 1,000 pipelined requests with one of 1 MiB`, async () => {
      const server = new Server({ format });
      const http = await serve((socket) => server.serveWebSocket(socket));
      const client = await Client.fromWebSocket(clientTarget(http.url), {
        format,
      });
      assert.equal(client.remoteAddr.transport, "websocket");
      await pipeline(client, format === "u32le-id");
      await client.close();
      await server.close();
      assert.equal(server.stats().framesIn, 1000);
      await http.close();
    });
  }
}

test("websocket: real sockets, a ws client (as on Node 20) to a ws server, u32le-id", async () => {
  const server = new Server({ format: "u32le-id" });
  const http = await wsServe((socket) => server.serveWebSocket(socket));
  const client = await Client.fromWebSocket(new WsWebSocket(http.url), {
    format: "u32le-id",
  });
  await pipeline(client, true);
  await client.close();
  await server.close();
  await http.close();
});

/** A plain WebSocket client (the runtime's, or ws's on Node 20), open. */
async function rawSocket(url: string) {
  const target = clientTarget(url);
  const socket: WebSocketLike = typeof target === "string"
    ? new (globalThis as unknown as {
      WebSocket: new (url: string) => WebSocketLike;
    }).WebSocket(url)
    : target;
  socket.binaryType = "arraybuffer";
  const messages: Uint8Array[] = [];
  socket.addEventListener("message", (event) => {
    messages.push(new Uint8Array(event.data));
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.addEventListener(
      "close",
      (event) => resolve({ code: event.code, reason: event.reason }),
    )
  );
  await new Promise((resolve, reject) => {
    socket.addEventListener("open", resolve);
    socket.addEventListener("error", reject);
  });
  return { socket, messages, closed };
}

for (const [name, serve] of servers) {
  test(`websocket: real sockets, ${name}: text closes with 1003, oversize with 1009, a graceful close with 1001`, async () => {
    const server = new Server({ maxFrameSize: 1024 });
    const http = await serve((socket) => server.serveWebSocket(socket));
    const texting = await rawSocket(http.url);
    (texting.socket as unknown as { send(data: string): void }).send("hi");
    assert.equal((await texting.closed).code, 1003);
    const big = await rawSocket(http.url);
    big.socket.send(new Uint8Array(1025));
    assert.equal((await big.closed).code, 1009);
    const fine = await rawSocket(http.url);
    fine.socket.send(text("hello"));
    await waitFor(() => fine.messages.length === 1, "the answer");
    assert.deepEqual(fine.messages, [text("hello")]);
    await server.close();
    assert.deepEqual(await fine.closed, { code: 1001, reason: "going away" });
    assert.equal(server.stats().connections, 0);
    await http.close();
  });

  // A client that sends without reading: the server pauses (backpressure).
  // A ws socket is paused for real, so the peer is held back by TCP and
  // gets every answer once it reads; the others keep what arrives while
  // paused, up to maxPausedBytes, then close with 1008 (which the client
  // may not see: a server that closes its TCP connection while the client
  // still floods it resets it, and the client reports 1006).
  const pausable = name.startsWith("ws");
  test(
    `websocket: real sockets, ${name}: a client that does not read ${
      pausable
        ? "is held back by TCP"
        : "is closed with 1008 past maxPausedBytes"
    }`,
    async () => {
      const closeErrors: unknown[] = [];
      const server = new Server({
        highWaterMark: 64 * 1024,
        onClose: (_context, _reason, error) => closeErrors.push(error),
      });
      const http = await serve((socket) =>
        server.serveConnection(
          webSocketTransport(socket, { maxPausedBytes: 1024 * 1024 }),
        )
      );
      const count = 800; // 50 MiB: more than the sockets' buffers hold
      const payloads = Array.from(
        { length: count },
        (_, i) => patternBytes(64 * 1024, i),
      );
      const ws = new WsWebSocket(http.url);
      await new Promise((resolve) => ws.once("open", resolve));
      ws.binaryType = "arraybuffer";
      const answers: Uint8Array[] = [];
      ws.on(
        "message",
        (data: ArrayBuffer) => answers.push(new Uint8Array(data)),
      );
      const closed = new Promise<number>((resolve) =>
        ws.once("close", (code: number) => resolve(code))
      );
      ws.pause();
      for (const payload of payloads) ws.send(payload);
      await waitFor(
        () => server.stats().backpressurePauses > 0,
        "the server to pause",
        30_000,
      );
      if (pausable) {
        assert.ok(server.stats().framesIn < count);
        ws.resume();
        await waitFor(() => answers.length === count, "every answer", 30_000);
        answers.forEach((answer, i) =>
          assert.ok(sameBytes(answer, payloads[i]), `answer ${i}`)
        );
        ws.close(1000);
        assert.equal(await closed, 1000);
      } else {
        ws.resume();
        assert.ok([1006, 1008].includes(await closed));
        assert.ok(answers.length < count);
        await waitFor(() => closeErrors.length === 1, "the server's close");
        assert.ok(closeErrors[0] instanceof ProtocolError);
        assert.match(
          (closeErrors[0] as Error).message,
          /^Cannot read message: \d+ bytes arrived while reading was paused, over maxPausedBytes 1048576$/,
        );
      }
      await server.close();
      await http.close();
    },
  );
}

test("websocket: Client.fromWebSocket rejects a refused connection with a ConnectError", async () => {
  // A port nothing listens on: bind one, note it, close it.
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise<void>((resolve) => wss.once("listening", resolve));
  const { port } = wss.address() as { port: number };
  await new Promise<void>((resolve) => wss.close(() => resolve()));
  const error = await Client.fromWebSocket(
    clientTarget(`ws://127.0.0.1:${port}/`),
  ).then(() => null, (e) => e);
  assert.ok(error instanceof ConnectError, String(error));
  assert.equal(error.code, "EUNKNOWN");
  assert.equal(error.address, `127.0.0.1:${port}`);
});

test("websocket: Client.fromWebSocket with a URL needs a global WebSocket", async () => {
  const global = globalThis as { WebSocket?: unknown };
  const saved = Object.getOwnPropertyDescriptor(global, "WebSocket");
  Object.defineProperty(global, "WebSocket", {
    value: undefined,
    configurable: true,
    writable: true,
  });
  try {
    await assert.rejects(
      Client.fromWebSocket("ws://127.0.0.1:1/"),
      (error: unknown) =>
        error instanceof TypeError &&
        error.message.startsWith(
          "Cannot connect: this runtime has no global WebSocket",
        ),
    );
  } finally {
    if (saved === undefined) delete global.WebSocket;
    else Object.defineProperty(global, "WebSocket", saved);
  }
});
