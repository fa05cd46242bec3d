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
import { ConnectError, FramewireError } from "../errors.ts";
import {
  attemptConnect,
  type ConnectAttempt,
  listenFailure,
} from "../_socket_failures.ts";
import {
  claimUnixPath,
  type ConnectTarget,
  connectTarget,
  type ListenTarget,
  listenTarget,
  releaseUnixPath,
  type TlsClientSettings,
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
import { denoErrorCode, errorName } from "./_deno_errors.ts";

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
  connect(
    options: (DenoTcpAddress | DenoUnixAddress) & { signal?: AbortSignal },
  ): Promise<DenoConn>;
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
    try {
      listener = await bind(target);
    } catch (error) {
      throw listenFailure(target, error, denoErrorCode);
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
    return await attemptConnect(
      target,
      (attempt) => open(target, attempt),
      denoErrorCode,
    );
  },
};

/** Binds the listener `target` describes. */
async function bind(target: ListenTarget): Promise<DenoListener> {
  if (target.kind === "unix") {
    await claimUnixPath(target.path, unixPathOps);
    return deno().listen({ path: target.path, transport: "unix" });
  }
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
  return target.tls === null
    ? deno().listen(address)
    : deno().listenTls({ ...address, ...target.tls });
}

/** Connects to `target`: TCP (then TLS) or a Unix socket. */
async function open(
  target: ConnectTarget,
  attempt: ConnectAttempt,
): Promise<Transport> {
  const { signal } = attempt;
  if (target.kind === "unix") {
    return new DenoTransport(
      await deno().connect({ path: target.path, transport: "unix", signal }),
    );
  }
  const conn = await deno().connect({
    hostname: target.hostname,
    port: target.port,
    transport: "tcp",
    signal,
  });
  conn.setNoDelay?.(true);
  if (target.tls === null) return new DenoTransport(conn);
  return new DenoTransport(await startTls(conn, target.tls, attempt));
}

/**
 * Shakes hands over `conn`. startTls over a connected socket lets the name
 * checked differ from the address connected to (connectTls checks the
 * address itself). A failure is a `ConnectError` with code `"ETLS"`.
 */
async function startTls(
  conn: DenoConn,
  settings: TlsClientSettings,
  attempt: ConnectAttempt,
): Promise<DenoTlsConn> {
  let tlsConn: DenoTlsConn | null = null;
  // Closing the connection ends a handshake that waits for the server.
  const close = () => {
    try {
      (tlsConn ?? conn).close();
    } catch {
      // already closed, or handed to startTls: closed once it resolves
    }
  };
  attempt.signal.addEventListener("abort", close);
  try {
    tlsConn = await deno().startTls(conn, {
      hostname: settings.serverName,
      caCerts: settings.ca ?? undefined,
    });
    if (attempt.signal.aborted) throw attempt.signal.reason;
    await tlsConn.handshake();
    return tlsConn;
  } catch (error) {
    close();
    throw new ConnectError(attempt.address, "ETLS", { cause: error });
  } finally {
    attempt.signal.removeEventListener("abort", close);
  }
}
