// The two header formats of the PROXY protocol, parsed from a connection's
// first bytes: version 1's text line and version 2's binary header.
import { ProxyProtocolError } from "./errors.ts";
import type { ProxyHeader, ProxyParseResult } from "./proxy_header.ts";
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from "./_ip_address.ts";

/**
 * The longest version 1 line, CRLF included: a line without CRLF in its
 * first 107 bytes is invalid.
 *
 * @example
 * ```ts
 * import { PROXY_V1_MAX_LENGTH } from "./proxy_protocol.ts";
 *
 * console.log(PROXY_V1_MAX_LENGTH); // 107
 * ```
 */
export const PROXY_V1_MAX_LENGTH = 107;

/**
 * The longest version 2 header: 16 fixed bytes, then up to 65,535 bytes of
 * addresses and TLVs.
 *
 * @example
 * ```ts
 * import { PROXY_V2_MAX_LENGTH } from "./proxy_protocol.ts";
 *
 * console.log(PROXY_V2_MAX_LENGTH); // 65551
 * ```
 */
export const PROXY_V2_MAX_LENGTH: number = 16 + 0xffff;

// "\r\n\r\n\0\r\nQUIT\n": 0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A.
const V2_SIGNATURE = Array.from("\r\n\r\n\0\r\nQUIT\n", (c) => c.charCodeAt(0));
const V1_PREFIX = [0x50, 0x52, 0x4f, 0x58, 0x59, 0x20]; // "PROXY "
const CR = 0x0d;
const LF = 0x0a;
const INCOMPLETE: ProxyParseResult = { status: "incomplete" };

function invalid(detail: string): ProxyParseResult {
  return {
    status: "invalid",
    error: new ProxyProtocolError(
      "invalid",
      `Cannot read PROXY header: ${detail}`,
    ),
  };
}

function hex(bytes: Uint8Array, count: number): string {
  return Array.from(
    bytes.subarray(0, count),
    (b) => b.toString(16).padStart(2, "0"),
  ).join(" ");
}

function complete(header: ProxyHeader): ProxyParseResult {
  return { status: "complete", header, consumed: header.length };
}

/** Parses a header from a connection's first bytes; see parseProxyHeader. */
export function parseHeader(bytes: Uint8Array): ProxyParseResult {
  if (bytes.length === 0) return INCOMPLETE;
  if (bytes[0] === V2_SIGNATURE[0]) return parseV2(bytes);
  if (bytes[0] === V1_PREFIX[0]) return parseV1(bytes);
  return invalid(
    `no PROXY protocol signature (first bytes ${
      hex(bytes, 8)
    }; is the load balancer sending the PROXY protocol?)`,
  );
}

function parseV1(bytes: Uint8Array): ProxyParseResult {
  const prefix = Math.min(bytes.length, V1_PREFIX.length);
  for (let i = 1; i < prefix; i++) {
    if (bytes[i] !== V1_PREFIX[i]) {
      return invalid(
        `no PROXY protocol signature (first bytes ${hex(bytes, 8)})`,
      );
    }
  }
  const limit = Math.min(bytes.length, PROXY_V1_MAX_LENGTH);
  for (let i = V1_PREFIX.length; i < limit; i++) {
    const byte = bytes[i];
    if (byte === LF) return invalid("version 1 line ends in LF without CR");
    if (byte !== CR) continue;
    if (i + 1 >= PROXY_V1_MAX_LENGTH) break;
    if (i + 1 >= bytes.length) return INCOMPLETE;
    if (bytes[i + 1] !== LF) {
      return invalid("version 1 line has a CR not followed by LF");
    }
    return parseV1Line(String.fromCharCode(...bytes.subarray(0, i)), i + 2);
  }
  if (bytes.length >= PROXY_V1_MAX_LENGTH) {
    return invalid(
      `version 1 line has no CRLF in its first ${PROXY_V1_MAX_LENGTH} bytes`,
    );
  }
  return INCOMPLETE;
}

function parseV1Line(line: string, length: number): ProxyParseResult {
  const fields = line.split(" ");
  const family = fields[1];
  if (family === "UNKNOWN") {
    // The rest of the line, if any, is to be ignored.
    return complete({
      version: 1,
      command: "PROXY",
      family: "UNKNOWN",
      source: null,
      destination: null,
      length,
    });
  }
  if (family !== "TCP4" && family !== "TCP6") {
    return invalid(
      `version 1 protocol ${
        JSON.stringify(family ?? "")
      } is not TCP4, TCP6 or UNKNOWN`,
    );
  }
  if (fields.length !== 6) {
    return invalid(
      `version 1 ${family} line has ${fields.length - 2} fields, not 4`,
    );
  }
  const hosts: string[] = [];
  for (const text of [fields[2], fields[3]]) {
    if (family === "TCP4") {
      if (parseIPv4(text) === null) {
        return invalid(`${JSON.stringify(text)} is not an IPv4 address`);
      }
      hosts.push(text);
    } else {
      const bytes = text.includes(":") ? parseIPv6(text) : null;
      if (bytes === null) {
        return invalid(`${JSON.stringify(text)} is not an IPv6 address`);
      }
      hosts.push(formatIPv6(bytes));
    }
  }
  const ports: number[] = [];
  for (const text of [fields[4], fields[5]]) {
    const port = /^(0|[1-9][0-9]{0,4})$/.test(text) ? Number(text) : 65536;
    if (port > 65535) {
      return invalid(`${JSON.stringify(text)} is not a port number`);
    }
    ports.push(port);
  }
  return complete({
    version: 1,
    command: "PROXY",
    family,
    source: { transport: "tcp", hostname: hosts[0], port: ports[0] },
    destination: { transport: "tcp", hostname: hosts[1], port: ports[1] },
    length,
  });
}

function parseV2(bytes: Uint8Array): ProxyParseResult {
  const signature = Math.min(bytes.length, V2_SIGNATURE.length);
  for (let i = 1; i < signature; i++) {
    if (bytes[i] !== V2_SIGNATURE[i]) {
      return invalid(
        `no PROXY protocol signature (first bytes ${hex(bytes, 12)})`,
      );
    }
  }
  if (bytes.length <= 12) return INCOMPLETE;
  const version = bytes[12] >> 4;
  const command = bytes[12] & 0x0f;
  if (version !== 2) return invalid(`version ${version} is not 2`);
  if (command > 1) return invalid(`version 2 command ${command} is unknown`);
  if (bytes.length < 16) return INCOMPLETE;
  const family = bytes[13];
  const addressLength = (bytes[14] << 8) | bytes[15];
  const length = 16 + addressLength;
  if (command === 1 && ((family >> 4) > 3 || (family & 0x0f) > 2)) {
    return invalid(
      `version 2 family and protocol byte 0x${
        family.toString(16).padStart(2, "0")
      } is unknown`,
    );
  }
  const need = family === 0x11 ? 12 : family === 0x21 ? 36 : 0;
  if (command === 1 && addressLength < need) {
    return invalid(
      `version 2 address block of ${addressLength} bytes is too short for ${
        family === 0x11 ? "TCP over IPv4" : "TCP over IPv6"
      } (${need} bytes)`,
    );
  }
  if (bytes.length < length) return INCOMPLETE;
  if (command === 0 || need === 0) {
    // LOCAL (family ignored), or a family without addresses to use.
    return complete({
      version: 2,
      command: command === 0 ? "LOCAL" : "PROXY",
      family: "UNKNOWN",
      source: null,
      destination: null,
      length,
    });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, length);
  const ipv4 = family === 0x11;
  const size = ipv4 ? 4 : 16;
  const format = ipv4 ? formatIPv4 : formatIPv6;
  const ports = 16 + 2 * size;
  return complete({
    version: 2,
    command: "PROXY",
    family: ipv4 ? "TCP4" : "TCP6",
    source: {
      transport: "tcp",
      hostname: format(bytes, 16),
      port: view.getUint16(ports),
    },
    destination: {
      transport: "tcp",
      hostname: format(bytes, 16 + size),
      port: view.getUint16(ports + 2),
    },
    length,
  });
}
