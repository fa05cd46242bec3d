/**
 * The Node adapter's `connect()`: TCP with `net.connect`, TLS with
 * `tls.connect`, Unix sockets with `net.connect({ path })`, under the
 * attempt's timeout and signal (`_socket_failures.ts`). A TLS socket that
 * fails after its TCP connection was made failed its handshake: `"ETLS"`.
 *
 * @module
 */
import * as nodeNet from "node:net";
import * as nodeTls from "node:tls";
import { ConnectError } from "../errors.ts";
import type { ConnectAttempt } from "../_socket_failures.ts";
import {
  type ConnectTarget,
  type TlsClientSettings,
  unixAddr,
} from "../_transport_options.ts";
import type { Transport } from "../transport.ts";
import { type NodeSocket, NodeTransport } from "./_node_transport.ts";

/** The part of `node:net` this module uses. */
interface NodeNet {
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

/** The part of `tls.connect()`'s options this module uses. */
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

/** The part of `node:tls` this module uses. */
interface NodeTls {
  connect(options: NodeTlsConnectOptions): NodeSocket;
  checkServerIdentity(host: string, cert: PeerCertificate): Error | undefined;
}

const net = nodeNet as unknown as NodeNet;
const tls = nodeTls as unknown as NodeTls;

/**
 * Resolves with the transport once `socket` emits `event`; rejects on an
 * earlier error, with a `ConnectError` `"ETLS"` for a TLS socket whose TCP
 * connection was made. Destroys the socket when it fails or the attempt is
 * given up.
 */
function connected(
  socket: NodeSocket,
  event: "connect" | "secureConnect",
  attempt: ConnectAttempt,
  transport: () => Transport,
): Promise<Transport> {
  return new Promise((resolve, reject) => {
    let tcpConnected = false;
    const onTcpConnect = () => (tcpConnected = true);
    const done = () => {
      socket.removeListener("error", onError);
      socket.removeListener("connect", onTcpConnect);
      attempt.signal.removeEventListener("abort", onAbort);
    };
    const onError = (error: Error) => {
      done();
      socket.destroy();
      reject(
        tcpConnected
          ? new ConnectError(attempt.address, "ETLS", { cause: error })
          : error,
      );
    };
    const onAbort = () => {
      done();
      socket.destroy();
      reject(attempt.signal.reason);
    };
    socket.once("error", onError);
    if (event === "secureConnect") socket.once("connect", onTcpConnect);
    attempt.signal.addEventListener("abort", onAbort);
    socket.once(event, () => {
      done();
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
 * Connects to `target` with `node:net` or `node:tls`: half-open allowed,
 * Nagle's algorithm off.
 */
export function nodeOpen(
  target: ConnectTarget,
  attempt: ConnectAttempt,
): Promise<Transport> {
  if (target.kind === "unix") {
    const path = target.path;
    const socket = net.connect({ path, allowHalfOpen: true });
    return connected(
      socket,
      "connect",
      attempt,
      () =>
        new NodeTransport(socket, {
          local: unixAddr(""),
          remote: unixAddr(path),
        }),
    );
  }
  const address = {
    host: target.hostname,
    port: target.port,
    allowHalfOpen: true,
    noDelay: true,
  };
  if (target.tls === null) {
    const socket = net.connect(address);
    return connected(
      socket,
      "connect",
      attempt,
      () => new NodeTransport(socket),
    );
  }
  const socket = tls.connect({
    ...address,
    ...tlsClientOptions(target.hostname, target.tls),
  });
  return connected(
    socket,
    "secureConnect",
    attempt,
    () => new NodeTransport(socket),
  );
}
