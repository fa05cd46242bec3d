/**
 * The WebSocket gateway's listener on Node: `node:http` (or `node:https`
 * with TLS) and the npm package `ws`, an optional dependency loaded only
 * when `serve --ws-port` is given. `ws`'s `WebSocket` is a WHATWG-style
 * socket that can also pause reading.
 *
 * @module
 */
import * as nodeHttp from "node:http";
import * as nodeHttps from "node:https";
import type {
  HttpServerHandle,
  WebSocketClass,
  WebSocketListenOptions,
  WebSocketPeer,
} from "../host.ts";
import type { WebSocketLike } from "../../websocket_transport.ts";
import { type ListeningServer, listenOn } from "./_node_http.ts";

/** The part of an incoming `http.IncomingMessage` used here. */
interface NodeRequest {
  headers: Record<string, string | string[] | undefined>;
  socket: { remoteAddress?: string; remotePort?: number };
}

/** The part of an `http.Server` used here. */
interface NodeServer extends ListeningServer {
  on(
    event: "request",
    listener: (
      request: NodeRequest,
      response: {
        writeHead(status: number, headers: Record<string, string>): void;
        end(body: string): void;
      },
    ) => void,
  ): void;
}

/** The part of `ws`'s `WebSocketServer` used here. */
interface WsServer {
  on(
    event: "connection",
    listener: (socket: WebSocketLike, request: NodeRequest) => void,
  ): void;
  close(): void;
}

/** The part of the `ws` module used here. */
interface WsModule {
  WebSocket: new (url: string) => WebSocketLike;
  WebSocketServer: new (options: {
    server: NodeServer;
    maxPayload?: number;
    verifyClient?: (
      info: unknown,
      done: (accept: boolean, status?: number, message?: string) => void,
    ) => void;
  }) => WsServer;
}

const createServer = (tls: WebSocketListenOptions["tls"]): NodeServer =>
  tls === undefined
    ? (nodeHttp as unknown as { createServer(): NodeServer }).createServer()
    : (nodeHttps as unknown as {
      createServer(options: { cert: string; key: string }): NodeServer;
    }).createServer(tls);

/** The `ws` module, or an error saying how to install it. */
async function loadWs(): Promise<WsModule> {
  try {
    const module = await import("ws") as unknown as
      & WsModule
      & { default?: WsModule };
    return module.WebSocketServer === undefined ? module.default! : module;
  } catch (error) {
    throw new Error(
      "Cannot serve WebSockets: the npm package ws is not installed (npm install ws)",
      { cause: error },
    );
  }
}

/**
 * Accepts WebSocket connections on `host:port` (`wss:` with `tls`) and
 * hands each socket to `accept` once it is open.
 *
 * @example
 * ```ts ignore
 * import { nodeServeWebSockets } from "./_node_ws.ts";
 *
 * const handle = await nodeServeWebSockets(
 *   { host: "127.0.0.1", port: 0, maxMessageSize: 1024 },
 *   (socket) => socket.close(1000),
 * );
 * await handle.close();
 * ```
 */
export async function nodeServeWebSockets(
  options: WebSocketListenOptions,
  accept: (socket: WebSocketLike, peer: WebSocketPeer) => void,
): Promise<HttpServerHandle> {
  const { WebSocketServer } = await loadWs();
  const server = createServer(options.tls);
  server.on("request", (_request, response) => {
    response.writeHead(426, {
      upgrade: "websocket",
      "content-type": "text/plain",
    });
    response.end("framewire: WebSocket connections only\n");
  });
  const wss = new WebSocketServer({
    server,
    maxPayload: options.maxMessageSize,
    verifyClient: (_info, done) => {
      if (options.accepting === undefined || options.accepting()) done(true);
      else done(false, 503, "framewire: shutting down");
    },
  });
  wss.on("connection", (socket, request) => {
    const forwarded = request.headers["x-forwarded-for"];
    accept(socket, {
      remoteAddr: {
        transport: "websocket",
        hostname: request.socket.remoteAddress ?? "",
        port: request.socket.remotePort ?? 0,
      },
      forwardedFor: Array.isArray(forwarded)
        ? forwarded.join(", ")
        : forwarded ?? null,
    });
  });
  // Open sockets are the framewire server's to close.
  return await listenOn(server, options, () => wss.close());
}

/**
 * The global `WebSocket` (Node 22 and later), or the `ws` package's on
 * Node 20.
 *
 * @example
 * ```ts ignore
 * const WebSocket = await nodeWebSocketClient();
 * const socket = new WebSocket("ws://127.0.0.1:8080/");
 * ```
 */
export async function nodeWebSocketClient(): Promise<WebSocketClass> {
  const global = (globalThis as { WebSocket?: WebSocketClass }).WebSocket;
  if (typeof global === "function") return global;
  return (await loadWs()).WebSocket;
}
