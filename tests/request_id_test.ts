// Request id fields (issue 16) without sockets: how a format's requestId is
// checked (types, ranges, unknown keys, each with its message), reading and
// writing ids of every width in both byte orders at any offset, the room a
// frame must leave for its id, what Outbound sends with ids (written into
// the copies sent, never into the caller's bytes, large payloads included),
// the bytes of the u32le-id and dns presets on the wire, and the server and
// client over a fake transport: the exact writes of "any" (as each handler
// settles, one write per turn) and of "fifo" with ids, the ids a client
// sends, late responses and unknown ids, and that a client keeps no
// answered request's bytes behind an older one still pending.
import { test } from "node:test";
import assert from "node:assert/strict";
import v8 from "node:v8";
import vm from "node:vm";
import { RequestId } from "../src/_request_id.ts";
import { Framing } from "../src/_frame_header.ts";
import { COPY_LIMIT, Outbound } from "../src/_outbound.ts";
import { FrameDecoder } from "../src/frame_decoder.ts";
import { encodeFrames } from "../src/frame_encoder.ts";
import { ConnectionClosedError, ProtocolError } from "../src/errors.ts";
import { Server } from "../src/server.ts";
import { Client } from "../src/client.ts";
import {
  FRAME_FORMATS,
  type FrameFormat,
  type RequestIdField,
} from "../src/frame_format.ts";
import { concat, patternBytes, seededRandom } from "./_helpers.ts";
import { FakeTransport } from "./_fake_transport.ts";

const MAX = 32 * 1024 * 1024;

/** `value` (below 2^64, as a bigint) as `width` bytes in the given order, independently of framewire. */
function idBytes(width: number, little: boolean, value: bigint): Uint8Array {
  const out = new Uint8Array(width);
  for (let i = 0; i < width; i++) {
    out[little ? i : width - 1 - i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return out;
}

/** Every frame `wire` holds in `format`, as handed out (copies). */
function decodeAll(
  wire: Uint8Array,
  format: FrameFormat | "u32le-id" | "dns",
): Uint8Array[] {
  const frames: Uint8Array[] = [];
  new FrameDecoder((frame) => frames.push(frame.slice()), { format })
    .push(wire);
  return frames;
}

/** The field as a number-returning checker of `new RequestId(field)`. */
const makeId = (field: unknown) => () => new RequestId(field as RequestIdField);

test("request id: a field that is not an object is a TypeError", () => {
  for (const field of [null, "u32", 4, [4, "little"], undefined]) {
    assert.throws(makeId(field), (error: unknown) => {
      assert.ok(error instanceof TypeError, `${String(field)}: ${error}`);
      assert.match(
        (error as Error).message,
        /^Invalid frame format: requestId must be an object, got /,
      );
      return true;
    });
  }
});

test("request id: an unknown option is a TypeError naming it", () => {
  assert.throws(
    makeId({ length: 4, byteOrder: "little", width: 4 }),
    (error: unknown) =>
      error instanceof TypeError &&
      error.message === "Invalid frame format: unknown option requestId.width",
  );
  assert.throws(
    makeId({ length: 2, byteOrder: "big", lengthFieldOffset: 0 }),
    /unknown option requestId\.lengthFieldOffset/,
  );
});

test("request id: offset must be an integer from 0 to 65535", () => {
  for (const offset of [1.5, "2", NaN, true]) {
    assert.throws(
      makeId({ offset, length: 4, byteOrder: "little" }),
      (error: unknown) =>
        error instanceof TypeError &&
        /^Invalid frame format: requestId\.offset must be an integer, got /
          .test(error.message),
      `offset ${String(offset)}`,
    );
  }
  for (const offset of [-1, 65_536, 2 ** 40]) {
    assert.throws(
      makeId({ offset, length: 4, byteOrder: "little" }),
      (error: unknown) =>
        error instanceof RangeError &&
        error.message ===
          `Invalid frame format: requestId.offset must be from 0 to 65535, got ${offset}`,
    );
  }
  // The bounds themselves are fine.
  assert.equal(
    new RequestId({ offset: 0, length: 2, byteOrder: "big" }).end,
    2,
  );
  assert.equal(
    new RequestId({ offset: 65_535, length: 8, byteOrder: "big" }).end,
    65_543,
  );
});

test("request id: length must be 2, 4 or 8, and byteOrder little or big", () => {
  for (const length of [0, 1, 3, 5, 16, "4", undefined]) {
    assert.throws(
      makeId({ length, byteOrder: "little" }),
      (error: unknown) =>
        error instanceof RangeError &&
        /^Invalid frame format: requestId\.length must be 2, 4 or 8, got /
          .test(error.message),
      `length ${String(length)}`,
    );
  }
  assert.throws(
    makeId({ length: 3, byteOrder: "little" }),
    /requestId\.length must be 2, 4 or 8, got 3$/,
  );
  assert.throws(
    makeId({ length: "4", byteOrder: "little" }),
    /requestId\.length must be 2, 4 or 8, got "4"$/,
  );
  for (const byteOrder of [undefined, "LE", "Little", 1]) {
    assert.throws(
      makeId({ length: 4, byteOrder }),
      (error: unknown) =>
        error instanceof RangeError &&
        /^Invalid frame format: requestId\.byteOrder must be "little" or "big", got /
          .test(error.message),
      `byteOrder ${String(byteOrder)}`,
    );
  }
});

test("request id: a format's bad requestId is refused by Framing, the encoder and the decoder", () => {
  const base = { lengthFieldLength: 4, byteOrder: "little" } as const;
  assert.throws(
    () => new Framing({ ...base, requestId: { length: 6 } as never }, MAX),
    RangeError,
  );
  assert.throws(
    () =>
      new Framing(
        { ...base, requestId: { length: 4, byteOrder: "big", x: 1 } as never },
        MAX,
      ),
    /unknown option requestId\.x/,
  );
  assert.throws(
    () =>
      encodeFrames([new Uint8Array(8)], {
        format: { ...base, requestId: null as never },
      }),
    TypeError,
  );
  assert.throws(
    () =>
      new FrameDecoder(() => {}, {
        format: { ...base, requestId: 2 as never },
      }),
    TypeError,
  );
});

test("request id: resolved fields: offset, width, end, space", () => {
  const cases: Array<[RequestIdField, number, number, number]> = [
    [{ length: 2, byteOrder: "big" }, 0, 2, 0x1_0000],
    [{ offset: 3, length: 4, byteOrder: "little" }, 3, 7, 0x1_0000_0000],
    [{ offset: 12, length: 8, byteOrder: "big" }, 12, 20, 2 ** 53],
  ];
  for (const [field, offset, end, space] of cases) {
    const id = new RequestId(field);
    assert.equal(id.offset, offset);
    assert.equal(id.width, field.length);
    assert.equal(id.end, end);
    assert.equal(id.space, space);
    assert.equal(id.littleEndian, field.byteOrder === "little");
  }
  // Framing resolves the presets' fields.
  const u32 = new Framing("u32le-id", MAX);
  assert.equal(u32.id?.width, 4);
  assert.equal(u32.id?.offset, 0);
  assert.equal(u32.id?.littleEndian, true);
  assert.equal(u32.isDefault, false, "u32le-id is not the default format");
  assert.equal(u32.encodes, "header");
  const dns = new Framing("dns", MAX);
  assert.equal(dns.id?.width, 2);
  assert.equal(dns.id?.littleEndian, false);
  assert.equal(dns.width, 2);
  assert.equal(new Framing("u32le", MAX).id, null);
  assert.equal(new Framing("u16be", MAX).id, null);
});

test("request id: read and write every width in both byte orders, at any offset", () => {
  const random = seededRandom(16);
  for (const width of [2, 4, 8] as const) {
    for (const byteOrder of ["little", "big"] as const) {
      for (const offset of [0, 1, 5, 300]) {
        const id = new RequestId({ offset, length: width, byteOrder });
        const little = byteOrder === "little";
        const values = [0, 1, 0xff, 0x100, id.space - 1];
        for (let i = 0; i < 50; i++) {
          values.push(Math.floor(random() * id.space));
        }
        for (const value of values) {
          // The frame handed out starts at `at` in the buffer.
          const at = 7;
          const frame = patternBytes(at + id.end + 3, value % 251);
          const before = frame.slice();
          id.write(frame, at, value);
          const expected = idBytes(width, little, BigInt(value));
          const where = `${width} ${byteOrder} @${offset}: ${value}`;
          assert.deepEqual(
            frame.subarray(at + offset, at + id.end),
            expected,
            where,
          );
          // Nothing else changed.
          assert.deepEqual(
            frame.subarray(0, at + offset),
            before.subarray(0, at + offset),
            where,
          );
          assert.deepEqual(
            frame.subarray(at + id.end),
            before.subarray(at + id.end),
            where,
          );
          assert.equal(id.read(frame, at), value, where);
          const low = value % 2 ** 32;
          assert.equal(id.low(frame, at), width === 2 ? value : low, where);
          assert.equal(id.high(frame, at), (value - low) / 2 ** 32, where);
        }
      }
    }
  }
});

test("request id: 8-byte ids above 2^53 are copied exactly as their halves", () => {
  for (const byteOrder of ["little", "big"] as const) {
    const id = new RequestId({ offset: 2, length: 8, byteOrder });
    for (
      const value of [
        0xffff_ffff_ffff_ffffn,
        0x0020_0000_0000_0001n, // 2^53 + 1: not a safe integer
        0x8000_0000_0000_0000n,
        0x1234_5678_9abc_def0n,
      ]
    ) {
      const source = new Uint8Array(12);
      source.set(idBytes(8, byteOrder === "little", value), 2);
      const low = id.low(source, 0);
      const high = id.high(source, 0);
      assert.equal(BigInt(high) * 2n ** 32n + BigInt(low), value);
      const copy = new Uint8Array(12);
      id.writeHalves(copy, 0, low, high);
      assert.deepEqual(copy, source, `${byteOrder} ${value.toString(16)}`);
    }
  }
});

test("request id: tooShort is a ProtocolError saying where the id lies", () => {
  const id = new RequestId({ offset: 4, length: 4, byteOrder: "big" });
  const error = id.tooShort("read request id", 6);
  assert.ok(error instanceof ProtocolError);
  assert.equal(
    error.message,
    "Cannot read request id: a frame of 6 bytes ends before its id field (4 bytes at offset 4)",
  );
});

test("request id: payloads without room for the id are refused before writing", () => {
  const u32 = new Framing("u32le-id", MAX);
  for (const length of [0, 1, 3]) {
    assert.throws(
      () => u32.checkOutgoing(new Uint8Array(length)),
      (error: unknown) =>
        error instanceof RangeError &&
        error.message ===
          `Cannot encode frame: ${length} bytes leave no room for the request id (4 bytes at offset 0)`,
    );
  }
  u32.checkOutgoing(new Uint8Array(4)); // the id alone: an empty payload
  const dns = new Framing("dns", MAX);
  assert.throws(
    () => dns.checkOutgoing(new Uint8Array(1)),
    /leave no room for the request id \(2 bytes at offset 0\)/,
  );
  dns.checkOutgoing(new Uint8Array(2));
  assert.throws(
    () => encodeFrames([new Uint8Array(2)], { format: "u32le-id" }),
    RangeError,
  );
  // A whole-frame format with the id after a 2-byte header: a frame of 5
  // bytes is well formed but too short for 4 id bytes at offset 2.
  const whole = new Framing({
    lengthFieldLength: 2,
    byteOrder: "big",
    initialBytesToStrip: 0,
    requestId: { offset: 2, length: 4, byteOrder: "big" },
  }, MAX);
  assert.equal(whole.encodes, "whole");
  assert.throws(
    () => whole.checkOutgoing(new Uint8Array([0, 3, 1, 2, 3])),
    /leave no room for the request id \(4 bytes at offset 2\)/,
  );
  whole.checkOutgoing(new Uint8Array([0, 4, 1, 2, 3, 4]));
});

test("request id presets: the layouts of u32le-id and dns", () => {
  assert.deepEqual(FRAME_FORMATS["u32le-id"], {
    lengthFieldLength: 4,
    byteOrder: "little",
    requestId: { offset: 0, length: 4, byteOrder: "little" },
  });
  assert.deepEqual(FRAME_FORMATS.dns, {
    lengthFieldLength: 2,
    byteOrder: "big",
    requestId: { offset: 0, length: 2, byteOrder: "big" },
  });
  // u32le-id: u32 LE length of id + payload, the u32 LE id, the payload;
  // handed out id first.
  const data = new Uint8Array([0xaa, 0xbb, 0xcc]);
  const handedOut = concat([new Uint8Array([4, 3, 2, 1]), data]);
  const wire = encodeFrames([handedOut], { format: "u32le-id" });
  assert.deepEqual(
    wire,
    new Uint8Array([7, 0, 0, 0, 4, 3, 2, 1, 0xaa, 0xbb, 0xcc]),
  );
  const frames = decodeAll(wire, "u32le-id");
  assert.deepEqual(frames, [handedOut]);
  assert.equal(new Framing("u32le-id", MAX).id!.read(frames[0], 0), 0x01020304);
  // dns: u16 BE length, then the message, whose first 2 bytes are the BE id.
  const message = new Uint8Array([0x12, 0x34, 1, 0, 0, 1]);
  const dnsWire = encodeFrames([message], { format: "dns" });
  assert.deepEqual(dnsWire, concat([new Uint8Array([0, 6]), message]));
  const dnsFrames = decodeAll(dnsWire, "dns");
  assert.deepEqual(dnsFrames, [message]);
  assert.equal(new Framing("dns", MAX).id!.read(dnsFrames[0], 0), 0x1234);
});

test("outbound: ids go into the copies sent, the callers' payloads unchanged", () => {
  const framing = new Framing("u32le-id", MAX);
  const outbound = new Outbound(false, framing);
  const payloads = Array.from(
    { length: 50 },
    (_, i) => patternBytes(4 + (i % 40), i),
  );
  const before = payloads.map((p) => p.slice());
  payloads.forEach((p, i) => outbound.addWithId(p, 0xfedc_0000 + i, 0));
  const writes: Uint8Array[] = [];
  outbound.flush((bytes) => writes.push(bytes));
  assert.equal(writes.length, 1, "small frames go out in one write");
  assert.deepEqual(payloads, before, "the callers' bytes are unchanged");
  const frames = decodeAll(writes[0], "u32le-id");
  assert.equal(frames.length, payloads.length);
  frames.forEach((frame, i) => {
    assert.equal(frame.length, payloads[i].length);
    assert.deepEqual(
      frame.subarray(0, 4),
      idBytes(4, true, BigInt(0xfedc_0000 + i)),
    );
    assert.deepEqual(frame.subarray(4), payloads[i].subarray(4), `rest ${i}`);
  });
});

test("outbound: a payload queued without an id keeps the id it carries", () => {
  const framing = new Framing("dns", MAX);
  const outbound = new Outbound(false, framing);
  const own = new Uint8Array([0xbe, 0xef, 1, 2]);
  outbound.add(own);
  outbound.addWithId(new Uint8Array([0, 0, 3]), 0x0102, 0);
  const writes: Uint8Array[] = [];
  outbound.flush((bytes) => writes.push(bytes));
  assert.deepEqual(
    concat(writes),
    new Uint8Array([0, 4, 0xbe, 0xef, 1, 2, 0, 3, 0x01, 0x02, 3]),
  );
});

test("outbound: a large payload's id is written into a copy of its first bytes, the rest sent by reference", () => {
  for (const size of [COPY_LIMIT, COPY_LIMIT + 1, 3 * COPY_LIMIT]) {
    const framing = new Framing("u32le-id", MAX);
    const outbound = new Outbound(false, framing);
    const small = patternBytes(10, 1);
    const large = patternBytes(size, 2);
    const tail = patternBytes(6, 3);
    const before = [small, large, tail].map((p) => p.slice());
    outbound.addWithId(small, 11, 0);
    outbound.addWithId(large, 0xdead_beef, 0);
    outbound.addWithId(tail, 13, 0);
    const writes: Uint8Array[] = [];
    outbound.flush((bytes) => writes.push(bytes));
    assert.deepEqual([small, large, tail], before, "callers' bytes unchanged");
    // The large payload after its first 4 bytes is written as it is.
    const byReference = writes.find((w) => w.buffer === large.buffer);
    assert.ok(byReference !== undefined, `${size}: by reference`);
    assert.equal(byReference.byteOffset, large.byteOffset + 4);
    assert.equal(byReference.length, size - 4);
    const frames = decodeAll(concat(writes), "u32le-id");
    assert.equal(frames.length, 3);
    assert.deepEqual(frames[0].subarray(0, 4), idBytes(4, true, 11n));
    assert.deepEqual(frames[1].subarray(0, 4), idBytes(4, true, 0xdead_beefn));
    assert.deepEqual(frames[2].subarray(0, 4), idBytes(4, true, 13n));
    assert.deepEqual(frames[1].subarray(4), large.subarray(4));
    assert.deepEqual(frames[0].subarray(4), small.subarray(4));
    assert.deepEqual(frames[2].subarray(4), tail.subarray(4));
  }
});

test("outbound: an 8-byte id at an offset, in a whole-frame format, large and small", () => {
  // Whole frames: a 4-byte BE length that counts what follows, kept; the
  // id, 8 bytes BE, at offset 6 (after 2 bytes of the body).
  const format: FrameFormat = {
    lengthFieldLength: 4,
    byteOrder: "big",
    initialBytesToStrip: 0,
    requestId: { offset: 6, length: 8, byteOrder: "big" },
  };
  const framing = new Framing(format, MAX);
  const frame = (bodyLength: number, seed: number) => {
    const bytes = patternBytes(4 + bodyLength, seed);
    new DataView(bytes.buffer).setUint32(0, bodyLength, false);
    return bytes;
  };
  const small = frame(20, 1);
  const large = frame(COPY_LIMIT + 100, 2);
  const before = [small.slice(), large.slice()];
  const outbound = new Outbound(false, framing);
  outbound.addWithId(small, 0x89ab_cdef, 0xffff_ffff);
  outbound.addWithId(large, 1, 0x0020_0000);
  const writes: Uint8Array[] = [];
  outbound.flush((bytes) => writes.push(bytes));
  assert.deepEqual([small, large], before, "callers' bytes unchanged");
  const frames = decodeAll(concat(writes), format);
  assert.equal(frames.length, 2);
  assert.deepEqual(
    frames[0].subarray(6, 14),
    idBytes(8, false, 0xffff_ffff_89ab_cdefn),
  );
  assert.deepEqual(
    frames[1].subarray(6, 14),
    idBytes(8, false, 0x0020_0000_0000_0001n),
  );
  for (const [i, original] of [small, large].entries()) {
    assert.deepEqual(frames[i].subarray(0, 6), original.subarray(0, 6));
    assert.deepEqual(frames[i].subarray(14), original.subarray(14));
  }
});

test("outbound: random batches of id'd payloads, small and large, in both orders", () => {
  const random = seededRandom(1616);
  for (const format of ["u32le-id", "dns"] as const) {
    const framing = new Framing(format, MAX);
    const maxSize = format === "dns" ? 65_535 : 2 * COPY_LIMIT;
    for (let round = 0; round < 20; round++) {
      const outbound = new Outbound(false, framing);
      const count = 1 + Math.floor(random() * 12);
      const payloads: Uint8Array[] = [];
      const ids: number[] = [];
      for (let i = 0; i < count; i++) {
        const big = random() < 0.2;
        const size = framing.id!.end +
          Math.floor(random() * (big ? maxSize - framing.id!.end : 100));
        payloads.push(patternBytes(size, round * 100 + i));
        ids.push(Math.floor(random() * framing.id!.space));
        outbound.addWithId(payloads[i], ids[i], 0);
      }
      const before = payloads.map((p) => p.slice());
      const writes: Uint8Array[] = [];
      outbound.flush((bytes) => writes.push(bytes));
      assert.deepEqual(payloads, before);
      const frames = decodeAll(concat(writes), format);
      assert.equal(frames.length, count);
      frames.forEach((f, i) => {
        assert.equal(framing.id!.read(f, 0), ids[i], `${format} ${round} ${i}`);
        assert.equal(f.length, payloads[i].length);
        assert.ok(
          f.subarray(framing.id!.end).every((b, j) =>
            b === payloads[i][framing.id!.end + j]
          ),
        );
      });
    }
  }
});

/** Lets the promise callbacks and the server's end-of-turn flush run. */
const turn = () => new Promise((resolve) => setTimeout(resolve, 0));

/** A u32le-id frame of `id` and `body`, as handed out. */
function idFrame(id: number, body: string): Uint8Array {
  const frame = concat([new Uint8Array(4), new TextEncoder().encode(body)]);
  new DataView(frame.buffer).setUint32(0, id, true);
  return frame;
}

/** The id and body of each u32le-id frame in `bytes`. */
function idFrames(bytes: Uint8Array): string[] {
  return decodeAll(bytes, "u32le-id").map((frame) =>
    `${new DataView(frame.buffer).getUint32(0, true)}:${
      new TextDecoder().decode(frame.subarray(4))
    }`
  );
}

test('server, ordering "any": each response goes out as its handler settles, those of one turn in one write', async () => {
  const gates = new Map<string, () => void>();
  const server = new Server({
    format: "u32le-id",
    handler: (request) =>
      new Promise((resolve) => {
        const body = new TextDecoder().decode(request.subarray(4));
        // The answer's id field is left 0: the server writes the id.
        gates.set(body, () => resolve(idFrame(0, `re:${body}`)));
      }),
  });
  const transport = new FakeTransport();
  server.serveConnection(transport);
  transport.deliver(
    encodeFrames(
      [
        idFrame(7, "a"),
        idFrame(0xffff_fffe, "b"),
        idFrame(7, "c"),
        idFrame(3, "d"),
      ],
      { format: "u32le-id" },
    ),
  );
  assert.equal(gates.size, 4);
  gates.get("c")!();
  await turn();
  assert.equal(transport.writes.length, 1);
  assert.deepEqual(idFrames(transport.writes[0]), ["7:re:c"]);
  gates.get("d")!();
  gates.get("a")!();
  await turn();
  assert.equal(transport.writes.length, 2, "settled in one turn: one write");
  assert.deepEqual(idFrames(transport.writes[1]), ["3:re:d", "7:re:a"]);
  gates.get("b")!();
  await turn();
  assert.deepEqual(idFrames(transport.writes[2]), ["4294967294:re:b"]);
  transport.close();
});

test('server, ordering "fifo" with an id format: answers in request order, ids written', async () => {
  const gates = new Map<string, () => void>();
  const server = new Server({
    format: "dns",
    ordering: "fifo",
    handler: (request) =>
      new Promise((resolve) => {
        const tag = request[2];
        gates.set(String(tag), () => resolve(new Uint8Array([0, 0, tag + 1])));
      }),
  });
  const transport = new FakeTransport();
  server.serveConnection(transport);
  const requests = [[0x12, 0x34, 1], [0xab, 0xcd, 2], [0x00, 0x01, 3]].map((
    bytes,
  ) => new Uint8Array(bytes));
  transport.deliver(encodeFrames(requests, { format: "dns" }));
  gates.get("3")!();
  gates.get("2")!();
  await turn();
  assert.equal(transport.writes.length, 0, "the first holds back the rest");
  gates.get("1")!();
  await turn();
  assert.deepEqual(
    decodeAll(concat(transport.writes), "dns"),
    [[0x12, 0x34, 2], [0xab, 0xcd, 3], [0x00, 0x01, 4]].map((bytes) =>
      new Uint8Array(bytes)
    ),
  );
  transport.close();
});

test("client: the bytes it sends carry fresh ids; responses in any order reach their requests", async () => {
  const transport = new FakeTransport();
  const client = new Client(transport, { format: "u32le-id" });
  const bodies = ["zero", "one", "two", "three"];
  const requests = bodies.map((body) => idFrame(0xaaaa_aaaa, body));
  const before = requests.map((r) => r.slice());
  const pending = requests.map((request) => client.request(request));
  await turn();
  assert.equal(transport.writes.length, 1, "one write for one tick");
  assert.deepEqual(requests, before, "the callers' bytes are unchanged");
  const sent = decodeAll(transport.writes[0], "u32le-id");
  assert.deepEqual(
    sent.map((frame) => new TextDecoder().decode(frame.subarray(4))),
    bodies,
  );
  const ids = sent.map((frame) =>
    new DataView(frame.buffer).getUint32(0, true)
  );
  assert.equal(new Set(ids).size, 4, `distinct ids: ${ids}`);
  // Answer in reverse, each with its request's id.
  transport.deliver(
    encodeFrames(
      [3, 2, 1, 0].map((i) => idFrame(ids[i], `re:${bodies[i]}`)),
      { format: "u32le-id" },
    ),
  );
  const responses = await Promise.all(pending);
  responses.forEach((response, i) => {
    assert.equal(
      new DataView(response.buffer, response.byteOffset).getUint32(0, true),
      ids[i],
    );
    assert.equal(
      new TextDecoder().decode(response.subarray(4)),
      `re:${bodies[i]}`,
    );
  });
  await client.close({ force: true });
});

test("client: a late response after an abort is dropped and counted; an unknown id fails the connection", async () => {
  const transport = new FakeTransport();
  const client = new Client(transport, { format: "dns" });
  const controller = new AbortController();
  const first = client.request(new Uint8Array([0, 0, 1]), {
    signal: controller.signal,
  });
  const second = client.request(new Uint8Array([0, 0, 2]));
  await turn();
  const sent = decodeAll(concat(transport.writes), "dns");
  assert.equal(sent.length, 2);
  controller.abort(new Error("gone"));
  await assert.rejects(first, /gone/);
  // The aborted request's answer comes late: dropped, counted.
  transport.deliver(encodeFrames([sent[0]], { format: "dns" }));
  assert.equal(client.lateResponses, 1);
  // An id no request holds: the connection fails with a protocol error.
  const unknown = new Uint8Array([
    sent[1][0] ^ 0xff,
    sent[1][1] ^ 0xff,
    9,
  ]);
  assert.notDeepEqual(unknown.subarray(0, 2), sent[0].subarray(0, 2));
  transport.deliver(encodeFrames([unknown], { format: "dns" }));
  await assert.rejects(second, (error: unknown) => {
    assert.ok(error instanceof ConnectionClosedError, String(error));
    assert.ok(error.cause instanceof ProtocolError, String(error.cause));
    return true;
  });
  await client.close({ force: true });
});

/** Collects garbage now: Bun's collector, or V8's gc() exposed at run time. */
function garbageCollector(): () => void {
  const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
  if (bun !== undefined) return () => bun.gc(true);
  v8.setFlagsFromString("--expose-gc");
  return vm.runInNewContext("gc") as () => void;
}

for (const requestTimeout of [0, 60_000]) {
  test(`client: answered requests are not kept behind an older one still pending (requestTimeout ${requestTimeout})`, async () => {
    const collect = garbageCollector();
    const transport = new FakeTransport();
    const client = new Client(transport, {
      format: "u32le-id",
      requestTimeout,
    });
    const slow = client.request(idFrame(0, "slow"));
    slow.catch(() => {});
    await turn();
    transport.writes.length = 0; // the slow request is never answered
    const kept: WeakRef<Uint8Array>[] = [];
    for (let round = 0; round < 5; round++) {
      const pending = Array.from({ length: 200 }, () => {
        const payload = new Uint8Array(4 + 1024);
        kept.push(new WeakRef(payload));
        return client.request(payload);
      });
      await turn();
      // Each answered with itself (its id and body).
      const sent = decodeAll(concat(transport.writes), "u32le-id");
      transport.writes.length = 0;
      transport.deliver(encodeFrames(sent, { format: "u32le-id" }));
      await Promise.all(pending);
    }
    await turn();
    collect();
    await turn();
    collect();
    const alive = kept.filter((ref) => ref.deref() !== undefined).length;
    assert.equal(
      alive,
      0,
      `${alive} of ${kept.length} answered requests' payloads still reachable`,
    );
    await client.close({ force: true });
  });
}
