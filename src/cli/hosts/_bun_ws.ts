/**
 * The WebSocket gateway's listener on Bun: `Bun.serve` upgrades each
 * request, and its `websocket` handlers report each socket's messages,
 * closes and drains. Bun's `ServerWebSocket` is not a WHATWG `WebSocket`, so
 * each one is wrapped in a {@linkcode BunServerSocket} that forwards them as
 * the events a `WebSocket` sends.
 *
 * @module
 */
import type {
  HttpServerHandle,
  WebSocketListenOptions,
  WebSocketPeer,
} from "../host.ts";
import type { WebSocketLike } from "../../websocket_transport.ts";
import { upgradeRefusal } from "./_ws_upgrade.ts";

/** The part of Bun's `ServerWebSocket` used here. */
interface ServerWebSocket {
  data: { peer: WebSocketPeer; socket?: BunServerSocket };
  binaryType: string;
  getBufferedAmount(): number;
  sendBinary(data: Uint8Array): number;
  close(code?: number, reason?: string): void;
}

/** The part of `Bun.serve` used here. */
interface BunWebSocketServe {
  serve(options: {
    hostname: string;
    port: number;
    tls?: { cert: string; key: string };
    fetch(
      request: Request,
      server: {
        upgrade(request: Request, options: { data: unknown }): boolean;
        requestIP(request: Request): { address: string; port: number } | null;
      },
    ): Response | undefined;
    websocket: {
      open(ws: ServerWebSocket): void;
      message(ws: ServerWebSocket, message: string | Uint8Array): void;
      close(ws: ServerWebSocket, code: number, reason: string): void;
      drain(ws: ServerWebSocket): void;
      maxPayloadLength: number;
    };
  }): { hostname: string; port: number; stop(closeActive?: boolean): unknown };
}

type Listener = (event: unknown) => void;

/**
 * A Bun `ServerWebSocket` as a WHATWG-style socket: `message`, `close` and
 * `error` events from `Bun.serve`'s handlers.
 *
 * @example
 * ```ts ignore
 * const socket = new BunServerSocket(ws); // in websocket.open(ws)
 * ```
 */
export class BunServerSocket implements WebSocketLike {
  binaryType = "arraybuffer";
  readyState = 1;
  readonly #ws: ServerWebSocket;
  readonly #listeners = new Map<string, Listener[]>();

  constructor(ws: ServerWebSocket) {
    this.#ws = ws;
    ws.binaryType = "uint8array";
  }

  get bufferedAmount(): number {
    return this.#ws.getBufferedAmount();
  }

  send(data: Uint8Array): void {
    // -1: queued behind backpressure (drain follows); 0: the socket is closed.
    this.#ws.sendBinary(data);
  }

  close(code?: number, reason?: string): void {
    if (this.readyState >= 2) return;
    this.readyState = 2;
    this.#ws.close(code, reason);
  }

  addEventListener(type: string, listener: Listener): void {
    const listeners = this.#listeners.get(type);
    if (listeners === undefined) this.#listeners.set(type, [listener]);
    else listeners.push(listener);
  }

  /** Delivers an event of `type` to its listeners. */
  emit(type: string, event: unknown): void {
    if (type === "close") this.readyState = 3;
    for (const listener of this.#listeners.get(type) ?? []) listener(event);
  }
}

/**
 * Accepts WebSocket connections on `host:port` (`wss:` with `tls`) and
 * hands each socket to `accept` once it is open.
 *
 * @example
 * ```ts ignore
 * import { bunServeWebSockets } from "./_bun_ws.ts";
 *
 * const handle = await bunServeWebSockets(
 *   { host: "127.0.0.1", port: 0, maxMessageSize: 1024 },
 *   (socket) => socket.close(1000),
 * );
 * await handle.close();
 * ```
 */
export function bunServeWebSockets(
  options: WebSocketListenOptions,
  accept: (socket: WebSocketLike, peer: WebSocketPeer) => void,
): Promise<HttpServerHandle> {
  const runtime = (globalThis as unknown as { Bun: BunWebSocketServe }).Bun;
  try {
    const server = runtime.serve({
      hostname: options.host,
      port: options.port,
      ...(options.tls === undefined ? {} : { tls: options.tls }),
      fetch(request, bun) {
        const refusal = upgradeRefusal(request.headers, options.accepting);
        if (refusal !== null) return refusal;
        const ip = bun.requestIP(request);
        const peer: WebSocketPeer = {
          remoteAddr: {
            transport: "websocket",
            hostname: ip?.address ?? "",
            port: ip?.port ?? 0,
          },
          forwardedFor: request.headers.get("x-forwarded-for"),
        };
        if (bun.upgrade(request, { data: { peer } })) return undefined;
        return new Response("framewire: WebSocket upgrade failed\n", {
          status: 400,
        });
      },
      websocket: {
        open(ws) {
          const socket = new BunServerSocket(ws);
          ws.data.socket = socket;
          accept(socket, ws.data.peer);
        },
        message(ws, message) {
          ws.data.socket?.emit("message", { data: message });
        },
        close(ws, code, reason) {
          ws.data.socket?.emit("close", { code, reason, wasClean: true });
        },
        drain() {}, // the transport polls bufferedAmount
        maxPayloadLength: options.maxMessageSize,
      },
    });
    return Promise.resolve({
      hostname: server.hostname,
      port: server.port,
      close: async () => {
        await server.stop(false); // open sockets are the server's to close
      },
    });
  } catch (error) {
    return Promise.reject(error);
  }
}
