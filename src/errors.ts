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
   * Creates the error.
   *
   * @param message What failed, then a colon and the detail.
   * @param options `cause`: the error that closed the connection, if any.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectionClosedError";
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
 * A listener cannot take its address: a Unix socket path where a server
 * still answers, or where something other than a socket is in the way.
 * (A TCP port in use fails with the runtime's own error.)
 *
 * @example
 * ```ts
 * import { AddressInUseError } from "./errors.ts";
 *
 * const error = new AddressInUseError("/tmp/framewire.sock", "a server is answering there");
 * console.log(error.message); // "Cannot listen on /tmp/framewire.sock: a server is answering there"
 * console.log(error.address); // "/tmp/framewire.sock"
 * ```
 */
export class AddressInUseError extends FramewireError {
  /** The address that is taken: for a Unix socket, its path. */
  readonly address: string;

  /**
   * Creates the error.
   *
   * @param address The address that is taken.
   * @param detail Why it cannot be used.
   * @param options `cause`: the underlying error, if any.
   */
  constructor(address: string, detail: string, options?: ErrorOptions) {
    super(`Cannot listen on ${address}: ${detail}`, options);
    this.name = "AddressInUseError";
    this.address = address;
  }
}
