// The PROXY protocol header parser: valid version 1 and 2 headers, split at
// every byte and at random, LOCAL and UNKNOWN, malformed headers of each
// kind, oversize lines, and the bytes after the header.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseProxyHeader, ProxyHeaderParser } from "../src/proxy_protocol.ts";
import type { ProxyHeader, ProxyParseResult } from "../src/proxy_header.ts";
import { ProtocolError, ProxyProtocolError } from "../src/errors.ts";
import { encodeFrames } from "../src/frame_encoder.ts";
import { concat, seededRandom, str, text } from "./_helpers.ts";
import { proxyV1, proxyV2, tlv, V2_SIGNATURE } from "./_proxy_headers.ts";

const tcp = (hostname: string, port: number) => ({
  transport: "tcp",
  hostname,
  port,
});

/** Valid headers and what they parse to. */
const VALID: Array<[string, Uint8Array, Omit<ProxyHeader, "length">]> = [
  ["v1 TCP4", proxyV1("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443"), {
    version: 1,
    command: "PROXY",
    family: "TCP4",
    source: tcp("192.168.0.1", 56324),
    destination: tcp("192.168.0.11", 443),
  }],
  ["v1 TCP4 extremes", proxyV1("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535"), {
    version: 1,
    command: "PROXY",
    family: "TCP4",
    source: tcp("0.0.0.0", 0),
    destination: tcp("255.255.255.255", 65535),
  }],
  ["v1 TCP6", proxyV1("PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::1 40000 1234"), {
    version: 1,
    command: "PROXY",
    family: "TCP6",
    source: tcp("2001:db8::1", 40000),
    destination: tcp("::1", 1234),
  }],
  [
    "v1 TCP6 at full length (104 bytes)",
    proxyV1(
      "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535",
    ),
    {
      version: 1,
      command: "PROXY",
      family: "TCP6",
      source: tcp("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535),
      destination: tcp("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535),
    },
  ],
  [
    "v1 TCP6 IPv4-mapped",
    proxyV1("PROXY TCP6 ::ffff:127.0.0.1 ::ffff:10.0.0.2 5 6"),
    {
      version: 1,
      command: "PROXY",
      family: "TCP6",
      source: tcp("::ffff:127.0.0.1", 5),
      destination: tcp("::ffff:10.0.0.2", 6),
    },
  ],
  ["v1 UNKNOWN (short form)", proxyV1("PROXY UNKNOWN"), {
    version: 1,
    command: "PROXY",
    family: "UNKNOWN",
    source: null,
    destination: null,
  }],
  [
    "v1 UNKNOWN at the 107-byte maximum, rest ignored",
    proxyV1(
      "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535",
    ),
    {
      version: 1,
      command: "PROXY",
      family: "UNKNOWN",
      source: null,
      destination: null,
    },
  ],
  [
    "v2 TCP4",
    proxyV2({
      source: ["203.0.113.7", 51234],
      destination: ["10.0.0.5", 1234],
    }),
    {
      version: 2,
      command: "PROXY",
      family: "TCP4",
      source: tcp("203.0.113.7", 51234),
      destination: tcp("10.0.0.5", 1234),
    },
  ],
  [
    "v2 TCP6",
    proxyV2({
      source: ["2001:db8:0:0:1:0:0:1", 65535],
      destination: ["::1", 1],
    }),
    {
      version: 2,
      command: "PROXY",
      family: "TCP6",
      source: tcp("2001:db8::1:0:0:1", 65535),
      destination: tcp("::1", 1),
    },
  ],
  [
    "v2 TCP4 with TLVs skipped",
    proxyV2({
      source: ["198.51.100.1", 1000],
      destination: ["198.51.100.2", 2000],
      tlvs: concat([
        tlv(0x01, text("h2")),
        tlv(0x04, new Uint8Array(300)),
        tlv(0x05, text("id")),
      ]),
    }),
    {
      version: 2,
      command: "PROXY",
      family: "TCP4",
      source: tcp("198.51.100.1", 1000),
      destination: tcp("198.51.100.2", 2000),
    },
  ],
  ["v2 LOCAL (HAProxy's health check)", proxyV2({ command: 0 }), {
    version: 2,
    command: "LOCAL",
    family: "UNKNOWN",
    source: null,
    destination: null,
  }],
  [
    "v2 LOCAL with an address block, skipped",
    proxyV2({
      command: 0,
      source: ["1.2.3.4", 1],
      destination: ["5.6.7.8", 2],
    }),
    {
      version: 2,
      command: "LOCAL",
      family: "UNKNOWN",
      source: null,
      destination: null,
    },
  ],
  [
    "v2 LOCAL ignores even an unknown family byte",
    proxyV2({ command: 0, family: 0xff }),
    {
      version: 2,
      command: "LOCAL",
      family: "UNKNOWN",
      source: null,
      destination: null,
    },
  ],
  ["v2 PROXY UNSPEC", proxyV2({ family: 0x00 }), {
    version: 2,
    command: "PROXY",
    family: "UNKNOWN",
    source: null,
    destination: null,
  }],
  [
    "v2 PROXY UDP over IPv4 falls back to UNSPEC",
    proxyV2({ family: 0x12, block: new Uint8Array(12) }),
    {
      version: 2,
      command: "PROXY",
      family: "UNKNOWN",
      source: null,
      destination: null,
    },
  ],
  [
    "v2 PROXY UNIX stream falls back to UNSPEC",
    proxyV2({ family: 0x31, block: new Uint8Array(216) }),
    {
      version: 2,
      command: "PROXY",
      family: "UNKNOWN",
      source: null,
      destination: null,
    },
  ],
];

/** Malformed headers, with the detail their error must name. */
const INVALID: Array<[string, Uint8Array, RegExp]> = [
  [
    "a framewire frame instead",
    encodeFrames([text("hi")]),
    /no PROXY protocol signature \(first bytes 02\b.*is the load balancer sending/,
  ],
  [
    "an HTTP request",
    text("GET / HTTP/1.1\r\n\r\n"),
    /no PROXY protocol signature/,
  ],
  [
    "v1 misspelled",
    text("PROXZ TCP4 1.2.3.4 1.2.3.4 1 2\r\n"),
    /no PROXY protocol signature/,
  ],
  [
    "v1 without the space",
    text("PROXYTCP4\r\n"),
    /no PROXY protocol signature/,
  ],
  [
    "v1 unknown protocol",
    proxyV1("PROXY TCP5 1.2.3.4 5.6.7.8 1 2"),
    /"TCP5" is not TCP4, TCP6 or UNKNOWN/,
  ],
  [
    "v1 lower-case protocol",
    proxyV1("PROXY tcp4 1.2.3.4 5.6.7.8 1 2"),
    /"tcp4"/,
  ],
  ["v1 empty", proxyV1("PROXY "), /"" is not TCP4/],
  [
    "v1 too few fields",
    proxyV1("PROXY TCP4 1.2.3.4 5.6.7.8 1"),
    /has 3 fields, not 4/,
  ],
  [
    "v1 too many fields",
    proxyV1("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3"),
    /has 5 fields, not 4/,
  ],
  [
    "v1 double space",
    proxyV1("PROXY TCP4  1.2.3.4 5.6.7.8 1 2"),
    /fields, not 4/,
  ],
  [
    "v1 trailing space",
    proxyV1("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 "),
    /fields, not 4/,
  ],
  [
    "v1 octet over 255",
    proxyV1("PROXY TCP4 1.2.3.256 5.6.7.8 1 2"),
    /"1.2.3.256" is not an IPv4 address/,
  ],
  [
    "v1 octet with a leading zero",
    proxyV1("PROXY TCP4 1.2.3.4 5.6.7.08 1 2"),
    /"5.6.7.08" is not an IPv4/,
  ],
  [
    "v1 three octets",
    proxyV1("PROXY TCP4 1.2.3 5.6.7.8 1 2"),
    /"1.2.3" is not an IPv4/,
  ],
  [
    "v1 IPv6 address under TCP4",
    proxyV1("PROXY TCP4 ::1 ::1 1 2"),
    /"::1" is not an IPv4/,
  ],
  [
    "v1 IPv4 address under TCP6",
    proxyV1("PROXY TCP6 1.2.3.4 ::1 1 2"),
    /"1.2.3.4" is not an IPv6/,
  ],
  [
    "v1 two double colons",
    proxyV1("PROXY TCP6 1::2::3 ::1 1 2"),
    /"1::2::3" is not an IPv6/,
  ],
  [
    "v1 nine groups",
    proxyV1("PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2"),
    /is not an IPv6/,
  ],
  [
    "v1 seven groups",
    proxyV1("PROXY TCP6 1:2:3:4:5:6:7 ::1 1 2"),
    /is not an IPv6/,
  ],
  [
    "v1 five hex digits",
    proxyV1("PROXY TCP6 12345::1 ::1 1 2"),
    /is not an IPv6/,
  ],
  [
    "v1 port over 65535",
    proxyV1("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2"),
    /"65536" is not a port number/,
  ],
  [
    "v1 port with a leading zero",
    proxyV1("PROXY TCP4 1.2.3.4 5.6.7.8 1 080"),
    /"080" is not a port/,
  ],
  [
    "v1 negative port",
    proxyV1("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2"),
    /"-1" is not a port/,
  ],
  ["v1 LF alone", text("PROXY UNKNOWN\n"), /ends in LF without CR/],
  ["v1 CR alone", text("PROXY UNKNOWN\rX\n"), /CR not followed by LF/],
  [
    "v1 line of 108 bytes",
    proxyV1(`PROXY UNKNOWN ${"x".repeat(92)}`),
    /no CRLF in its first 107 bytes/,
  ],
  [
    "v1 no CRLF at all",
    text(`PROXY TCP4 ${"1".repeat(200)}`),
    /no CRLF in its first 107 bytes/,
  ],
  [
    "v2 signature broken",
    concat([V2_SIGNATURE.subarray(0, 7), text("XUIT\n"), new Uint8Array(4)]),
    /no PROXY protocol signature/,
  ],
  [
    "v2 version 1",
    proxyV2({
      version: 1,
      source: ["1.2.3.4", 1],
      destination: ["5.6.7.8", 2],
    }),
    /version 1 is not 2/,
  ],
  ["v2 version 3", proxyV2({ version: 3, command: 0 }), /version 3 is not 2/],
  ["v2 command 2", proxyV2({ command: 2 }), /command 2 is unknown/],
  ["v2 command 15", proxyV2({ command: 15 }), /command 15 is unknown/],
  [
    "v2 family 4",
    proxyV2({ family: 0x41, block: new Uint8Array(12) }),
    /byte 0x41 is unknown/,
  ],
  [
    "v2 protocol 3",
    proxyV2({ family: 0x13, block: new Uint8Array(12) }),
    /byte 0x13 is unknown/,
  ],
  [
    "v2 TCP4 block too short",
    proxyV2({ family: 0x11, block: new Uint8Array(8) }),
    /8 bytes is too short for TCP over IPv4 \(12 bytes\)/,
  ],
  [
    "v2 TCP6 block too short",
    proxyV2({ family: 0x21, block: new Uint8Array(12) }),
    /12 bytes is too short for TCP over IPv6 \(36 bytes\)/,
  ],
];

/** Pushes `bytes` in the given pieces; returns the first result that is not incomplete. */
function pushPieces(
  pieces: Uint8Array[],
): { result: ProxyParseResult; at: number } {
  const parser = new ProxyHeaderParser();
  for (let i = 0; i < pieces.length; i++) {
    const result = parser.push(pieces[i]);
    if (result.status !== "incomplete") return { result, at: i };
  }
  return { result: { status: "incomplete" }, at: pieces.length };
}

function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [0, ...cuts, bytes.length];
  return points.slice(1).map((end, i) => bytes.subarray(points[i], end));
}

/** The data after the header, as the caller would find it. */
function rest(pieces: Uint8Array[], at: number, consumed: number): Uint8Array {
  return concat([pieces[at].subarray(consumed), ...pieces.slice(at + 1)]);
}

const DATA = encodeFrames([text("first request"), text("second")]);

for (const [name, header, expected] of VALID) {
  test(`parseProxyHeader: ${name}`, () => {
    const result = parseProxyHeader(header);
    assert.equal(result.status, "complete");
    if (result.status !== "complete") return;
    assert.deepEqual(result.header, { ...expected, length: header.length });
    assert.equal(result.consumed, header.length);
  });

  test(`ProxyHeaderParser: ${name}, then data, split at every byte and one byte per push`, () => {
    const wire = concat([header, DATA]);
    const cases: Uint8Array[][] = [[wire]];
    for (let cut = 1; cut < wire.length; cut++) {
      cases.push(splitAt(wire, [cut]));
    }
    cases.push(Array.from(wire, (_, i) => wire.subarray(i, i + 1)));
    for (const pieces of cases) {
      const { result, at } = pushPieces(pieces);
      assert.equal(result.status, "complete", `${pieces.length} pieces`);
      if (result.status !== "complete") return;
      assert.deepEqual(result.header, { ...expected, length: header.length });
      assert.deepEqual(
        rest(pieces, at, result.consumed),
        DATA,
        `${pieces.length} pieces`,
      );
    }
  });
}

test("ProxyHeaderParser: random splits of headers followed by data", () => {
  const random = seededRandom(20261127);
  for (let round = 0; round < 500; round++) {
    const [, header, expected] = VALID[round % VALID.length];
    const wire = concat([header, DATA]);
    const cuts: number[] = [];
    for (let at = 0; at < wire.length;) {
      at += 1 + Math.floor(random() * 20);
      if (at < wire.length) cuts.push(at);
    }
    const pieces = splitAt(wire, cuts);
    const { result, at } = pushPieces(pieces);
    assert.equal(result.status, "complete");
    if (result.status !== "complete") return;
    assert.deepEqual(result.header, { ...expected, length: header.length });
    assert.deepEqual(rest(pieces, at, result.consumed), DATA);
  }
});

for (const [name, bytes, message] of INVALID) {
  test(`ProxyHeaderParser rejects ${name}, whole and one byte at a time`, () => {
    for (
      const pieces of [
        [bytes],
        Array.from(bytes, (_, i) => bytes.subarray(i, i + 1)),
      ]
    ) {
      const { result } = pushPieces(pieces);
      assert.equal(result.status, "invalid", `${pieces.length} pieces`);
      if (result.status !== "invalid") return;
      assert.ok(result.error instanceof ProxyProtocolError);
      assert.ok(result.error instanceof ProtocolError);
      assert.equal(result.error.name, "ProxyProtocolError");
      assert.equal(result.error.reason, "invalid");
      assert.match(result.error.message, /^Cannot read PROXY header: /);
      assert.match(result.error.message, message);
    }
  });
}

test("ProxyHeaderParser rejects bytes that cannot start a header at the first wrong byte", () => {
  for (
    const [bytes, at] of [[[0x02], 0], [
      [0x50, 0x52, 0x4f, 0x58, 0x59, 0x21],
      5,
    ], [[0x0d, 0x0a, 0x0d, 0x0a, 0x01], 4]] as const
  ) {
    const parser = new ProxyHeaderParser();
    for (let i = 0; i < bytes.length; i++) {
      const result = parser.push(new Uint8Array([bytes[i]]));
      assert.equal(
        result.status,
        i === at ? "invalid" : "incomplete",
        `byte ${i}`,
      );
    }
  }
});

test("ProxyHeaderParser: a v1 line with no CRLF fails at byte 107, not before", () => {
  const parser = new ProxyHeaderParser();
  const line = text(`PROXY UNKNOWN ${"y".repeat(120)}`);
  assert.equal(parser.push(line.subarray(0, 106)).status, "incomplete");
  assert.equal(parser.bufferedBytes, 106);
  const result = parser.push(line.subarray(106));
  assert.equal(result.status, "invalid");
  // A CR as byte 107 cannot be followed by its LF within the limit.
  const cr = text(`PROXY UNKNOWN ${"z".repeat(92)}\r`);
  assert.equal(cr.length, 107);
  assert.equal(parseProxyHeader(cr).status, "invalid");
});

test("ProxyHeaderParser: the longest v2 header (64 KiB of TLVs) split in two", () => {
  const header = proxyV2({
    source: ["10.1.2.3", 4000],
    destination: ["10.4.5.6", 5000],
    tlvs: tlv(0x04, new Uint8Array(0xffff - 12 - 3)),
  });
  assert.equal(header.length, 16 + 0xffff);
  const wire = concat([header, DATA]);
  for (const cut of [1, 15, 16, 17, 40_000, header.length - 1, header.length]) {
    const pieces = splitAt(wire, [cut]);
    const { result, at } = pushPieces(pieces);
    assert.equal(result.status, "complete");
    if (result.status !== "complete") return;
    assert.equal(result.header.source?.hostname, "10.1.2.3");
    assert.deepEqual(rest(pieces, at, result.consumed), DATA);
  }
});

test("ProxyHeaderParser: an incomplete header stays incomplete and holds its bytes", () => {
  const header = proxyV2({
    source: ["1.2.3.4", 1],
    destination: ["5.6.7.8", 2],
  });
  const parser = new ProxyHeaderParser();
  assert.equal(parser.push(header.subarray(0, 27)).status, "incomplete");
  assert.equal(parser.bufferedBytes, 27);
  assert.equal(parser.push(new Uint8Array(0)).status, "incomplete");
  const result = parser.push(header.subarray(27));
  assert.equal(result.status, "complete");
  assert.equal(result.status === "complete" && result.consumed, 1);
  assert.equal(parser.bufferedBytes, 0);
});

test("ProxyHeaderParser: a header in one chunk is parsed in place; the parser keeps nothing", () => {
  const wire = concat([proxyV1("PROXY TCP4 1.2.3.4 5.6.7.8 1 2"), DATA]);
  const parser = new ProxyHeaderParser();
  const result = parser.push(wire);
  assert.equal(result.status, "complete");
  assert.equal(parser.bufferedBytes, 0);
  if (result.status === "complete") {
    assert.equal(
      str(wire.subarray(result.consumed + 4, result.consumed + 17)),
      "first request",
    );
  }
});

test("ProxyHeaderParser: pushing after the outcome is a programming error", () => {
  const parser = new ProxyHeaderParser();
  assert.equal(parser.push(proxyV1("PROXY UNKNOWN")).status, "complete");
  assert.throws(
    () => parser.push(DATA),
    /Cannot parse PROXY header: the parser has finished/,
  );
  const failed = new ProxyHeaderParser();
  assert.equal(failed.push(text("nope")).status, "invalid");
  assert.throws(() => failed.push(DATA), Error);
});

test("parseProxyHeader: no bytes yet is incomplete", () => {
  assert.deepEqual(parseProxyHeader(new Uint8Array(0)), {
    status: "incomplete",
  });
  assert.deepEqual(parseProxyHeader(V2_SIGNATURE), { status: "incomplete" });
  assert.deepEqual(parseProxyHeader(text("PROXY TCP4 1.2.3.4")), {
    status: "incomplete",
  });
});
