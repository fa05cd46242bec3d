/**
 * Accepting PROXY protocol connections over any {@linkcode Transport}: read
 * the header from the raw connection, then hand on a transport whose
 * addresses are the ones the header announced and which delivers the bytes
 * after the header as its first data. The server does this for every
 * connection when its `proxyProtocol` option is on.
 *
 * @module
 */
import { ProxyProtocolError } from "./errors.ts";
import { ProxyHeaderParser } from "./proxy_protocol.ts";
import type { ProxiedTransport } from "./proxy_header.ts";
import type { Transport, TransportEvents } from "./transport.ts";
import { END, Proxied } from "./_proxied_transport.ts";

/**
 * Settings for reading a PROXY header.
 *
 * @example
 * ```ts
 * import type { ProxyHeaderOptions } from "./proxy_transport.ts";
 *
 * const options: ProxyHeaderOptions = { timeout: 3000 };
 * ```
 */
export interface ProxyHeaderOptions {
  /**
   * Milliseconds the whole header may take to arrive, from the start (0: no
   * limit). @default {5000}
   */
  timeout?: number;
}

/**
 * Where {@linkcode acceptProxyHeader} reports; exactly one is called, once,
 * unless the wait is cancelled.
 *
 * @example
 * ```ts
 * import type { ProxyHeaderEvents } from "./proxy_transport.ts";
 *
 * const events: ProxyHeaderEvents = {
 *   accept: (transport) => console.log(transport.remoteAddr),
 *   reject: (error) => console.error(error.message),
 * };
 * ```
 */
export interface ProxyHeaderEvents {
  /**
   * The header is complete and valid. Use `transport` from now on; its
   * `start()` delivers the bytes that followed the header first.
   */
  accept(transport: ProxiedTransport): void;
  /** The header is invalid, late or cut short; the connection is closed. */
  reject(error: ProxyProtocolError): void;
}

/**
 * The default header timeout, in milliseconds: 5 s, above the 3 s the
 * specification asks for to cover a TCP retransmit.
 *
 * @example
 * ```ts
 * import { DEFAULT_PROXY_HEADER_TIMEOUT } from "./proxy_transport.ts";
 *
 * console.log(DEFAULT_PROXY_HEADER_TIMEOUT); // 5000
 * ```
 */
export const DEFAULT_PROXY_HEADER_TIMEOUT = 5000;

/**
 * Starts `transport` and reads a PROXY protocol header (version 1 or 2)
 * from it. Bytes that cannot start a header are refused as soon as they
 * arrive. The header's bytes never reach the handed-on transport's reader.
 *
 * When `events.accept` starts the transport before it returns, the bytes
 * after the header are delivered within the same read, without a copy;
 * otherwise they are kept (copied) and reading pauses until it is started.
 *
 * @param transport A connection not yet started.
 * @param events Told of the outcome.
 * @param options The header timeout.
 * @returns A function that closes the connection if its header has not
 * been accepted or rejected yet, calling neither handler.
 *
 * @example Serve a connection that comes through a load balancer
 * ```ts
 * import { acceptProxyHeader } from "./proxy_transport.ts";
 * import { Server } from "./server.ts";
 * import type { Transport } from "./transport.ts";
 *
 * declare const raw: Transport;
 * const server = new Server();
 * acceptProxyHeader(raw, {
 *   accept: (transport) => server.serveConnection(transport),
 *   reject: (error) => console.error(error.message),
 * });
 * ```
 */
export function acceptProxyHeader(
  transport: Transport,
  events: ProxyHeaderEvents,
  options: ProxyHeaderOptions = {},
): () => void {
  const handshake = new ProxyHandshake(
    transport,
    events,
    options.timeout ?? DEFAULT_PROXY_HEADER_TIMEOUT,
  );
  return () => handshake.cancel();
}

/**
 * Promise form of {@linkcode acceptProxyHeader}.
 *
 * @param transport A connection not yet started.
 * @param options The header timeout.
 * @returns The proxied transport; rejects with `ProxyProtocolError` (the
 * connection is then closed).
 *
 * @example
 * ```ts
 * import { readProxyHeader } from "./proxy_transport.ts";
 * import type { Transport } from "./transport.ts";
 *
 * declare const raw: Transport;
 * const transport = await readProxyHeader(raw, { timeout: 3000 });
 * console.log(transport.remoteAddr); // the real client
 * ```
 */
export function readProxyHeader(
  transport: Transport,
  options: ProxyHeaderOptions = {},
): Promise<ProxiedTransport> {
  return new Promise((accept, reject) => {
    acceptProxyHeader(transport, { accept, reject }, options);
  });
}

const WAITING = 0;
const ACCEPTED = 1;
const FINISHED = 2;

/** Listens to the raw transport: parses the header, then forwards. */
class ProxyHandshake implements TransportEvents {
  #raw: Transport;
  #events: ProxyHeaderEvents;
  #parser = new ProxyHeaderParser();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #state = WAITING;
  #received = 0;
  #proxied: Proxied | null = null;

  constructor(raw: Transport, events: ProxyHeaderEvents, timeout: number) {
    this.#raw = raw;
    this.#events = events;
    if (timeout > 0) {
      this.#timer = setTimeout(() =>
        this.#reject(
          "timeout",
          `incomplete after ${timeout} ms (${this.#received} bytes received)`,
        ), timeout);
    }
    raw.start(this);
  }

  data(chunk: Uint8Array): boolean {
    if (this.#proxied !== null) return this.#proxied.receive(chunk);
    if (this.#state !== WAITING) return true;
    this.#received += chunk.length;
    const result = this.#parser.push(chunk);
    if (result.status === "incomplete") return true;
    if (result.status === "invalid") {
      this.#finish(result.error);
      return true;
    }
    clearTimeout(this.#timer);
    this.#state = ACCEPTED;
    const proxied = new Proxied(this.#raw, result.header);
    this.#proxied = proxied;
    this.#events.accept(proxied);
    return proxied.handOver(chunk.subarray(result.consumed));
  }

  end(): void {
    if (this.#proxied !== null) {
      this.#proxied.receive(END);
      return;
    }
    this.#reject("ended", `connection ended after ${this.#received} bytes`);
  }

  drain(): void {
    this.#proxied?.drained();
  }

  closed(error?: unknown): void {
    if (this.#proxied !== null) {
      this.#proxied.receive({ error });
      return;
    }
    this.#reject(
      "ended",
      `connection closed after ${this.#received} bytes`,
      error,
    );
  }

  cancel(): void {
    if (this.#state !== WAITING) return;
    this.#state = FINISHED;
    clearTimeout(this.#timer);
    this.#raw.close();
  }

  #reject(
    reason: "timeout" | "ended",
    detail: string,
    cause?: unknown,
  ): void {
    if (this.#state !== WAITING) return;
    this.#finish(
      new ProxyProtocolError(
        reason,
        `Cannot read PROXY header: ${detail}`,
        cause === undefined ? undefined : { cause },
      ),
    );
  }

  #finish(error: ProxyProtocolError): void {
    this.#state = FINISHED;
    clearTimeout(this.#timer);
    this.#raw.close();
    this.#events.reject(error);
  }
}
