// The server's side of the PROXY protocol: the `proxyProtocol` option, and
// the connections whose header is still awaited.
import { integerOption } from "./_validate.ts";
import type { ProxyProtocolError } from "./errors.ts";
import {
  acceptProxyHeader,
  DEFAULT_PROXY_HEADER_TIMEOUT,
  type ProxyHeaderOptions,
} from "./proxy_transport.ts";
import type { Transport } from "./transport.ts";

/** What {@linkcode ServerProxyProtocol} reports to its server. */
export interface ProxyProtocolEvents {
  /** The header of a connection is read: serve `transport` (the proxied one). */
  accept(transport: Transport): void;
  /** A connection's header was refused; the connection is closed. */
  reject(error: ProxyProtocolError, transport: Transport): void;
}

/**
 * Validates the `proxyProtocol` option: null when off, else the header
 * timeout in milliseconds.
 */
export function proxyProtocolOption(
  value: boolean | ProxyHeaderOptions | undefined,
): ProxyHeaderOptions | null {
  if (value === undefined || value === false) return null;
  if (value === true) return { timeout: DEFAULT_PROXY_HEADER_TIMEOUT };
  if (value === null || typeof value !== "object") {
    throw new TypeError(
      `Cannot use proxyProtocol: ${
        String(value)
      } is not a boolean or an object`,
    );
  }
  return {
    timeout: integerOption(
      "proxyProtocol.timeout",
      value.timeout,
      DEFAULT_PROXY_HEADER_TIMEOUT,
      0,
    ),
  };
}

/** Connections whose PROXY header is awaited; they count towards maxConnections. */
export class ServerProxyProtocol {
  #options: ProxyHeaderOptions;
  #events: ProxyProtocolEvents;
  #waiting = new Set<() => void>();

  constructor(options: ProxyHeaderOptions, events: ProxyProtocolEvents) {
    this.#options = options;
    this.#events = events;
  }

  /** Connections waiting for their header. */
  get size(): number {
    return this.#waiting.size;
  }

  /** Reads the header of `transport`, then has it served or refused. */
  accept(transport: Transport): void {
    const waiting = this.#waiting;
    // Set once acceptProxyHeader returns; a header settled before that is never added.
    const entry: { cancel?: () => void; settled: boolean } = { settled: false };
    const settle = () => {
      entry.settled = true;
      if (entry.cancel !== undefined) waiting.delete(entry.cancel);
    };
    entry.cancel = acceptProxyHeader(transport, {
      accept: (proxied) => {
        settle();
        this.#events.accept(proxied);
      },
      reject: (error) => {
        settle();
        this.#events.reject(error, transport);
      },
    }, this.#options);
    if (!entry.settled) waiting.add(entry.cancel);
  }

  /** Closes every connection still waiting for its header. */
  closeAll(): void {
    for (const cancel of this.#waiting) cancel();
    this.#waiting.clear();
  }
}
