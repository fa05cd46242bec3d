/**
 * `bench --ws URL`: the load tester's connections are WebSockets to a
 * gateway (`serve --ws-port`), each wrapped in a `webSocketTransport` of
 * the load's format, so the same load, checks and figures apply as over
 * TCP.
 *
 * @module
 */
import { ConnectError } from "../errors.ts";
import type { FrameFormatOption } from "../frame_format.ts";
import type { NetAddr, Network } from "../transport.ts";
import { webSocketTransport } from "../websocket_transport.ts";
import { MAX_FRAME_SIZE_LIMIT } from "../_frame_header.ts";
import type { WebSocketClass } from "./host.ts";

/**
 * A `Network` whose `connect()` opens a WebSocket to `url` (whatever
 * target it is given) and resolves once it is open.
 *
 * @example
 * ```ts ignore
 * const network = webSocketNetwork(new URL("ws://127.0.0.1:8080/"), WebSocket, "u32le");
 * const transport = await network.connect({ port: 0 });
 * ```
 */
export function webSocketNetwork(
  url: URL,
  WebSocket: WebSocketClass,
  format: FrameFormatOption | undefined,
): Network {
  const remoteAddr: NetAddr = {
    transport: "websocket",
    hostname: url.hostname,
    port: Number(url.port) || (url.protocol === "wss:" ? 443 : 80),
  };
  return {
    listen: () =>
      Promise.reject(
        new TypeError("Cannot listen: a WebSocket load only connects"),
      ),
    connect: () =>
      new Promise((resolve, reject) => {
        const socket = new WebSocket(url.href);
        // Made before open, so no message can come before its listener.
        const transport = webSocketTransport(socket, {
          format,
          maxFrameSize: MAX_FRAME_SIZE_LIMIT,
          remoteAddr,
        });
        const failed = () =>
          reject(
            new ConnectError(url.host, "ECONNREFUSED", {
              detail: `no WebSocket at ${url.href}`,
            }),
          );
        socket.addEventListener("error", failed);
        socket.addEventListener("close", failed);
        socket.addEventListener("open", () => resolve(transport));
      }),
  };
}
