/**
 * `serve --ws-port`: the WebSocket gateway. The runtime's HTTP server
 * (`CliHost.serveWebSockets`) accepts WebSocket connections and hands each
 * one to the same `Server` as the TCP port, so every request gets the same
 * handler, format, limits, timeouts and drain.
 *
 * @module
 */
import type { Server } from "../server.ts";
import type { NetAddr } from "../transport.ts";
import type { CliHost, WebSocketPeer } from "./host.ts";
import type { ServeSettings } from "./serve_common.ts";
import type { EventLog } from "./log.ts";
import { DEFAULT_MAX_FRAME_SIZE } from "../constants.ts";

/**
 * The peer's address as the server sees it: with `forwardedFor`, the last
 * address of the `X-Forwarded-For` header (the one the balancer in front
 * added), else the TCP peer's.
 *
 * @example
 * ```ts
 * import { gatewayPeerAddress } from "./_ws_gateway.ts";
 *
 * const addr = gatewayPeerAddress({
 *   remoteAddr: { transport: "websocket", hostname: "10.0.0.2", port: 40000 },
 *   forwardedFor: "198.51.100.7, 203.0.113.9",
 * }, true);
 * console.log(addr.hostname); // "203.0.113.9"
 * ```
 */
export function gatewayPeerAddress(
  peer: WebSocketPeer,
  forwardedFor: boolean,
): NetAddr {
  if (!forwardedFor || peer.forwardedFor === null) return peer.remoteAddr;
  const last = peer.forwardedFor.split(",").at(-1)!.trim();
  if (last === "") return peer.remoteAddr;
  return { transport: "websocket", hostname: last, port: 0 };
}

/**
 * Starts the gateway of `settings.webSocket`, if any, serving its
 * connections with `server`.
 *
 * @example
 * ```ts ignore
 * const gateway = await startWebSocketGateway(host, settings, server, log);
 * await gateway?.close(); // after server.close() has drained the sockets
 * ```
 */
export async function startWebSocketGateway(
  host: CliHost,
  settings: ServeSettings,
  server: Server,
  log: EventLog,
): Promise<WebSocketGateway | undefined> {
  const gateway = settings.webSocket;
  if (gateway === undefined) return undefined;
  if (host.serveWebSockets === undefined) {
    throw new Error(
      "Cannot serve WebSockets: this runtime's command line has no HTTP server",
    );
  }
  const handle = await host.serveWebSockets(
    {
      host: gateway.host,
      port: gateway.port,
      tls: settings.listen.tls,
      maxMessageSize: settings.options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE,
      accepting: () => !server.closing,
    },
    (socket, peer) => {
      server.serveWebSocket(
        socket,
        gatewayPeerAddress(peer, gateway.forwardedFor),
      );
    },
  );
  const scheme = settings.listen.tls === undefined ? "ws" : "wss";
  const shown = handle.hostname.includes(":")
    ? `[${handle.hostname}]`
    : handle.hostname;
  log.info(`WebSocket gateway on ${scheme}://${shown}:${handle.port}/`, {
    event: "websocket",
    port: handle.port,
  });
  return {
    port: handle.port,
    async close() {
      await server.close(); // the sockets drain first: then the listener
      await handle.close();
    },
  };
}

/**
 * A running gateway: `close()` waits for the server's close, which drains
 * its sockets (upgrades are refused from the server's `close()` on), then
 * stops the listener.
 *
 * @example
 * ```ts
 * import type { WebSocketGateway } from "./_ws_gateway.ts";
 *
 * const stop = (gateway: WebSocketGateway) => gateway.close();
 * ```
 */
export interface WebSocketGateway {
  port: number;
  close(): Promise<void>;
}
