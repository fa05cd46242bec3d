/**
 * The network `serve()`, `connect()` and the command line use on Deno:
 * plain TCP and Unix socket servers listen with `node:net`, TLS servers and
 * every client with the Deno adapter.
 *
 * Why: with thousands of active connections, Deno's own `conn.read()` (Deno
 * 2.9.6) serves some connections in milliseconds while others wait seconds.
 * The smallest Deno server (`bench/deno_conn_floor.ts`, one pending
 * `conn.read()` per connection) shows it too, so no adapter code on top of it
 * can help. `node:net` under Deno runs on Deno's native libuv-compatible TCP,
 * which serves every connection in turn. Measured with 10,000 connections,
 * one request in flight each (`deno task bench --scenarios active`): see
 * docs/performance.md. `node:tls` under Deno cannot bound unsent responses
 * (see `src/adapters/node.ts`), so TLS stays on `Deno.listenTls`.
 *
 * @module
 */
import type {
  ConnectOptions,
  Listener,
  ListenOptions,
  Network,
  Transport,
} from "../transport.ts";
import { denoNetwork } from "./deno.ts";
import { nodeNetwork } from "./node.ts";

/**
 * Deno's default {@linkcode Network}: servers without TLS on `node:net`,
 * TLS servers and clients on the Deno adapter.
 *
 * @example
 * ```ts
 * import { Server } from "../server.ts";
 * import { denoDefaultNetwork } from "./_deno_default.ts";
 *
 * const server = new Server();
 * await server.listen(denoDefaultNetwork, { host: "127.0.0.1", port: 0 });
 * await server.close();
 * ```
 */
export const denoDefaultNetwork: Network = {
  listen(
    options: ListenOptions,
    onConnection: (transport: Transport) => void,
  ): Promise<Listener> {
    const network = options.tls === undefined ? nodeNetwork : denoNetwork;
    return network.listen(options, onConnection);
  },

  connect(options: ConnectOptions): Promise<Transport> {
    return denoNetwork.connect(options);
  },
};
