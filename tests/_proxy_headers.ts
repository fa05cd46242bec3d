// Builders of PROXY protocol headers for the tests, written from the
// specification independently of the parser under test.
import { concat, text } from "./_helpers.ts";

export const V2_SIGNATURE = new Uint8Array([
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
]);

/** A version 1 line; `line` is everything before the CRLF. */
export function proxyV1(line: string): Uint8Array {
  return text(`${line}\r\n`);
}

function ipv4Bytes(address: string): number[] {
  return address.split(".").map(Number);
}

/** Expands an IPv6 address with at most one "::" (no dotted quad) to 16 bytes. */
function ipv6Bytes(address: string): number[] {
  const [head, tail] = address.split("::");
  const h = head === "" ? [] : head.split(":");
  const t = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = tail === undefined
    ? h
    : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  return groups.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}

export interface V2Options {
  /** 0 LOCAL, 1 PROXY. @default {1} */
  command?: number;
  /** The version nibble. @default {2} */
  version?: number;
  /** The family and protocol byte. @default {0x11 or 0x21 from the addresses, else 0} */
  family?: number;
  source?: [string, number];
  destination?: [string, number];
  /** Raw address block instead of the one built from source and destination. */
  block?: Uint8Array;
  /** TLV bytes appended to the address block. */
  tlvs?: Uint8Array;
  /** The length field; @default {the real length} */
  length?: number;
}

/** A version 2 binary header. */
export function proxyV2(options: V2Options = {}): Uint8Array {
  const { source, destination } = options;
  let block: number[] = [];
  let family = 0;
  if (source !== undefined && destination !== undefined) {
    const v6 = source[0].includes(":");
    const bytes = v6 ? ipv6Bytes : ipv4Bytes;
    family = v6 ? 0x21 : 0x11;
    block = [
      ...bytes(source[0]),
      ...bytes(destination[0]),
      source[1] >> 8,
      source[1] & 0xff,
      destination[1] >> 8,
      destination[1] & 0xff,
    ];
  }
  const addresses = concat([
    options.block ?? new Uint8Array(block),
    options.tlvs ?? new Uint8Array(0),
  ]);
  const length = options.length ?? addresses.length;
  const fixed = new Uint8Array([
    ((options.version ?? 2) << 4) | (options.command ?? 1),
    options.family ?? family,
    length >> 8,
    length & 0xff,
  ]);
  return concat([V2_SIGNATURE, fixed, addresses]);
}

/** A TLV: type, 16-bit big-endian length, value. */
export function tlv(type: number, value: Uint8Array): Uint8Array {
  return concat([
    new Uint8Array([type, value.length >> 8, value.length & 0xff]),
    value,
  ]);
}
