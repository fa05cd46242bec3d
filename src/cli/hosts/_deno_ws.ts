/**
 * The WebSocket gateway's listener on Deno: `Deno.serve` upgrades each
 * request with `Deno.upgradeWebSocket`, whose socket is a WHATWG
 * `WebSocket`.
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

/** The parts of `Deno.serve` and `Deno.upgradeWebSocket` used here. */
interface DenoWebSocketServe {
  serve(
    options: {
      hostname: string;
      port: number;
      cert?: string;
      key?: string;
      onListen: (addr: { hostname: string; port: number }) => void;
    },
    handler: (
      request: Request,
      info: { remoteAddr: { hostname: string; port: number } },
    ) => Response,
  ): { shutdown(): Promise<void> };
  upgradeWebSocket(request: Request): {
    socket: WebSocketLike;
    response: Response;
  };
}

/**
 * Accepts WebSocket connections on `host:port` (`wss:` with `tls`) and
 * hands each socket to `accept` as soon as it is upgraded.
 *
 * @example
 * ```ts
 * import { denoServeWebSockets } from "./_deno_ws.ts";
 *
 * const handle = await denoServeWebSockets(
 *   { host: "127.0.0.1", port: 0, maxMessageSize: 1024 },
 *   (socket) => socket.close(1000),
 * );
 * await handle.close();
 * ```
 */
export function denoServeWebSockets(
  options: WebSocketListenOptions,
  accept: (socket: WebSocketLike, peer: WebSocketPeer) => void,
): Promise<HttpServerHandle> {
  const runtime = (globalThis as unknown as { Deno: DenoWebSocketServe }).Deno;
  return new Promise((resolve, reject) => {
    try {
      const server = runtime.serve(
        {
          hostname: options.host,
          port: options.port,
          ...options.tls,
          onListen: (addr) =>
            resolve({
              hostname: addr.hostname,
              port: addr.port,
              // Upgraded sockets are the server's to close, not shutdown()'s.
              close: () => server.shutdown(),
            }),
        },
        (request, info) => {
          const refusal = upgradeRefusal(request.headers, options.accepting);
          if (refusal !== null) return refusal;
          // Read before the upgrade, which ends the request.
          const peer: WebSocketPeer = {
            remoteAddr: {
              transport: "websocket",
              hostname: info.remoteAddr.hostname,
              port: info.remoteAddr.port,
            },
            forwardedFor: request.headers.get("x-forwarded-for"),
          };
          const { socket, response } = runtime.upgradeWebSocket(request);
          accept(socket, peer);
          return response;
        },
      );
    } catch (error) {
      reject(error);
    }
  });
}
