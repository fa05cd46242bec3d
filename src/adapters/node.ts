/**
 * The Node adapter: TCP with `node:net`, TLS with `node:tls`, and Unix domain
 * sockets with `node:net`, usable on Node and on the `node:net`/`node:tls` of
 * Deno and Bun. The connection itself is `NodeTransport`
 * (`_node_transport.ts`).
 *
 * Connections are half-open (`allowHalfOpen`), so a client's FIN still gets
 * its answers, and the listen backlog is large enough for connect bursts.
 *
 * @module
 */
import * as nodeNet from "node:net";
import nodeProcess from "node:process";
import * as nodeTls from "node:tls";
import { FramewireError } from "../errors.ts";
import {
  attemptConnect,
  codeProperty,
  listenFailure,
} from "../_socket_failures.ts";
import {
  claimUnixPath,
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
  NetAddr,
  Network,
  Transport,
} from "../transport.ts";
import { type NodeSocket, NodeTransport } from "./_node_transport.ts";
import { nodeOpen } from "./_node_connect.ts";
import { folderMissing, nodeUnixPathOps } from "./_node_unix_path.ts";
import { nodeHasReusePort } from "./_node_version.ts";

/** The part of a `net.Server` (or `tls.Server`) this adapter uses. */
interface NodeServer {
  listen(
    options: {
      host: string;
      port: number;
      backlog: number;
      reusePort?: boolean;
      exclusive?: boolean;
    } | {
      path: string;
      backlog: number;
    },
    callback: () => void,
  ): void;
  address(): { address: string; port: number } | string | null;
  close(): void;
  once(event: "error", listener: (error: Error) => void): void;
  on(event: string, listener: (error: Error) => void): void;
  removeListener(event: string, listener: (...args: never[]) => void): void;
}

interface ServerOptions {
  allowHalfOpen: boolean;
  noDelay?: boolean;
}

/** The part of `node:net` this adapter uses. */
interface NodeNet {
  createServer(
    options: ServerOptions,
    onConnection: (socket: NodeSocket) => void,
  ): NodeServer;
}

/** The part of `node:tls` this adapter uses. */
interface NodeTls {
  createServer(
    options: ServerOptions & { cert: string; key: string },
    onSecureConnection: (socket: NodeSocket) => void,
  ): NodeServer;
}

const net = nodeNet as unknown as NodeNet;
const tls = nodeTls as unknown as NodeTls;
const process = nodeProcess as unknown as {
  readonly versions: { readonly node: string };
};

/** Pending connections the kernel queues for accept(): enough for a burst of 10,000 connects. */
const LISTEN_BACKLOG = 65535;

/**
 * Why `nodeNetwork` does not serve TLS on Deno. Deno's `node:tls` (checked on
 * 2.9.6) completes every write and emits 'drain' as soon as the bytes are
 * handed to its TLS layer, which queues them without bound: `writableLength`
 * stays 0 while a peer that reads nothing leaves tens of MiB queued. The
 * server's outbound cap, memory budget and write timeout all rely on that
 * count, so a client that never reads could grow the server without limit.
 * `pause()` does not stop it reading from the socket either (it buffers what
 * it decrypts), so a server could not hold back a flooding client. Its TLS
 * client is unaffected: a client never pauses, and bounds its requests by
 * `maxInFlight`, not by unsent bytes.
 */
const NODE_TLS_ON_DENO =
  "Cannot listen with TLS on node:tls under Deno: it reports writes done before they are sent (writableLength stays 0), so unread responses could not be bounded; use denoNetwork";

/** The addresses of a Unix socket connection, seen from its server. */
const unixServerSide = (path: string) => ({
  local: unixAddr(path),
  remote: unixAddr(""),
});

/**
 * A `node:net` listen error's system code, the same as on the other
 * adapters: Node 20 (libuv) reports a Unix socket path whose folder is
 * missing as EACCES, and Deno's `node:net` (2.9.6) a host that is not an
 * address of this machine as EINVAL.
 */
function nodeListenErrorCode(
  target: ListenTarget,
  error: unknown,
): string | null {
  const code = codeProperty(error);
  if (target.kind === "unix") {
    return code === "EACCES" && folderMissing(target.path) ? "ENOENT" : code;
  }
  const onDeno = (globalThis as { Deno?: unknown }).Deno !== undefined;
  return code === "EINVAL" && onDeno ? "EADDRNOTAVAIL" : code;
}

/**
 * The `node:net` and `node:tls` implementation of {@linkcode Network}:
 * half-open connections allowed, Nagle's algorithm off, listen backlog 65535;
 * TLS with `tls.createServer`/`tls.connect`, Unix sockets with `path`.
 *
 * @example
 * ```ts
 * import { Server } from "../server.ts";
 * import { nodeNetwork } from "./node.ts";
 *
 * const server = new Server();
 * await server.listen(nodeNetwork, { host: "127.0.0.1", port: 0 });
 * await server.close();
 * ```
 */
export const nodeNetwork: Network = {
  async listen(
    options: ListenOptions,
    onConnection: (transport: Transport) => void,
  ): Promise<Listener> {
    const target = listenTarget(options);
    if (target.kind === "tcp" && target.reusePort && !nodeHasReusePort()) {
      throw new FramewireError(
        `Cannot listen with reusePort: it needs Node 22.12 or later, this is ${process.versions.node}`,
      );
    }
    let server: NodeServer;
    try {
      server = await bind(target, onConnection);
    } catch (error) {
      throw listenFailure(
        target,
        error,
        (error) => nodeListenErrorCode(target, error),
      );
    }
    const address = server.address();
    const addr: NetAddr = typeof address === "object" && address !== null
      ? { transport: "tcp", hostname: address.address, port: address.port }
      : unixAddr(target.kind === "unix" ? target.path : String(address));
    let closed = false;
    return {
      addr,
      close() {
        if (closed) return;
        closed = true;
        server.close();
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
      (attempt) => nodeOpen(target, attempt),
      codeProperty,
    );
  },
};

/** Binds a server as `target` says, handing its connections to `onConnection`. */
async function bind(
  target: ListenTarget,
  onConnection: (transport: Transport) => void,
): Promise<NodeServer> {
  const serverOptions = { allowHalfOpen: true, noDelay: true };
  let server: NodeServer;
  if (target.kind === "unix") {
    await claimUnixPath(target.path, nodeUnixPathOps);
    const addrs = unixServerSide(target.path);
    server = net.createServer(
      serverOptions,
      (socket) => onConnection(new NodeTransport(socket, addrs)),
    );
  } else if (target.tls !== null) {
    if ((globalThis as { Deno?: unknown }).Deno !== undefined) {
      throw new FramewireError(NODE_TLS_ON_DENO);
    }
    server = tls.createServer(
      { ...serverOptions, ...target.tls },
      (socket) => onConnection(new NodeTransport(socket, undefined, "lazily")),
    );
    // A peer whose handshake failed was never handed over: nothing to do.
    server.on("tlsClientError", () => {});
  } else {
    server = net.createServer(
      serverOptions,
      (socket) => onConnection(new NodeTransport(socket, undefined, "lazily")),
    );
  }
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(
      target.kind === "unix"
        ? { path: target.path, backlog: LISTEN_BACKLOG }
        : {
          host: target.hostname,
          port: target.port,
          backlog: LISTEN_BACKLOG,
          // In a node:cluster worker, exclusive binds this process's own
          // socket instead of sharing the primary's.
          ...(target.reusePort && { reusePort: true, exclusive: true }),
        },
      () => {
        server.removeListener("error", reject);
        resolve();
      },
    );
  });
  // Accept errors (EMFILE and the like) are reported here; the server keeps listening.
  server.on("error", () => {});
  return server;
}
