/**
 * `serve()` and `connect()` for whichever runtime runs them: the Bun adapter
 * on Bun, `node:net` elsewhere, and on Deno `node:net` for servers without
 * TLS (Deno's own `conn.read()` starves some of thousands of active
 * connections) and the Deno adapter for TLS servers and clients. User code is
 * the same everywhere; pass `network` to choose an adapter explicitly.
 *
 * The adapters are loaded with a dynamic `import()` when first needed, so
 * importing this module loads no runtime API: code that brings its own
 * transport (`Client.fromStream`, `Server.accept`) runs wherever Web Streams
 * do.
 *
 * @module
 */
import { Client, type ClientOptions } from "../client.ts";
import { Server, type ServerOptions } from "../server.ts";
import type {
  ConnectOptions,
  ListenOptions,
  NetAddr,
  Network,
} from "../transport.ts";

/**
 * The network adapter for the current runtime: `bunNetwork` on Bun;
 * `nodeNetwork` on Node and anything else with `node:net`; on Deno, a network
 * whose servers listen with `nodeNetwork` (with TLS, `denoNetwork`) and whose
 * clients connect with `denoNetwork`. The adapter's module is imported on the
 * first call.
 *
 * @returns The adapter.
 *
 * @example
 * ```ts
 * import { defaultNetwork } from "./auto.ts";
 *
 * const network = await defaultNetwork();
 * ```
 */
export async function defaultNetwork(): Promise<Network> {
  const g = globalThis as { Bun?: unknown; Deno?: unknown };
  if (g.Bun !== undefined) return (await import("./bun.ts")).bunNetwork;
  if (g.Deno !== undefined) {
    return (await import("./_deno_default.ts")).denoDefaultNetwork;
  }
  return (await import("./node.ts")).nodeNetwork;
}

/**
 * Options of {@linkcode serve}: the server's settings, where to listen, and
 * optionally which adapter to listen with.
 *
 * @example
 * ```ts
 * import type { ServeOptions } from "./auto.ts";
 *
 * const options: ServeOptions = { host: "127.0.0.1", port: 0, maxFrameSize: 1 << 20 };
 * ```
 */
export interface ServeOptions<State = Record<string, unknown>>
  extends ServerOptions<State>, ListenOptions {
  /** The adapter. @default {defaultNetwork()} */
  network?: Network;
}

/**
 * Options of {@linkcode connect}: the client's settings, where to connect,
 * and optionally which adapter to connect with.
 *
 * @example
 * ```ts
 * import type { ClientConnectOptions } from "./auto.ts";
 *
 * const options: ClientConnectOptions = { host: "127.0.0.1", port: 1234, maxInFlight: 64 };
 * ```
 */
export interface ClientConnectOptions extends ClientOptions, ConnectOptions {
  /** The adapter. @default {defaultNetwork()} */
  network?: Network;
}

/**
 * Starts a server and resolves once it is listening.
 *
 * @param options Handler, limits, host (default 0.0.0.0) and port (default
 * 1234; 0 picks one) or a Unix socket `path`, `tls` (certificate and key) and
 * adapter.
 * @returns The listening server; `server.addr` has the bound port.
 *
 * @example An echo server on a free port
 * ```ts
 * import { serve } from "./auto.ts";
 *
 * await using server = await serve({ host: "127.0.0.1", port: 0 });
 * console.log(server.addr.port);
 * ```
 */
export async function serve<State = Record<string, unknown>>(
  options: ServeOptions<State> = {},
): Promise<ListeningServer<State>> {
  const server = new Server<State>(options);
  await server.listen(options.network ?? await defaultNetwork(), options);
  return server as ListeningServer<State>;
}

/**
 * A {@linkcode Server} that `serve()` has bound: its `addr` is known.
 *
 * @example
 * ```ts
 * import { type ListeningServer, serve } from "framewire";
 *
 * const server: ListeningServer = await serve({ host: "127.0.0.1", port: 0 });
 * console.log(server.addr.port); // no null check needed
 * await server.close();
 * ```
 */
export type ListeningServer<State = Record<string, unknown>> =
  & Server<State>
  & { readonly addr: NetAddr };

/**
 * Connects a pipelining client. With `reconnect`, the client dials the same
 * host and port (or Unix socket path), with the same TLS settings and
 * adapter, again after losing its connection.
 *
 * @param options Host (default 127.0.0.1) and port (default 1234), or
 * `path`; `tls`; `connectTimeout` (default 10000 ms, for every connection,
 * reconnects too); `signal`, which cancels the first connection only; limits,
 * `requestTimeout`, `reconnect`, callbacks and adapter.
 * @returns The connected client; rejects with a `ConnectError` when the first
 * connection fails, or with the signal's reason when it is aborted first.
 *
 * @example
 * ```ts
 * import { connect } from "./auto.ts";
 *
 * await using client = await connect({
 *   host: "127.0.0.1",
 *   port: 1234,
 *   requestTimeout: 5000,
 *   reconnect: true,
 * });
 * const response = await client.request(new TextEncoder().encode("ping"));
 * ```
 */
export async function connect(
  options: ClientConnectOptions = {},
): Promise<Client> {
  const network = options.network ?? await defaultNetwork();
  const target: ConnectOptions = {
    host: options.host,
    port: options.port,
    path: options.path,
    tls: options.tls,
    connectTimeout: options.connectTimeout,
  };
  // The signal cancels the first connection only: a reconnect is not
  // cancelled by it (AbortSignal.timeout() would otherwise end them all).
  let signal = options.signal;
  return await Client.dial(() => {
    const first = signal;
    signal = undefined;
    return network.connect(
      first === undefined ? target : { ...target, signal: first },
    );
  }, options);
}
