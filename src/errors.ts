/**
 * Error classes thrown and reported by framewire.
 *
 * Every error has `name` set to its class name, so it can be told apart after
 * crossing an `await`, a worker boundary or a log line. Messages read
 * "action: detail" with no final period.
 *
 * @module
 */

/**
 * Base class of every error framewire raises for protocol or connection
 * failures. Bad arguments throw the built-in `TypeError` or `RangeError`
 * instead.
 *
 * @example Catch anything framewire raises
 * ```ts
 * import { FramewireError } from "./errors.ts";
 *
 * try {
 *   throw new FramewireError("Cannot serve: example");
 * } catch (error) {
 *   if (error instanceof FramewireError) console.log(error.name);
 * }
 * ```
 */
export class FramewireError extends Error {
  /**
   * Creates the error.
   *
   * @param message What failed, then a colon and the detail.
   * @param options `cause`: the underlying error, if any.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FramewireError";
  }
}

/**
 * The peer broke the wire protocol: the connection that carried the bytes
 * cannot be used any more.
 *
 * @example
 * ```ts
 * import { ProtocolError } from "./errors.ts";
 *
 * const error = new ProtocolError("Cannot decode frame: stream ended mid-frame");
 * console.log(error.name); // "ProtocolError"
 * ```
 */
export class ProtocolError extends FramewireError {
  /**
   * Creates the error.
   *
   * @param message What failed, then a colon and the detail.
   * @param options `cause`: the underlying error, if any.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProtocolError";
  }
}

/**
 * A frame's length is larger than the configured `maxFrameSize`. When
 * decoding, it is raised from the 4-byte header alone, before any memory is
 * set aside for the payload.
 *
 * @example
 * ```ts
 * import { FrameTooLargeError } from "./errors.ts";
 *
 * const error = new FrameTooLargeError("decode", 70000000, 33554432);
 * console.log(error.message);
 * // "Cannot decode frame: length 70000000 exceeds maxFrameSize 33554432"
 * ```
 */
export class FrameTooLargeError extends ProtocolError {
  /** The length the frame declared (decode) or had (encode), in bytes. */
  readonly length: number;
  /** The limit it exceeded, in bytes. */
  readonly maxFrameSize: number;

  /**
   * Creates the error.
   *
   * @param action `"decode"` for a received header, `"encode"` for an outgoing payload.
   * @param length The frame's payload length in bytes.
   * @param maxFrameSize The limit in force.
   * @param options `cause`: the underlying error, if any.
   */
  constructor(
    action: "decode" | "encode",
    length: number,
    maxFrameSize: number,
    options?: ErrorOptions,
  ) {
    super(
      `Cannot ${action} frame: length ${length} exceeds maxFrameSize ${maxFrameSize}`,
      options,
    );
    this.name = "FrameTooLargeError";
    this.length = length;
    this.maxFrameSize = maxFrameSize;
  }
}

/**
 * The peer sent a drain notice: a frame header whose length field holds its
 * largest value, which no frame within `maxFrameSize` can have. A server
 * with `drainNotice` writes it when it closes a connection after answering
 * every request it read (on shutdown, or an idle or frame timeout): every
 * request on that connection still unanswered was never processed, and can
 * be sent again elsewhere. framewire's client does so itself; a
 * `FrameDecoder` user gets this error.
 *
 * @example
 * ```ts
 * import { DrainNoticeError } from "./errors.ts";
 *
 * const error = new DrainNoticeError();
 * console.log(error.message);
 * // "Cannot decode frame: the peer sent a drain notice (it is closing; it processed no request it did not answer)"
 * ```
 */
export class DrainNoticeError extends ProtocolError {
  /**
   * Creates the error.
   *
   * @param options `cause`: the underlying error, if any.
   */
  constructor(options?: ErrorOptions) {
    super(
      "Cannot decode frame: the peer sent a drain notice (it is closing; it processed no request it did not answer)",
      options,
    );
    this.name = "DrainNoticeError";
  }
}

/**
 * The connection closed before a request was answered, or a request was made
 * on a client that is closing or closed. A request rejected with this error
 * may or may not have reached the server.
 *
 * @example
 * ```ts
 * import { ConnectionClosedError } from "./errors.ts";
 *
 * const error = new ConnectionClosedError("Cannot complete request: connection closed by peer");
 * console.log(error.name); // "ConnectionClosedError"
 * ```
 */
export class ConnectionClosedError extends FramewireError {
  /**
   * False when the request is known not to have run: it was never written
   * (it was still in the client's batch or queue when its connection was
   * lost for good), or the server's drain notice came before its answer
   * (see {@linkcode DrainNoticeError}). Sending it again then cannot run it
   * twice. True when it may have reached the server's handler.
   */
  readonly sent: boolean;

  /**
   * Creates the error.
   *
   * @param message What failed, then a colon and the detail.
   * @param options `cause`: the error that closed the connection, if any;
   * `sent`: false when the request is known not to have run
   * (default true).
   */
  constructor(
    message: string,
    options?: ErrorOptions & { sent?: boolean },
  ) {
    super(message, options);
    this.name = "ConnectionClosedError";
    this.sent = options?.sent ?? true;
  }
}

/**
 * A request got no response within the client's `requestTimeout`. A request
 * that was already written (`sent` is true) may have reached the server; the
 * client then closes that connection, because responses are matched to
 * requests by position and a late answer would be taken for the next one's.
 *
 * @example
 * ```ts
 * import { RequestTimeoutError } from "./errors.ts";
 *
 * const error = new RequestTimeoutError("complete", 5000);
 * console.log(error.message); // "Cannot complete request: timed out after 5000 ms"
 * console.log(error.sent); // true
 * ```
 */
export class RequestTimeoutError extends FramewireError {
  /** The timeout that expired, in milliseconds. */
  readonly timeout: number;
  /** Whether the request had been written to a connection before it timed out. */
  readonly sent: boolean;

  /**
   * Creates the error.
   *
   * @param action `"complete"` for a request already written, `"send"` for
   * one still waiting for a place or a connection.
   * @param timeout The timeout that expired, in milliseconds.
   * @param options `cause`: the underlying error, if any.
   */
  constructor(
    action: "send" | "complete",
    timeout: number,
    options?: ErrorOptions,
  ) {
    super(`Cannot ${action} request: timed out after ${timeout} ms`, options);
    this.name = "RequestTimeoutError";
    this.timeout = timeout;
    this.sent = action === "complete";
  }
}

/** Why a server closed a connection on a timer. */
export type ConnectionTimeoutReason = "idle" | "frame" | "write" | "handler";

/**
 * A server closed a connection because a timeout expired: it sent nothing
 * for `idleTimeout` (`"idle"`), left a frame incomplete for `frameTimeout`
 * (`"frame"`), read none of its responses for `writeTimeout` (`"write"`),
 * or a handler did not settle within `handlerTimeout` (`"handler"`). Passed
 * to the server's `onError`.
 *
 * @example
 * ```ts
 * import { ConnectionTimeoutError } from "./errors.ts";
 *
 * const error = new ConnectionTimeoutError("idle", 120000);
 * console.log(error.message); // "Cannot keep connection: no bytes received for 120000 ms"
 * console.log(error.reason); // "idle"
 * ```
 */
export class ConnectionTimeoutError extends FramewireError {
  /** Which timeout expired. */
  readonly reason: ConnectionTimeoutReason;
  /** The timeout that expired, in milliseconds. */
  readonly timeout: number;

  /**
   * Creates the error.
   *
   * @param reason Which timeout expired.
   * @param timeout Its length, in milliseconds.
   * @param detail Optional detail appended to the message.
   */
  constructor(reason: ConnectionTimeoutReason, timeout: number, detail = "") {
    const what = {
      idle: `Cannot keep connection: no bytes received for ${timeout} ms`,
      frame: `Cannot receive frame: incomplete after ${timeout} ms`,
      write: `Cannot send responses: peer read none for ${timeout} ms`,
      handler:
        `Cannot answer request: handler did not settle within ${timeout} ms`,
    }[reason];
    super(detail === "" ? what : `${what} (${detail})`);
    this.name = "ConnectionTimeoutError";
    this.reason = reason;
    this.timeout = timeout;
  }
}

/**
 * Why a server refused a connection's PROXY protocol header.
 *
 * @example
 * ```ts
 * import type { ProxyProtocolErrorReason } from "./errors.ts";
 *
 * const reason: ProxyProtocolErrorReason = "timeout";
 * ```
 */
export type ProxyProtocolErrorReason = "invalid" | "timeout" | "ended";

/**
 * A connection to a server with `proxyProtocol` enabled did not start with a
 * valid PROXY protocol header: the bytes break the specification
 * (`"invalid"`), the header did not arrive in full within the header timeout
 * (`"timeout"`), or the connection ended or failed before it was complete
 * (`"ended"`). The connection is closed unserved; the error is passed to the
 * server's `onError`.
 *
 * @example
 * ```ts
 * import { ProxyProtocolError } from "./errors.ts";
 *
 * const error = new ProxyProtocolError("invalid", "Cannot read PROXY header: no PROXY signature");
 * console.log(error.reason); // "invalid"
 * console.log(error instanceof Error); // true
 * ```
 */
export class ProxyProtocolError extends ProtocolError {
  /** What was wrong with the header. */
  readonly reason: ProxyProtocolErrorReason;

  /**
   * Creates the error.
   *
   * @param reason What was wrong with the header.
   * @param message What failed, then a colon and the detail.
   * @param options `cause`: the underlying error, if any.
   */
  constructor(
    reason: ProxyProtocolErrorReason,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "ProxyProtocolError";
    this.reason = reason;
  }
}

/**
 * What the `code` of a {@linkcode ConnectError} or {@linkcode ListenError}
 * means, in the words its message uses.
 */
const SOCKET_ERROR_TEXT: Readonly<Record<string, string>> = {
  EACCES: "permission denied",
  EADDRINUSE: "address already in use",
  EADDRNOTAVAIL: "address not available",
  EAI_AGAIN: "name lookup failed for now",
  ECONNABORTED: "connection aborted",
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset by peer",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ENOENT: "no such file or directory",
  ENOTFOUND: "host not found",
  EPERM: "operation not permitted",
  ETIMEDOUT: "timed out",
  ETLS: "TLS handshake failed",
};

/**
 * Options of {@linkcode ConnectError} and {@linkcode ListenError}.
 *
 * @example
 * ```ts
 * import type { SocketErrorOptions } from "./errors.ts";
 *
 * const options: SocketErrorOptions = { detail: "timed out after 50 ms" };
 * ```
 */
export interface SocketErrorOptions extends ErrorOptions {
  /**
   * What went wrong, for the message.
   * @default {the usual words for the code, else the cause's message}
   */
  detail?: string;
}

function socketErrorMessage(
  action: string,
  address: string,
  code: string,
  options: SocketErrorOptions | undefined,
): string {
  const cause = options?.cause;
  const detail = options?.detail ?? SOCKET_ERROR_TEXT[code] ??
    (cause instanceof Error && cause.message !== "" ? cause.message : "failed");
  return `Cannot ${action} ${address}: ${detail} (${code})`;
}

/**
 * A connection could not be opened. `code` says why, the same on every
 * runtime:
 *
 * - `ECONNREFUSED`: nothing listens there (or, for a Unix socket, the file is
 *   not a socket a server listens on);
 * - `ENOENT`: no Unix socket at that path;
 * - `ENOTFOUND`: the host name does not resolve (`EAI_AGAIN`: the lookup
 *   failed for now, as with no name server);
 * - `ETIMEDOUT`: no connection (and, with TLS, no finished handshake) within
 *   `connectTimeout`, or the system gave up;
 * - `ETLS`: the TCP connection was made but the TLS handshake failed: the
 *   certificate is not trusted or names another host, the server does not
 *   speak TLS, or it closed the connection during the handshake; the
 *   runtime's own error is the `cause`;
 * - `ECONNRESET`, `EHOSTUNREACH`, `ENETUNREACH`, `EADDRNOTAVAIL`, `EACCES`:
 *   as the system reports them;
 * - `EUNKNOWN`: the runtime gave no code (see `cause`).
 *
 * A connect cancelled with its `signal` rejects with the signal's reason
 * instead.
 *
 * @example Tell a refused connection from other failures
 * ```ts
 * import { ConnectError } from "./errors.ts";
 *
 * const error = new ConnectError("127.0.0.1:1", "ECONNREFUSED");
 * console.log(error.message); // "Cannot connect to 127.0.0.1:1: connection refused (ECONNREFUSED)"
 * if (error instanceof ConnectError && error.code === "ECONNREFUSED") {
 *   console.log(`nothing listens on ${error.address}`);
 * }
 * ```
 */
export class ConnectError extends FramewireError {
  /** Why, as a system error code such as `"ECONNREFUSED"`, or `"ETLS"`. */
  readonly code: string;
  /**
   * Where: `host:port` (an IPv6 address in brackets, `[::1]:1234`) or the
   * Unix socket's path.
   */
  readonly address: string;

  /**
   * Creates the error.
   *
   * @param address Where the connection was to go.
   * @param code Why it failed, such as `"ECONNREFUSED"`.
   * @param options `cause`: the runtime's error; `detail`: words for the
   * message instead of the usual ones for `code`.
   */
  constructor(address: string, code: string, options?: SocketErrorOptions) {
    super(socketErrorMessage("connect to", address, code, options), options);
    this.name = "ConnectError";
    this.code = code;
    this.address = address;
  }
}

/**
 * A listener could not bind its address. `code` says why, the same on every
 * runtime: `EADDRINUSE` (then the error is an {@linkcode AddressInUseError}),
 * `EADDRNOTAVAIL` (the host is not an address of this machine), `EACCES`
 * (a privileged port, or a folder the process may not write to), `ENOENT`
 * (the folder of a Unix socket path does not exist), `ENOTFOUND` (the host
 * name does not resolve), or `EUNKNOWN` when the runtime gave no code (see
 * `cause`).
 *
 * @example
 * ```ts
 * import { ListenError } from "./errors.ts";
 *
 * const error = new ListenError("203.0.113.1:1234", "EADDRNOTAVAIL");
 * console.log(error.message);
 * // "Cannot listen on 203.0.113.1:1234: address not available (EADDRNOTAVAIL)"
 * console.log(error.code); // "EADDRNOTAVAIL"
 * ```
 */
export class ListenError extends FramewireError {
  /** Why, as a system error code such as `"EADDRINUSE"`. */
  readonly code: string;
  /**
   * Where: `host:port` (an IPv6 address in brackets, `[::]:1234`) or the
   * Unix socket's path.
   */
  readonly address: string;

  /**
   * Creates the error.
   *
   * @param address The address that could not be bound.
   * @param code Why, such as `"EADDRNOTAVAIL"`.
   * @param options `cause`: the runtime's error; `detail`: words for the
   * message instead of the usual ones for `code`.
   */
  constructor(address: string, code: string, options?: SocketErrorOptions) {
    super(socketErrorMessage("listen on", address, code, options), options);
    this.name = "ListenError";
    this.code = code;
    this.address = address;
  }
}

/**
 * A listener's address is taken (`code` `"EADDRINUSE"`): a TCP port another
 * socket is bound to, a Unix socket path where a server still answers, or a
 * path where something other than a socket is in the way.
 *
 * @example
 * ```ts
 * import { AddressInUseError, ListenError } from "./errors.ts";
 *
 * const error = new AddressInUseError("/tmp/framewire.sock", "a server is answering there");
 * console.log(error.message);
 * // "Cannot listen on /tmp/framewire.sock: a server is answering there (EADDRINUSE)"
 * console.log(error.address); // "/tmp/framewire.sock"
 * console.log(error instanceof ListenError, error.code); // true "EADDRINUSE"
 * ```
 */
export class AddressInUseError extends ListenError {
  /**
   * Creates the error.
   *
   * @param address The address that is taken.
   * @param detail Why it cannot be used.
   * @param options `cause`: the underlying error, if any.
   */
  constructor(
    address: string,
    detail: string = SOCKET_ERROR_TEXT.EADDRINUSE,
    options?: ErrorOptions,
  ) {
    super(address, "EADDRINUSE", { ...options, detail });
    this.name = "AddressInUseError";
  }
}
