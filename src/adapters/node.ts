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
  claimUnixPath,
  connectTarget,
  listenTarget,
  releaseUnixPath,
  type TlsClientSettings,
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
import { nodeUnixPathOps } from "./_node_unix_path.ts";
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
  connect(
    options: {
      host: string;
      port: number;
      allowHalfOpen: boolean;
      noDelay?: boolean;
    } | { path: string; allowHalfOpen: boolean },
  ): NodeSocket;
  isIP(input: string): number;
}

/** A peer certificate, as `tls.checkServerIdentity` takes it. */
type PeerCertificate = object;

/** The part of `tls.connect()`'s options this adapter uses. */
interface NodeTlsConnectOptions {
  host: string;
  port: number;
  allowHalfOpen: boolean;
  noDelay?: boolean;
  ca?: string[];
  servername?: string;
  checkServerIdentity?: (
    host: string,
    cert: PeerCertificate,
  ) => Error | undefined;
}

/** The part of `node:tls` this adapter uses. */
interface NodeTls {
  createServer(
    options: ServerOptions & { cert: string; key: string },
    onSecureConnection: (socket: NodeSocket) => void,
  ): NodeServer;
  connect(options: NodeTlsConnectOptions): NodeSocket;
  checkServerIdentity(host: string, cert: PeerCertificate): Error | undefined;
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

/** Resolves with the transport once `socket` emits `event`; rejects on an earlier error. */
function connected(
  socket: NodeSocket,
  event: "connect" | "secureConnect",
  transport: () => Transport,
): Promise<Transport> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    socket.once("error", onError);
    socket.once(event, () => {
      socket.removeListener("error", onError);
      resolve(transport());
    });
  });
}

/**
 * `tls.connect` options checking the server as `settings` says. Options are
 * left out rather than set to undefined: Deno's `node:tls` rejects
 * `checkServerIdentity: undefined`.
 */
function tlsClientOptions(hostname: string, settings: TlsClientSettings) {
  const { serverName, ca } = settings;
  const options: {
    ca?: string[];
    servername?: string;
    checkServerIdentity?: NodeTlsConnectOptions["checkServerIdentity"];
  } = {};
  if (ca !== null) options.ca = ca;
  if (serverName !== hostname) {
    // SNI carries names only; checkServerIdentity covers an IP address too.
    if (net.isIP(serverName) === 0) options.servername = serverName;
    options.checkServerIdentity = (_host, cert) =>
      tls.checkServerIdentity(serverName, cert);
  }
  return options;
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
        (socket) => onConnection(new NodeTransport(socket)),
      );
      // A peer whose handshake failed was never handed over: nothing to do.
      server.on("tlsClientError", () => {});
    } else {
      server = net.createServer(
        serverOptions,
        (socket) => onConnection(new NodeTransport(socket)),
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

  connect(options: ConnectOptions): Promise<Transport> {
    let target;
    try {
      target = connectTarget(options);
    } catch (error) {
      return Promise.reject(error);
    }
    if (target.kind === "unix") {
      const path = target.path;
      const socket = net.connect({ path, allowHalfOpen: true });
      return connected(socket, "connect", () =>
        new NodeTransport(socket, {
          local: unixAddr(""),
          remote: unixAddr(path),
        }));
    }
    const address = {
      host: target.hostname,
      port: target.port,
      allowHalfOpen: true,
      noDelay: true,
    };
    if (target.tls === null) {
      const socket = net.connect(address);
      return connected(socket, "connect", () => new NodeTransport(socket));
    }
    const socket = tls.connect({
      ...address,
      ...tlsClientOptions(target.hostname, target.tls),
    });
    return connected(socket, "secureConnect", () => new NodeTransport(socket));
  },
};
