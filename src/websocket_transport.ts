/**
 * A {@linkcode Transport} over a WebSocket, so framewire's server and client
 * can speak to browsers and through WebSocket gateways: each binary message
 * carries one frame, as the format hands it out, with no length prefix.
 *
 * @module
 */
import type { NetAddr, Transport, TransportEvents } from "./transport.ts";
import type { FrameFormatOption } from "./frame_format.ts";
import { type Framing, framingOf, writeFrameHeader } from "./_frame_header.ts";
import { FrameDecoder } from "./frame_decoder.ts";
import {
  ConnectionClosedError,
  DrainNoticeError,
  FrameTooLargeError,
  ProtocolError,
} from "./errors.ts";
import { integerOption, maxFrameSizeOption } from "./_validate.ts";

/**
 * The part of a WHATWG `WebSocket` that {@linkcode webSocketTransport} uses.
 * The browser's `WebSocket`, Deno's (the server side of
 * `Deno.upgradeWebSocket` too), Bun's and Node's global `WebSocket` (Node 22
 * and later) and the npm `ws` package's `WebSocket` all fit. Bun's
 * server-side `ServerWebSocket` does not: it reports to `Bun.serve`'s
 * `websocket` handlers instead, so it needs a small object that forwards
 * them.
 *
 * @example
 * ```ts
 * import type { WebSocketLike } from "./websocket_transport.ts";
 *
 * const socket: WebSocketLike = new WebSocket("ws://127.0.0.1:8080");
 * ```
 */
export interface WebSocketLike {
  /** Set to `"arraybuffer"`, so binary messages come as `ArrayBuffer`s. */
  binaryType: string;
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  /** Bytes passed to `send()` and not yet sent. */
  readonly bufferedAmount: number;
  /** Sends one binary message. */
  send(data: Uint8Array): void;
  /** Starts the closing handshake. */
  close(code?: number, reason?: string): void;
  /** Registers for `open`, `message`, `close` and `error`. */
  addEventListener(
    type: "open" | "message" | "close" | "error",
    // deno-lint-ignore no-explicit-any
    listener: (event: any) => void,
  ): void;
  /**
   * Stops reading from the network, where the implementation can (the `ws`
   * package's `WebSocket` can; a WHATWG `WebSocket` cannot).
   */
  pause?(): void;
  /** Resumes reading after `pause()`. */
  resume?(): void;
}

/**
 * Options of {@linkcode webSocketTransport}.
 *
 * @example
 * ```ts
 * import type { WebSocketTransportOptions } from "./websocket_transport.ts";
 *
 * const options: WebSocketTransportOptions = {
 *   format: "u32le-id",
 *   maxFrameSize: 1024 * 1024,
 *   remoteAddr: { transport: "websocket", hostname: "10.0.0.7", port: 52000 },
 * };
 * ```
 */
export interface WebSocketTransportOptions {
  /**
   * The frame format of the byte stream the transport presents, the same
   * as the server's or client's `format`. A message is one frame as the
   * format hands it out: the payload for `u32le`, the id and payload for
   * `u32le-id`, the whole frame for a format with `initialBytesToStrip` 0.
   *
   * @default {"u32le"}
   */
  format?: FrameFormatOption;
  /**
   * The largest frame (as handed out) a message may carry; a longer message
   * closes the socket with code 1009.
   *
   * @default {33554432}
   */
  maxFrameSize?: number;
  /**
   * Bytes of messages kept while reading is paused (see
   * {@linkcode webSocketTransport}); a message past it closes the socket
   * with code 1008.
   *
   * @default {max(67108864, 2 * maxFrameSize)}
   */
  maxPausedBytes?: number;
  /**
   * The close code sent when the transport closes the socket itself
   * (`closeWrite()` or `close()`), asked at that moment: a server returns
   * 1001 ("going away") while it shuts down.
   *
   * @default {() => 1000}
   */
  closeCode?: () => number;
  /** The local address. @default {transport "websocket", empty host name, port 0} */
  localAddr?: NetAddr;
  /** The peer's address. @default {transport "websocket", empty host name, port 0} */
  remoteAddr?: NetAddr;
}

const WEBSOCKET_ADDR: NetAddr = {
  transport: "websocket",
  hostname: "",
  port: 0,
};

/** The WebSocket close codes used here (RFC 6455, section 7.4.1). */
const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  unsupportedData: 1003,
  noStatus: 1005,
  abnormal: 1006,
  invalidData: 1007,
  policyViolation: 1008,
  tooBig: 1009,
  internalError: 1011,
} as const;
/** The close reason of a server's drain notice (see `DrainNoticeError`). */
const DRAIN_NOTICE_REASON = "drain notice";
/**
 * Milliseconds between looks at `bufferedAmount` while it is above zero:
 * the first wait, doubled after each look that finds bytes left, up to the
 * last (a peer that reads slowly costs a timer every 16 ms, not every 1).
 */
const DRAIN_POLL_FIRST_MS = 1;
const DRAIN_POLL_MAX_MS = 16;
const OPEN = 1;
const CLOSED = 3;

/**
 * Wraps a WebSocket as a {@linkcode Transport} whose byte stream holds frames
 * of `options.format`: each binary message received becomes one frame (its
 * header made here, in one allocation with the message), and the frames
 * written to the transport, whole or split across writes, go out one binary
 * message each.
 *
 * - A text message closes the socket with code 1003, a message longer than
 *   `maxFrameSize` with 1009, and one that is not a frame of the format (a
 *   format that keeps its header) with 1002: the transport then closes with
 *   a {@linkcode ProtocolError} ({@linkcode FrameTooLargeError} for 1009).
 * - `closeWrite()`: a WebSocket cannot half-close. Once every queued
 *   message has been sent (`bufferedAmount` 0) it starts the closing
 *   handshake with `closeCode()` (1000 by default), still delivering what
 *   arrives before the peer's close; the transport closes with the
 *   handshake. A drain notice written by a server (`drainNotice`) is sent
 *   as close code 1001 with the reason `"drain notice"`, and turned back
 *   into the notice on the receiving side.
 * - `pause()`: a WHATWG WebSocket cannot stop reading. While paused, the
 *   messages that arrive are kept, in order, and delivered on `resume()`,
 *   up to `maxPausedBytes` (past it the socket closes with 1008); a socket
 *   with `pause()` and `resume()` methods (the `ws` package's) is paused as
 *   well, so the peer is held back by TCP.
 * - `bufferedAmount` is the socket's (plus the bytes of a frame not yet
 *   written whole); `drain` is reported once the socket's falls to 0, found
 *   by looking at it while it is above 0: after 1 ms, then at doubling
 *   intervals up to every 16 ms.
 * - A close the transport starts, or a refusal, uses codes a browser's
 *   `WebSocket` may refuse to send (only 1000 and 3000 to 4999 are allowed
 *   there): it then closes with 1000 and the same reason.
 *
 * @param socket An open (or connecting) WebSocket; the transport sets its
 * `binaryType` to `"arraybuffer"` and listens to its events at once, keeping
 * what arrives until `start()`.
 * @param options The format, limits, close code and addresses.
 * @returns A transport for `Server.serveConnection()` or `new Client()`.
 * @throws {TypeError} An option has the wrong type, or the format cannot be
 * written.
 * @throws {RangeError} An option is out of range.
 *
 * @example Serve a WebSocket accepted by Deno.serve
 * ```ts
 * import { Server } from "../mod.ts";
 * import { webSocketTransport } from "./websocket_transport.ts";
 *
 * const server = new Server();
 * Deno.serve((request) => {
 *   const { socket, response } = Deno.upgradeWebSocket(request);
 *   server.serveConnection(webSocketTransport(socket));
 *   return response;
 * });
 * ```
 */
export function webSocketTransport(
  socket: WebSocketLike,
  options: WebSocketTransportOptions = {},
): Transport {
  const framing = framingOf(
    options.format,
    maxFrameSizeOption(options.maxFrameSize),
  );
  if (framing.encodes === null) throw framing.unwritable("use WebSocket");
  const maxPausedBytes = integerOption(
    "maxPausedBytes",
    options.maxPausedBytes,
    Math.max(64 * 1024 * 1024, 2 * framing.maxFrameSize),
    0,
  );
  const closeCode = options.closeCode ?? (() => CloseCode.normal);
  if (typeof closeCode !== "function") {
    throw new TypeError("Cannot use closeCode: it is not a function");
  }
  return new WebSocketTransport(socket, framing, maxPausedBytes, closeCode, {
    localAddr: options.localAddr ?? WEBSOCKET_ADDR,
    remoteAddr: options.remoteAddr ?? WEBSOCKET_ADDR,
  });
}

/** A closing handshake the transport starts. */
interface Closing {
  code: number;
  reason: string;
}

class WebSocketTransport implements Transport {
  readonly localAddr: NetAddr;
  readonly remoteAddr: NetAddr;
  /** Each message is framed into a buffer of its own, never reused. */
  readonly readViewsWritable = true;
  #socket: WebSocketLike;
  #framing: Framing;
  #maxPausedBytes: number;
  #closeCode: () => number;
  /** Splits what the core writes back into frames, one message each. */
  #splitter: FrameDecoder;
  #events: TransportEvents | null = null;
  /** Frames received before start() or while paused. */
  #held: Uint8Array[] = [];
  #heldBytes = 0;
  #paused = false;
  /** The peer's close, seen before start(). */
  #closeSeen: { code: number; reason: string; wasClean: boolean } | null = null;
  #error: unknown = undefined;
  #writeEnded = false;
  /** The server wrote its drain notice: the close says so. */
  #noticeWritten = false;
  #closed = false;
  /** What the transport closed with, for a start() after it closed. */
  #closedError: unknown = undefined;
  #pollTimer: ReturnType<typeof setTimeout> | undefined = undefined;

  constructor(
    socket: WebSocketLike,
    framing: Framing,
    maxPausedBytes: number,
    closeCode: () => number,
    addrs: { localAddr: NetAddr; remoteAddr: NetAddr },
  ) {
    this.#socket = socket;
    this.#framing = framing;
    this.#maxPausedBytes = maxPausedBytes;
    this.#closeCode = closeCode;
    this.localAddr = addrs.localAddr;
    this.remoteAddr = addrs.remoteAddr;
    // Resolved already, with its maxFrameSize.
    this.#splitter = new FrameDecoder(
      (frame) => this.#socket.send(frame),
      { format: framing as unknown as FrameFormatOption },
    );
    socket.binaryType = "arraybuffer";
    socket.addEventListener("message", (event) => this.#message(event.data));
    socket.addEventListener("error", (event) => {
      this.#error ??= event?.error ?? event;
    });
    socket.addEventListener("close", (event) => this.#peerClosed(event));
    if (socket.readyState === CLOSED) {
      this.#closeSeen = {
        code: CloseCode.abnormal,
        reason: "",
        wasClean: false,
      };
    }
  }

  get bufferedAmount(): number {
    if (this.#closed) return 0;
    return this.#socket.bufferedAmount + this.#splitter.bufferedBytes;
  }

  start(events: TransportEvents): void {
    this.#events = events;
    if (this.#closed) {
      events.closed(this.#closedError);
      return;
    }
    if (!this.#paused) this.#deliverHeld();
    const seen = this.#closeSeen;
    if (seen !== null && !this.#closed) this.#peerClosed(seen);
  }

  /** One message received: checked, framed and delivered (or kept). */
  #message(data: unknown): void {
    if (this.#closed) return;
    let payload: Uint8Array;
    if (data instanceof ArrayBuffer) payload = new Uint8Array(data);
    else if (ArrayBuffer.isView(data)) {
      payload = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    } else {
      this.#refuse(
        CloseCode.unsupportedData,
        new ProtocolError(
          typeof data === "string"
            ? "Cannot read message: text messages are not accepted, only binary ones"
            : `Cannot read message: ${typeOf(data)} is not binary data`,
        ),
      );
      return;
    }
    const frame = this.#frame(payload);
    if (frame === null) return;
    if (this.#events === null || this.#paused || this.#held.length > 0) {
      this.#held.push(frame);
      this.#heldBytes += frame.length;
      if (this.#heldBytes > this.#maxPausedBytes && this.#events !== null) {
        this.#refuse(
          CloseCode.policyViolation,
          new ProtocolError(
            `Cannot read message: ${this.#heldBytes} bytes arrived while reading was paused, over maxPausedBytes ${this.#maxPausedBytes}`,
          ),
        );
      }
      return;
    }
    this.#events.data(frame);
  }

  /** The frame of a message's payload, header and all; null when refused. */
  #frame(payload: Uint8Array): Uint8Array | null {
    const framing = this.#framing;
    const length = payload.length;
    if (framing.isDefault) {
      if (length > framing.maxFrameSize) {
        this.#refuse(
          CloseCode.tooBig,
          new FrameTooLargeError("decode", length, framing.maxFrameSize),
        );
        return null;
      }
      const frame = new Uint8Array(4 + length);
      frame.set(payload, writeFrameHeader(frame, 0, length));
      return frame;
    }
    try {
      framing.checkOutgoing(payload);
    } catch (error) {
      if (error instanceof FrameTooLargeError) {
        this.#refuse(
          CloseCode.tooBig,
          new FrameTooLargeError("decode", length, framing.maxFrameSize),
        );
      } else {
        this.#refuse(
          CloseCode.protocolError,
          new ProtocolError(
            `Cannot read message: it is not a frame of the format (${
              (error as Error).message
            })`,
            { cause: error },
          ),
        );
      }
      return null;
    }
    if (framing.encodes === "whole") return payload;
    const frame = new Uint8Array(framing.frameSize(payload));
    framing.writeFrame(frame, 0, payload);
    return frame;
  }

  #deliverHeld(): void {
    const events = this.#events!;
    const held = this.#held;
    let i = 0;
    while (i < held.length && !this.#paused && !this.#closed) {
      const frame = held[i++];
      this.#heldBytes -= frame.length;
      events.data(frame);
    }
    held.splice(0, i);
  }

  write(bytes: Uint8Array): void {
    if (this.#closed || this.#writeEnded || this.#noticeWritten) return;
    try {
      this.#splitter.push(bytes);
    } catch (error) {
      if (error instanceof DrainNoticeError) {
        this.#noticeWritten = true;
      } else {
        this.#refuse(CloseCode.internalError, error);
        return;
      }
    }
    this.#pollDrain();
  }

  /** Reports `drain` once the socket has sent everything. */
  #pollDrain(): void {
    if (this.#pollTimer !== undefined || this.#closed) return;
    if (this.#socket.bufferedAmount === 0) return;
    let wait = DRAIN_POLL_FIRST_MS;
    const poll = () => {
      this.#pollTimer = undefined;
      if (this.#closed) return;
      if (this.#socket.bufferedAmount > 0) {
        wait = Math.min(wait * 2, DRAIN_POLL_MAX_MS);
        this.#pollTimer = setTimeout(poll, wait);
        return;
      }
      if (this.#writeEnded) this.#sendClose();
      else this.#events?.drain();
    };
    this.#pollTimer = setTimeout(poll, wait);
  }

  pause(): void {
    if (this.#paused || this.#closed) return;
    this.#paused = true;
    this.#socket.pause?.();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (this.#closed) return;
    this.#socket.resume?.();
    if (this.#events !== null) this.#deliverHeld();
  }

  closeWrite(): void {
    if (this.#closed || this.#writeEnded) return;
    this.#writeEnded = true;
    this.#splitter.end(); // a partial frame is dropped: it cannot be sent
    if (this.#socket.bufferedAmount > 0) this.#pollDrain();
    else this.#sendClose();
  }

  /** Starts the closing handshake for closeWrite(). */
  #sendClose(): void {
    const code = this.#noticeWritten ? CloseCode.goingAway : this.#closeCode();
    this.#closeSocket({
      code,
      reason: this.#noticeWritten
        ? DRAIN_NOTICE_REASON
        : code === CloseCode.goingAway
        ? "going away"
        : "",
    });
  }

  close(): void {
    if (this.#closed) return;
    const code = this.#closeCode();
    // Closed first: a socket may report its close during close() (Bun's does).
    this.#finish(undefined);
    this.#closeSocket({
      code,
      reason: code === CloseCode.goingAway ? "going away" : "",
    });
  }

  /** Closes with `code` for a broken rule of the peer's, failing with `error`. */
  #refuse(code: number, error: unknown): void {
    if (this.#closed) return;
    const reason = error instanceof Error ? error.message : String(error);
    this.#finish(error); // first, as in close()
    this.#closeSocket({ code, reason });
  }

  #closeSocket(closing: Closing): void {
    const socket = this.#socket;
    if (socket.readyState > OPEN) return;
    const reason = shortReason(closing.reason);
    try {
      socket.close(closing.code, reason);
    } catch {
      // A browser's WebSocket only sends 1000 and 3000-4999.
      try {
        socket.close(CloseCode.normal, reason);
      } catch {
        // Closing already.
      }
    }
  }

  /** The close event: the handshake is done (or the connection lost). */
  #peerClosed(
    event: { code: number; reason: string; wasClean: boolean },
  ): void {
    if (this.#closed) return;
    const events = this.#events;
    if (events === null) {
      this.#closeSeen = {
        code: event.code,
        reason: event.reason,
        wasClean: event.wasClean,
      };
      return;
    }
    if (this.#paused) {
      // What arrived before the close still goes in, ahead of it.
      this.#paused = false;
      this.#deliverHeld();
      if (this.#closed) return;
    }
    const code = event.code;
    const reason = event.reason ?? "";
    const notice = this.#framing.drainNotice;
    if (
      notice !== null && code === CloseCode.goingAway &&
      reason === DRAIN_NOTICE_REASON
    ) {
      events.data(notice.slice());
      if (this.#closed) return;
    }
    const clean = code === CloseCode.normal || code === CloseCode.goingAway ||
      code === CloseCode.noStatus;
    if (clean && (event.wasClean !== false || this.#writeEnded)) {
      if (!this.#writeEnded) events.end();
      this.#finish(undefined);
      return;
    }
    const detail = `the peer closed the WebSocket with code ${code}${
      reason === "" ? "" : ` (${reason})`
    }`;
    const cause = this.#error === undefined
      ? undefined
      : { cause: this.#error };
    this.#finish(
      code === CloseCode.protocolError || code === CloseCode.unsupportedData ||
        code === CloseCode.invalidData || code === CloseCode.policyViolation ||
        code === CloseCode.tooBig
        ? new ProtocolError(`Cannot read message: ${detail}`, cause)
        : new ConnectionClosedError(
          `Cannot read message: ${
            code === CloseCode.abnormal
              ? "the WebSocket connection was lost"
              : detail
          }`,
          cause,
        ),
    );
  }

  #finish(error: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closedError = error;
    clearTimeout(this.#pollTimer);
    this.#pollTimer = undefined;
    this.#held = [];
    this.#heldBytes = 0;
    this.#events?.closed(error);
  }
}

/** `reason` cut to the 123 bytes of UTF-8 a close frame holds. */
function shortReason(reason: string): string {
  const encoder = new TextEncoder();
  if (encoder.encode(reason).length <= 123) return reason;
  let cut = reason.slice(0, 120);
  while (encoder.encode(cut).length > 120) cut = cut.slice(0, -1);
  return `${cut}...`;
}

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") {
    return (value as object).constructor?.name ?? "an object";
  }
  return typeof value;
}
