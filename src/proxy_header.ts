/**
 * What a PROXY protocol header says, and the transport a connection that
 * started with one is handed on as.
 *
 * @module
 */
import type { ProxyProtocolError } from "./errors.ts";
import type { NetAddr, Transport } from "./transport.ts";

/**
 * `"PROXY"`: the connection was relayed for the client in `source`.
 * `"LOCAL"` (version 2 only): the proxy opened it itself, for example as a
 * health check; the real socket addresses apply.
 *
 * @example
 * ```ts
 * import type { ProxyCommand } from "./proxy_header.ts";
 *
 * const isHealthCheck = (command: ProxyCommand) => command === "LOCAL";
 * ```
 */
export type ProxyCommand = "PROXY" | "LOCAL";

/**
 * The address family a header announces. `"UNKNOWN"` covers version 1's
 * `UNKNOWN` and version 2's unspecified family and the families a TCP server
 * has no use for (UDP, UNIX): their addresses are ignored.
 *
 * @example
 * ```ts
 * import type { ProxyFamily } from "./proxy_header.ts";
 *
 * const family: ProxyFamily = "TCP6";
 * ```
 */
export type ProxyFamily = "TCP4" | "TCP6" | "UNKNOWN";

/**
 * A parsed PROXY protocol header.
 *
 * @example
 * ```ts
 * import type { ProxyHeader } from "./proxy_header.ts";
 *
 * const header: ProxyHeader = {
 *   version: 2,
 *   command: "PROXY",
 *   family: "TCP4",
 *   source: { transport: "tcp", hostname: "203.0.113.7", port: 51234 },
 *   destination: { transport: "tcp", hostname: "10.0.0.5", port: 1234 },
 *   length: 28,
 * };
 * ```
 */
export interface ProxyHeader {
  /** 1 for the text format, 2 for the binary one. */
  readonly version: 1 | 2;
  /** What the connection is; always `"PROXY"` in version 1. */
  readonly command: ProxyCommand;
  /** The announced address family. */
  readonly family: ProxyFamily;
  /** The real client, or null when the header carries no address to use. */
  readonly source: NetAddr | null;
  /** The address the client connected to, or null likewise. */
  readonly destination: NetAddr | null;
  /** The header's length in bytes, TLVs and line end included. */
  readonly length: number;
}

/**
 * What one push gave: `"incomplete"` (push more bytes), `"complete"` (the
 * header, and `consumed`: how many bytes of the chunk just pushed belong to
 * it; the rest is connection data), or `"invalid"` (the connection must be
 * dropped).
 *
 * @example
 * ```ts
 * import type { ProxyParseResult } from "./proxy_header.ts";
 *
 * function describe(result: ProxyParseResult): string {
 *   if (result.status === "complete") return `client ${result.header.source?.hostname}`;
 *   if (result.status === "invalid") return result.error.message;
 *   return "waiting for more bytes";
 * }
 * ```
 */
export type ProxyParseResult =
  | { readonly status: "incomplete" }
  | {
    readonly status: "complete";
    readonly header: ProxyHeader;
    readonly consumed: number;
  }
  | { readonly status: "invalid"; readonly error: ProxyProtocolError };

/**
 * A connection that started with a valid PROXY header. `remoteAddr` and
 * `localAddr` are the header's source and destination (the real socket's
 * addresses for a `LOCAL` or `UNKNOWN` header); `peerAddr` is the socket's
 * real peer, the proxy.
 *
 * @example
 * ```ts
 * import type { ProxiedTransport } from "./proxy_header.ts";
 *
 * function describe(transport: ProxiedTransport): string {
 *   return `${transport.remoteAddr.hostname} via ${transport.peerAddr.hostname}`;
 * }
 * ```
 */
export interface ProxiedTransport extends Transport {
  /** The header the connection started with. */
  readonly proxyHeader: ProxyHeader;
  /** The address of the socket's real peer: the load balancer. */
  readonly peerAddr: NetAddr;
}
