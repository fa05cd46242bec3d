/**
 * The Deno adapter: listening and connecting over TCP with `Deno.listen` and
 * `Deno.connect`, over TLS with `Deno.listenTls` and `Deno.startTls`, and on
 * Unix domain sockets with `Deno.listen`/`Deno.connect` (`transport: "unix"`).
 * It describes the Deno objects it touches with small local types, so it
 * type-checks with any TypeScript toolchain. The connection itself is
 * `DenoTransport` (`_deno_transport.ts`).
 *
 * @module
 */
import { FramewireError } from "../errors.ts";
import {
  claimUnixPath,
  connectTarget,
  listenTarget,
  releaseUnixPath,
  unixAddr,
  type UnixPathOps,
} from "../_transport_options.ts";
import type {
  ConnectOptions,
  Listener,
  ListenOptions,
  Network,
  Transport,
} from "../transport.ts";
import {
  type DenoAddr,
  type DenoConn,
  DenoTransport,
  netAddr,
} from "./_deno_transport.ts";

/** The part of a `Deno.Listener` (TCP, TLS or Unix) this adapter uses. */
interface DenoListener {
  readonly addr: DenoAddr;
  accept(): Promise<DenoConn>;
  close(): void;
}

/** The part of a `Deno.TlsConn` this adapter uses. */
interface DenoTlsConn extends DenoConn {
  handshake(): Promise<unknown>;
}

type DenoTcpAddress = {
  hostname: string;
  port: number;
  transport: "tcp";
  reusePort?: boolean;
};
type DenoUnixAddress = { path: string; transport: "unix" };

/** The part of the `Deno` namespace this adapter uses. */
interface DenoNamespace {
  listen(options: DenoTcpAddress | DenoUnixAddress): DenoListener;
  listenTls(
    options: DenoTcpAddress & { cert: string; key: string },
  ): DenoListener;
  connect(options: DenoTcpAddress | DenoUnixAddress): Promise<DenoConn>;
  startTls(
    conn: DenoConn,
    options: { hostname: string; caCerts?: string[] },
  ): Promise<DenoTlsConn>;
  lstatSync(path: string): {
    isSocket: boolean | null;
    dev: number;
    ino: number | null;
  };
  removeSync(path: string): void;
  /** Present only with `--unstable-net`, which `reusePort` also needs. */
  listenDatagram?: unknown;
}

function deno(): DenoNamespace {
  const runtime = (globalThis as { Deno?: DenoNamespace }).Deno;
  if (runtime === undefined) {
    throw new Error("Cannot use the Deno adapter: this runtime is not Deno");
  }
  return runtime;
}

const errorName = (error: unknown) => error instanceof Error ? error.name : "";

/** Out of file descriptors: accepting again at once would spin. */
function isExhaustionError(error: unknown): boolean {
  const message = error instanceof Error ? error.message : "";
  return /EMFILE|ENFILE|too many open files/i.test(message);
}

/** Unix socket files through `Deno.lstatSync`, `Deno.removeSync` and `Deno.connect`. */
const unixPathOps: UnixPathOps = {
  kind(path) {
    try {
      return deno().lstatSync(path).isSocket ? "socket" : "other";
    } catch (error) {
      if (errorName(error) === "NotFound") return null;
      throw error;
    }
  },
  async probe(path) {
    try {
      (await deno().connect({ path, transport: "unix" })).close();
      return true;
    } catch (error) {
      const name = errorName(error);
      if (name === "ConnectionRefused" || name === "NotFound") return false;
      throw error;
    }
  },
  remove: (path) => deno().removeSync(path),
};

/** Accepts connections until the listener closes, handing each to `onConnection`. */
async function acceptLoop(
  listener: DenoListener,
  isClosed: () => boolean,
  onConnection: (transport: Transport) => void,
): Promise<void> {
  while (!isClosed()) {
    let conn: DenoConn;
    try {
      conn = await listener.accept();
    } catch (error) {
      const name = errorName(error);
      if (isClosed() || name === "BadResource" || name === "Interrupted") {
        return; // the listener was closed
      }
      // Anything else concerns one peer (a reset or ENOTCONN from a peer
      // gone before accept, as after a load balancer's connect-only health
      // check; a failed TLS handshake) or is transient: keep accepting.
      if (isExhaustionError(error)) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      continue;
    }
    try {
      conn.setNoDelay?.(true);
    } catch {
      // the peer may already have gone; the read loop will see it
    }
    onConnection(new DenoTransport(conn));
  }
}

/**
 * The Deno implementation of {@linkcode Network}: TCP with `Deno.listen` and
 * `Deno.connect` (Nagle's algorithm off), TLS with `Deno.listenTls` and
 * `Deno.startTls`, Unix sockets with `transport: "unix"`.
 *
 * @example
 * ```ts
 * import { Server } from "../server.ts";
 * import { denoNetwork } from "./deno.ts";
 *
 * const server = new Server();
 * await server.listen(denoNetwork, { host: "127.0.0.1", port: 0 });
 * await server.close();
 * ```
 */
export const denoNetwork: Network = {
  async listen(
    options: ListenOptions,
    onConnection: (transport: Transport) => void,
  ): Promise<Listener> {
    const target = listenTarget(options);
    let listener: DenoListener;
    if (target.kind === "unix") {
      await claimUnixPath(target.path, unixPathOps);
      listener = deno().listen({ path: target.path, transport: "unix" });
    } else {
      const address: DenoTcpAddress = {
        hostname: target.hostname,
        port: target.port,
        transport: "tcp",
      };
      if (target.reusePort) {
        // Without the flag, Deno ends the process instead of throwing.
        if (typeof deno().listenDatagram !== "function") {
          throw new FramewireError(
            "Cannot listen with reusePort: Deno needs the --unstable-net flag for it",
          );
        }
        address.reusePort = true;
      }
      listener = target.tls === null
        ? deno().listen(address)
        : deno().listenTls({ ...address, ...target.tls });
    }
    let closed = false;
    acceptLoop(
      listener,
      () => closed,
      onConnection,
    );
    return {
      addr: target.kind === "unix"
        ? unixAddr(target.path)
        : netAddr(listener.addr),
      close() {
        if (closed) return;
        closed = true;
        listener.close();
        if (target.kind === "unix") releaseUnixPath(target.path, unixPathOps);
      },
    };
  },

  async connect(options: ConnectOptions): Promise<Transport> {
    const target = connectTarget(options);
    if (target.kind === "unix") {
      return new DenoTransport(
        await deno().connect({ path: target.path, transport: "unix" }),
      );
    }
    const conn = await deno().connect({
      hostname: target.hostname,
      port: target.port,
      transport: "tcp",
    });
    conn.setNoDelay?.(true);
    if (target.tls === null) return new DenoTransport(conn);
    // startTls over a connected socket lets the name checked differ from the
    // address connected to (connectTls checks the address itself).
    let tlsConn: DenoTlsConn | null = null;
    try {
      tlsConn = await deno().startTls(conn, {
        hostname: target.tls.serverName,
        caCerts: target.tls.ca ?? undefined,
      });
      await tlsConn.handshake();
    } catch (error) {
      try {
        (tlsConn ?? conn).close();
      } catch {
        // already closed
      }
      throw error;
    }
    return new DenoTransport(tlsConn);
  },
};
