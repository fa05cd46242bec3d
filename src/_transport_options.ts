/**
 * Validation and defaults of {@linkcode ListenOptions} and
 * {@linkcode ConnectOptions}, shared by the adapters, and the runtime-neutral
 * part of listening on a Unix socket path (what to do with a file already
 * there, and removing the file on close).
 *
 * @module
 */
import { AddressInUseError } from "./errors.ts";
import { formatHost } from "./_log_format.ts";
import { integerOption, MAX_TIMEOUT, portOption } from "./_validate.ts";
import type {
  ConnectOptions,
  ListenOptions,
  NetAddr,
  TlsListenOptions,
} from "./transport.ts";

/** Where a listener binds, validated, with defaults applied. */
export type ListenTarget =
  | {
    kind: "tcp";
    hostname: string;
    port: number;
    tls: TlsListenOptions | null;
    reusePort: boolean;
  }
  | { kind: "unix"; path: string };

/** How a client checks a TLS server, validated. */
export interface TlsClientSettings {
  /** CA certificates (PEM), or null for the runtime's default roots. */
  ca: string[] | null;
  /** Name checked against the certificate, and sent for SNI unless an IP address. */
  serverName: string;
}

/** How long a connection attempt may take, and what cancels it. */
export interface ConnectLimits {
  /** Milliseconds for the connection and any TLS handshake; 0 for no limit. */
  connectTimeout: number;
  /** The caller's signal, or null. */
  signal: AbortSignal | null;
}

/** Where a client connects, validated, with defaults applied. */
export type ConnectTarget =
  & (
    | {
      kind: "tcp";
      hostname: string;
      port: number;
      tls: TlsClientSettings | null;
    }
    | { kind: "unix"; path: string }
  )
  & ConnectLimits;

/** The default `connectTimeout`, in milliseconds. */
export const DEFAULT_CONNECT_TIMEOUT = 10_000;

/**
 * A target's address as errors name it: `host:port` (an IPv6 address in
 * brackets) or the Unix socket's path.
 */
export function targetAddress(
  target:
    | { kind: "tcp"; hostname: string; port: number }
    | { kind: "unix"; path: string },
): string {
  return target.kind === "unix"
    ? target.path
    : `${formatHost(target.hostname)}:${target.port}`;
}

function hostOption(action: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== "string" || value === "") {
    throw new TypeError(
      `Cannot ${action}: host must be a non-empty string, got ${
        typeof value === "string" ? '""' : String(value)
      }`,
    );
  }
  return value;
}

function connectLimits(options: ConnectOptions): ConnectLimits {
  const signal = options.signal ?? null;
  if (
    signal !== null &&
    (typeof signal !== "object" || typeof signal.aborted !== "boolean" ||
      typeof signal.addEventListener !== "function")
  ) {
    throw new TypeError("Cannot connect: signal must be an AbortSignal");
  }
  return {
    connectTimeout: integerOption(
      "connectTimeout",
      options.connectTimeout,
      DEFAULT_CONNECT_TIMEOUT,
      0,
      MAX_TIMEOUT,
    ),
    signal,
  };
}

/**
 * The longest Unix socket path, in bytes: Linux's `sun_path` holds 108 with
 * the final NUL. (macOS and the BSDs hold 104: there a path of 104 to 107
 * bytes fails when the socket is made.)
 */
const MAX_UNIX_PATH_BYTES = 107;

function pathOf(action: string, options: ListenOptions | ConnectOptions) {
  const path = options.path;
  if (path === undefined) return undefined;
  if (typeof path !== "string" || path === "") {
    throw new TypeError(`Cannot ${action}: path must be a non-empty string`);
  }
  const bytes = new TextEncoder().encode(path).length;
  if (bytes > MAX_UNIX_PATH_BYTES) {
    throw new RangeError(
      `Cannot ${action}: path must be at most ${MAX_UNIX_PATH_BYTES} bytes (the Unix socket limit), got ${bytes}`,
    );
  }
  if (
    options.host !== undefined || options.port !== undefined ||
    (options.tls !== undefined && options.tls !== false)
  ) {
    throw new TypeError(
      `Cannot ${action}: path (a Unix socket) cannot be combined with host, port or tls`,
    );
  }
  return path;
}

function pemOption(action: string, name: string, value: unknown): string {
  if (typeof value !== "string" || !value.includes("-----BEGIN ")) {
    throw new TypeError(`Cannot ${action}: ${name} must be PEM text`);
  }
  return value;
}

/**
 * Validates listen options and applies the defaults (host 0.0.0.0, port 1234).
 *
 * @throws {TypeError} On a malformed path, host, port or TLS option, or a path
 * combined with host, port or tls.
 * @throws {RangeError} On a port that is not an integer from 0 to 65535.
 */
export function listenTarget(options: ListenOptions): ListenTarget {
  const path = pathOf("listen", options);
  const reusePort = options.reusePort ?? false;
  if (typeof reusePort !== "boolean") {
    throw new TypeError("Cannot listen: reusePort must be a boolean");
  }
  if (path !== undefined) {
    if (reusePort) {
      throw new TypeError(
        "Cannot listen: reusePort is for TCP ports, not Unix socket paths",
      );
    }
    return { kind: "unix", path };
  }
  const tls = options.tls;
  if (tls !== undefined && (typeof tls !== "object" || tls === null)) {
    throw new TypeError("Cannot listen: tls must be an object { cert, key }");
  }
  return {
    kind: "tcp",
    hostname: hostOption("listen", options.host, "0.0.0.0"),
    port: portOption("listen", options.port, 1234, 0),
    tls: tls === undefined ? null : {
      cert: pemOption("listen", "tls.cert", tls.cert),
      key: pemOption("listen", "tls.key", tls.key),
    },
    reusePort,
  };
}

/**
 * Validates connect options and applies the defaults (host 127.0.0.1, port
 * 1234, TLS server name = host, connect timeout 10 s).
 *
 * @throws {TypeError} On a malformed path, host, port, TLS option, timeout or
 * signal, or a path combined with host, port or tls.
 * @throws {RangeError} On a port that is not an integer from 1 to 65535, or a
 * timeout out of range.
 */
export function connectTarget(options: ConnectOptions): ConnectTarget {
  const path = pathOf("connect", options);
  const limits = connectLimits(options);
  if (path !== undefined) return { kind: "unix", path, ...limits };
  const hostname = hostOption("connect", options.host, "127.0.0.1");
  const port = portOption("connect", options.port, 1234, 1);
  const tls = options.tls;
  if (tls === undefined || tls === false) {
    return { kind: "tcp", hostname, port, tls: null, ...limits };
  }
  if (tls === true) {
    return {
      kind: "tcp",
      hostname,
      port,
      tls: { ca: null, serverName: hostname },
      ...limits,
    };
  }
  if (typeof tls !== "object" || tls === null) {
    throw new TypeError(
      "Cannot connect: tls must be true, false or an object { ca, serverName }",
    );
  }
  let ca: string[] | null = null;
  if (tls.ca !== undefined) {
    const list = typeof tls.ca === "string" ? [tls.ca] : tls.ca;
    if (!Array.isArray(list) || list.length === 0) {
      throw new TypeError(
        "Cannot connect: tls.ca must be PEM text or a non-empty array of it",
      );
    }
    ca = list.map((pem) => pemOption("connect", "tls.ca", pem));
  }
  const serverName = tls.serverName ?? hostname;
  if (typeof serverName !== "string" || serverName === "") {
    throw new TypeError(
      "Cannot connect: tls.serverName must be a non-empty string",
    );
  }
  return { kind: "tcp", hostname, port, tls: { ca, serverName }, ...limits };
}

/**
 * The address of a Unix socket: its path in `hostname` (`""` when unnamed,
 * as a client's end usually is), port 0.
 */
export function unixAddr(path: string | null | undefined): NetAddr {
  return { transport: "unix", hostname: path ?? "", port: 0 };
}

/** What claiming and releasing a Unix socket path needs from a runtime. */
export interface UnixPathOps {
  /**
   * What is at `path`: `"socket"`, `"other"`, or null when nothing is
   * (following no symbolic link).
   */
  kind(path: string): "socket" | "other" | null;
  /**
   * Connects to the socket at `path` and closes the connection: true when a
   * server accepted, false when the connection was refused (the file is
   * stale). Other failures reject.
   */
  probe(path: string): Promise<boolean>;
  /** Removes the file at `path`. */
  remove(path: string): void;
}

/**
 * Makes `path` free for a new listener: nothing there is fine; a socket no
 * server answers on (left by a server that did not close) is removed.
 *
 * @throws {AddressInUseError} When a server answers at `path`, when
 * something other than a socket is there, or when the probe fails otherwise.
 */
export async function claimUnixPath(
  path: string,
  ops: UnixPathOps,
): Promise<void> {
  const kind = ops.kind(path);
  if (kind === null) return;
  if (kind !== "socket") {
    throw new AddressInUseError(path, "the path exists and is not a socket");
  }
  let answering: boolean;
  try {
    answering = await ops.probe(path);
  } catch (error) {
    throw new AddressInUseError(
      path,
      "cannot tell whether a server answers there",
      { cause: error },
    );
  }
  if (answering) {
    throw new AddressInUseError(path, "a server is answering there");
  }
  try {
    ops.remove(path);
  } catch (error) {
    if (ops.kind(path) !== null) {
      throw new AddressInUseError(path, "cannot remove the stale socket", {
        cause: error,
      });
    }
  }
}

/**
 * Removes the socket file at `path` when a listener closes, if a socket is
 * still there (`Deno.listen` leaves it; `node:net` and `Bun.listen` remove it
 * themselves).
 */
export function releaseUnixPath(path: string, ops: UnixPathOps): void {
  try {
    if (ops.kind(path) === "socket") ops.remove(path);
  } catch {
    // already gone
  }
}
