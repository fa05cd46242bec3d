/**
 * The Bun adapter: listening and connecting with `Bun.listen` and
 * `Bun.connect`, over TCP, TLS (their `tls` option) and Unix domain sockets
 * (their `unix` option). The connection itself is `BunTransport`
 * (`_bun_transport.ts`).
 *
 * @module
 */
import { ConnectError } from "../errors.ts";
import {
  attemptConnect,
  codeProperty,
  type ConnectAttempt,
  listenFailure,
  untilAborted,
} from "../_socket_failures.ts";
import {
  claimUnixPath,
  type ConnectTarget,
  connectTarget,
  type ListenTarget,
  listenTarget,
  releaseUnixPath,
  unixAddr,
} from "../_transport_options.ts";
import type {
  ConnectOptions,
  Listener,
  ListenOptions,
  Network,
  Transport,
} from "../transport.ts";
import {
  type AcceptContext,
  type BunSocket,
  type BunSocketHandler,
  BunTransport,
  handlers,
  type SocketState,
  transportOf,
} from "./_bun_transport.ts";
import { nodeUnixPathOps } from "./_node_unix_path.ts";

interface BunListener {
  readonly hostname?: string;
  readonly port?: number;
  stop(closeActiveConnections?: boolean): void;
}

/** Where `Bun.listen` binds or `Bun.connect` connects, and with what TLS. */
type BunAddress =
  | {
    hostname: string;
    port: number;
    tls?: {
      cert?: string;
      key?: string;
      ca?: string[];
      serverName?: string;
      rejectUnauthorized?: boolean;
    };
  }
  | { unix: string };

type BunSocketOptions<Data> = BunAddress & {
  allowHalfOpen?: boolean;
  reusePort?: boolean;
  data?: Data;
  socket: BunSocketHandler<Data>;
};

interface BunNamespace {
  listen<Data>(options: BunSocketOptions<Data>): BunListener;
  connect<Data>(options: BunSocketOptions<Data>): Promise<BunSocket<Data>>;
}

function bun(): BunNamespace {
  const runtime = (globalThis as { Bun?: BunNamespace }).Bun;
  if (runtime === undefined) {
    throw new Error("Cannot use the Bun adapter: this runtime is not Bun");
  }
  return runtime;
}

/**
 * The Bun implementation of {@linkcode Network}: TCP with `Bun.listen` and
 * `Bun.connect`, half-open connections allowed (a client's FIN still gets its
 * answers); TLS with their `tls` option (a client's `connect()` waits for the
 * handshake); Unix sockets with their `unix` option.
 *
 * @example
 * ```ts
 * import { Server } from "../server.ts";
 * import { bunNetwork } from "./bun.ts";
 *
 * const server = new Server();
 * await server.listen(bunNetwork, { host: "127.0.0.1", port: 0 });
 * await server.close();
 * ```
 */
export const bunNetwork: Network = {
  async listen(
    options: ListenOptions,
    onConnection: (transport: Transport) => void,
  ): Promise<Listener> {
    const target = listenTarget(options);
    // A connection's context is made while it is open: its addresses can
    // wait until then.
    const context: AcceptContext = { onConnection, lazyAddresses: true };
    let listener: BunListener;
    try {
      listener = await bind(target, context);
    } catch (error) {
      throw listenFailure(target, error, codeProperty);
    }
    let closed = false;
    return {
      addr: target.kind === "unix" ? unixAddr(target.path) : {
        transport: "tcp",
        hostname: listener.hostname ?? target.hostname,
        port: listener.port ?? target.port,
      },
      close() {
        if (closed) return;
        closed = true;
        listener.stop(false);
        if (target.kind === "unix") {
          releaseUnixPath(target.path, nodeUnixPathOps);
        }
      },
    };
  },

  async connect(options: ConnectOptions): Promise<Transport> {
    const target = connectTarget(options);
    return await attemptConnect(
      target,
      (attempt) => open(target, attempt),
      codeProperty,
    );
  },
};

/** Binds the listener `target` describes, its sockets sharing `context`. */
async function bind(
  target: ListenTarget,
  context: AcceptContext,
): Promise<BunListener> {
  let address: BunAddress;
  if (target.kind === "unix") {
    await claimUnixPath(target.path, nodeUnixPathOps);
    address = { unix: target.path };
    context.unix = { local: unixAddr(target.path), remote: unixAddr("") };
  } else {
    address = { hostname: target.hostname, port: target.port };
    if (target.tls !== null) address.tls = target.tls;
  }
  return bun().listen<SocketState>({
    ...address,
    ...(target.kind === "tcp" && target.reusePort && { reusePort: true }),
    allowHalfOpen: true,
    data: context,
    socket: handlers,
  });
}

/**
 * Connects to `target`: TCP, TLS or a Unix socket. `Bun.connect` takes no
 * signal: a socket it opens after the attempt was given up is closed at once.
 */
async function open(
  target: ConnectTarget,
  attempt: ConnectAttempt,
): Promise<Transport> {
  let transport: BunTransport | null = null;
  const context: AcceptContext = {
    onConnection(t) {
      transport = t as BunTransport;
    },
  };
  let address: BunAddress;
  if (target.kind === "unix") {
    address = { unix: target.path };
    context.unix = { local: unixAddr(""), remote: unixAddr(target.path) };
  } else {
    address = { hostname: target.hostname, port: target.port };
    if (target.tls !== null) {
      const { ca, serverName } = target.tls;
      address.tls = { rejectUnauthorized: true };
      if (ca !== null) address.tls.ca = ca;
      // Bun checks the certificate against serverName, or else the host.
      if (serverName !== target.hostname) address.tls.serverName = serverName;
      context.tlsClient = true;
    }
  }
  const socket = await bun().connect<SocketState>({
    ...address,
    allowHalfOpen: true,
    data: context,
    socket: handlers,
  });
  const opened: BunTransport = transport ?? transportOf(socket) ??
    new BunTransport(socket, context);
  if (!context.tlsClient) return opened;
  try {
    await untilAborted(opened.handshakeDone(), attempt.signal);
  } catch (error) {
    opened.close();
    throw new ConnectError(attempt.address, "ETLS", { cause: error });
  }
  return opened;
}
