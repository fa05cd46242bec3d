/**
 * A sans-IO parser of the PROXY protocol header (versions 1 and 2), which
 * load balancers such as HAProxy, nginx `stream` and Envoy put before a
 * connection's bytes to tell the server who the real client is. It does no
 * I/O and never awaits: push the connection's first bytes, get back "needs
 * more", the parsed header with how many bytes of the chunk it took, or an
 * error.
 *
 * Follows https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt:
 * version 1 lines `PROXY TCP4|TCP6|UNKNOWN ...\r\n` of at most 107 bytes;
 * version 2 binary headers (12-byte signature, version and command byte,
 * family byte, big-endian length, addresses, TLVs). TLVs are skipped.
 *
 * @module
 */
import type { ProxyParseResult } from "./proxy_header.ts";
import { parseHeader, PROXY_V2_MAX_LENGTH } from "./_proxy_header_formats.ts";

export {
  PROXY_V1_MAX_LENGTH,
  PROXY_V2_MAX_LENGTH,
} from "./_proxy_header_formats.ts";

/**
 * Parses a PROXY header from the first bytes of a connection. Call it again
 * with more bytes while it answers `"incomplete"`; it rejects bytes that
 * cannot start a header as soon as it sees them.
 *
 * @param bytes The connection's bytes from its very first one.
 * @returns The outcome; `consumed` of a complete header is its length.
 *
 * @example
 * ```ts
 * import { parseProxyHeader } from "./proxy_protocol.ts";
 *
 * const line = new TextEncoder().encode("PROXY TCP4 192.0.2.1 192.0.2.2 5000 1234\r\n");
 * const result = parseProxyHeader(line);
 * if (result.status === "complete") console.log(result.header.source); // { transport: "tcp", hostname: "192.0.2.1", port: 5000 }
 * ```
 */
export function parseProxyHeader(bytes: Uint8Array): ProxyParseResult {
  return parseHeader(bytes);
}

/**
 * Reads a PROXY header from a connection's bytes as they arrive, in chunks
 * of any size. It keeps a copy of a header spread over chunks (a version 2
 * header may be up to 65,551 bytes long); a header within one chunk is
 * parsed in place. Push until the result is not `"incomplete"`.
 *
 * @example The header, then the connection's data, in one read
 * ```ts
 * import { ProxyHeaderParser } from "./proxy_protocol.ts";
 *
 * const read = new TextEncoder().encode("PROXY TCP6 2001:db8::1 2001:db8::2 40000 1234\r\nhello");
 * const parser = new ProxyHeaderParser();
 * const result = parser.push(read.subarray(0, 10)); // "incomplete"
 * const done = parser.push(read.subarray(10));
 * if (done.status === "complete") {
 *   console.log(done.header.source?.hostname); // "2001:db8::1"
 *   console.log(new TextDecoder().decode(read.subarray(10 + done.consumed))); // "hello"
 * }
 * ```
 */
export class ProxyHeaderParser {
  #held: Uint8Array | null = null;
  #length = 0;
  #finished = false;

  /** Bytes of an incomplete header held from earlier pushes. */
  get bufferedBytes(): number {
    return this.#length;
  }

  /**
   * Feeds the next bytes of the connection.
   *
   * @param chunk Bytes as read; not kept after the call returns.
   * @returns The outcome; `consumed` counts bytes of this chunk only.
   */
  push(chunk: Uint8Array): ProxyParseResult {
    if (this.#finished) {
      throw new Error("Cannot parse PROXY header: the parser has finished");
    }
    const before = this.#length;
    let result: ProxyParseResult;
    if (before === 0) {
      result = parseProxyHeader(chunk);
      if (result.status === "incomplete") this.#keep(chunk);
    } else {
      this.#keep(chunk);
      result = parseProxyHeader(this.#held!.subarray(0, this.#length));
    }
    if (result.status === "incomplete") return result;
    this.#finished = true;
    this.#held = null;
    this.#length = 0;
    if (result.status === "invalid" || before === 0) return result;
    return { ...result, consumed: result.header.length - before };
  }

  /** Appends what may still be header bytes: never more than the longest header. */
  #keep(chunk: Uint8Array): void {
    const count = Math.min(chunk.length, PROXY_V2_MAX_LENGTH - this.#length);
    const needed = this.#length + count;
    let held = this.#held;
    if (held === null || held.length < needed) {
      const grown = new Uint8Array(
        Math.min(
          Math.max(128, needed, 2 * (held?.length ?? 0)),
          PROXY_V2_MAX_LENGTH,
        ),
      );
      if (held !== null) grown.set(held.subarray(0, this.#length));
      this.#held = held = grown;
    }
    held.set(chunk.subarray(0, count), this.#length);
    this.#length = needed;
  }
}
