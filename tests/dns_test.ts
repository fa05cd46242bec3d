// DNS over TCP (RFC 1035 section 4.2.2, RFC 7766): each message behind a
// 2-byte big-endian length, framewire's "u16be" format, against real peers
// both ways. framewire's client pipelines queries to dnsmasq on one
// connection; framewire's server, with a small DNS handler, answers dig
// querying several names on one kept-open connection. With the "dns" preset
// (issue 16) the same runs again with the message id as the request id: the
// client gives each query an id of its own and matches dnsmasq's answers by
// it, and the server writes each query's id into answers its handler leaves
// without one, given late and out of order. Messages are encoded and
// decoded with dns-packet. dnsmasq and dig are child processes, stopped by
// their own PID.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
// @ts-types="@types/dns-packet"
import dnsPacket from "dns-packet";
// @ts-types="@types/dns-packet"
import type { Answer, StringAnswer } from "dns-packet";
import { connect, serve } from "../src/adapters/auto.ts";
import type { Client } from "../src/client.ts";
import { startPeer } from "./_peer_process.ts";
import { requireProgram } from "./_requires.ts";
import { delay } from "./_helpers.ts";

// Skipped without them on PATH (failed under FRAMEWIRE_REQUIRE_ALL=1).
const needsDnsmasq = requireProgram("dnsmasq", import.meta.url);
const needsDig = requireProgram("dig", import.meta.url);

/** The local records both tests serve: name -> IPv4 address. */
const RECORDS: ReadonlyMap<string, string> = new Map(
  Array.from(
    { length: 12 },
    (_, i) => [`host${i}.framewire.test`, `10.53.${i}.${i + 1}`],
  ),
);
const NAMES = [...RECORDS.keys()];

/** dns-packet works on Buffers: a view of `bytes`, no copy. */
const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** An A query for `name` with message id `id`. */
function query(id: number, name: string): Uint8Array {
  return dnsPacket.encode({
    type: "query",
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type: "A", class: "IN", name }],
  });
}

// dnsmasq answers at most 100 queries on one TCP connection
// (TCP_MAX_QUERIES), then closes it: each connection pipelines exactly 100.
const QUERIES_PER_CONNECTION = 100;

/**
 * Pipelines 100 queries on `client`, all issued first, and checks every
 * answer. With `idsAssigned` (the "dns" format) the client writes ids of its
 * own into the queries sent and matches answers by them: each answer must
 * still be the one to its own query (its question and address), and the
 * ids of the answers must all differ.
 */
async function pipelineQueries(
  client: Client,
  from: number,
  idsAssigned = false,
): Promise<void> {
  const count = QUERIES_PER_CONNECTION;
  const names = Array.from(
    { length: count },
    (_, i) => NAMES[(from + i) % NAMES.length],
  );
  // Every query is issued before any answer is awaited.
  const pending = names.map((name, i) => client.request(query(from + i, name)));
  assert.equal(client.inFlight + client.waiting, count, "all issued at once");
  const answers = await Promise.all(pending);
  const ids = new Set<number>();
  answers.forEach((bytes, i) => {
    const answer = dnsPacket.decode(asBuffer(bytes));
    const what = `answer ${from + i}`;
    assert.equal(answer.type, "response", `${what} is a response`);
    if (idsAssigned) ids.add(answer.id ?? -1);
    else assert.equal(answer.id, from + i, `${what} has its query's id`);
    assert.equal((answer.flags ?? 0) & 0xf, 0, `${what}: NOERROR`);
    assert.equal(answer.questions?.[0]?.name, names[i], `${what}: name`);
    const records = (answer.answers ?? []).filter((
      r: Answer,
    ): r is StringAnswer => r.type === "A");
    assert.equal(records.length, 1, `${what}: one A record`);
    assert.equal(records[0].name, names[i], `${what}: record name`);
    assert.equal(records[0].data, RECORDS.get(names[i]), `${what}: address`);
  });
  if (idsAssigned) assert.equal(ids.size, count, "one id per query");
}

/** Starts dnsmasq on a free loopback port, serving RECORDS alone. */
function startDnsmasq() {
  return startPeer("dnsmasq", (port) => [
    "--no-daemon",
    "--conf-file=/dev/null", // no system configuration
    "--pid-file=", // no pid file
    "--no-resolv", // no upstream servers: local records only
    "--no-hosts",
    "--bind-interfaces",
    "--listen-address=127.0.0.1",
    `--port=${port}`,
    ...[...RECORDS].map(([name, ip]) => `--address=/${name}/${ip}`),
  ]);
}

for (const format of ["u16be", "dns"] as const) {
  const how = format === "dns"
    ? "the dns preset, answers matched by id"
    : "u16be, answers matched in order";
  test(
    `dns: framewire's clients pipeline 100 queries each to dnsmasq (${how})`,
    {
      skip: needsDnsmasq.skip,
    },
    async () => {
      needsDnsmasq.check();
      const dnsmasq = await startDnsmasq();
      const clients: Client[] = [];
      try {
        for (let i = 0; i < 3; i++) {
          clients.push(
            await connect({ host: "127.0.0.1", port: dnsmasq.port, format }),
          );
        }
        // Three connections at once, 100 queries in flight on each.
        await Promise.all(
          clients.map((client, c) =>
            pipelineQueries(client, 1 + c * 1000, format === "dns")
          ),
        );
        if (format === "dns") {
          for (const client of clients) assert.equal(client.lateResponses, 0);
        }
      } catch (error) {
        throw new Error(`${error}; dnsmasq said: ${dnsmasq.output()}`, {
          cause: error,
        });
      } finally {
        await Promise.all(clients.map((client) => client.close()));
        await dnsmasq.stop();
      }
    },
  );
}

/** A DNS handler: A records from RECORDS, NXDOMAIN for any other name. */
function answerQuery(request: Uint8Array): Uint8Array {
  const question = dnsPacket.decode(asBuffer(request));
  const asked = question.questions ?? [];
  const answers = asked.flatMap((q) => {
    const ip = RECORDS.get(q.name.toLowerCase());
    return q.type === "A" && ip !== undefined
      ? [{
        type: "A" as const,
        class: "IN" as const,
        name: q.name,
        ttl: 60,
        data: ip,
      }]
      : [];
  });
  const known = asked.every((q) => RECORDS.has(q.name.toLowerCase()));
  const NXDOMAIN = 3;
  return dnsPacket.encode({
    type: "response",
    id: question.id,
    flags: dnsPacket.AUTHORITATIVE_ANSWER |
      ((question.flags ?? 0) & dnsPacket.RECURSION_DESIRED) |
      (known ? 0 : NXDOMAIN),
    questions: asked,
    answers,
  });
}

/** Runs dig with `args`; resolves with its output, failing after 20 s. */
function dig(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("dig", args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout!.on("data", (data) => (output += data));
    child.stderr!.on("data", (data) => (output += data));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.once("error", reject);
    child.once("exit", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`dig exited ${code}: ${output}`));
    });
  });
}

test(
  "dns: dig +tcp +keepopen asks framewire's u16be server several names on one connection",
  {
    skip: needsDig.skip,
  },
  async () => {
    needsDig.check();
    const connections = new Set<number>();
    const server = await serve({
      host: "127.0.0.1",
      port: 0,
      format: "u16be",
      handler: (request, context) => {
        connections.add(context.connectionId);
        return answerQuery(request);
      },
    });
    try {
      const asked = [...NAMES.slice(0, 6), "nowhere.framewire.test"];
      const output = await dig([
        "+tcp",
        "+keepopen",
        "+tries=1",
        "+time=5",
        "@127.0.0.1",
        "-p",
        String(server.addr.port),
        ...asked,
      ]);
      const statuses = [...output.matchAll(/status: (\w+), id: (\d+)/g)];
      assert.equal(
        statuses.length,
        asked.length,
        `one answer per name:\n${output}`,
      );
      asked.forEach((name, i) => {
        const ip = RECORDS.get(name);
        assert.equal(
          statuses[i][1],
          ip === undefined ? "NXDOMAIN" : "NOERROR",
          name,
        );
        if (ip === undefined) return;
        const record = new RegExp(
          `^${name.replaceAll(".", "\\.")}\\.\\s+60\\s+IN\\s+A\\s+(\\S+)$`,
          "m",
        );
        assert.equal(
          record.exec(output)?.[1],
          ip,
          `dig shows ${name}'s address:\n${output}`,
        );
      });
      const stats = server.stats();
      assert.equal(
        stats.framesIn,
        asked.length,
        "every query reached the handler",
      );
      assert.equal(stats.totalConnections, 1, "dig kept one connection open");
      assert.equal(connections.size, 1, "all queries came on one connection");
    } finally {
      await server.close();
    }
  },
);

test(
  "dns: dig +tcp +keepopen asks framewire's dns server, whose handler answers late and without the id",
  {
    skip: needsDig.skip,
  },
  async () => {
    needsDig.check();
    const asked = [...NAMES.slice(0, 6), "nowhere.framewire.test"];
    const server = await serve({
      host: "127.0.0.1",
      port: 0,
      format: "dns",
      handler: async (request) => {
        // Earlier names wait longer; the answer leaves the id 0 for the
        // server to write (dig refuses an answer with another id).
        const name = dnsPacket.decode(asBuffer(request)).questions?.[0]?.name;
        await delay(5 * (asked.length - asked.indexOf(name ?? "")));
        const response = answerQuery(request);
        response[0] = response[1] = 0;
        return response;
      },
    });
    try {
      const output = await dig([
        "+tcp",
        "+keepopen",
        "+tries=1",
        "+time=5",
        "@127.0.0.1",
        "-p",
        String(server.addr.port),
        ...asked,
      ]);
      assert.doesNotMatch(output, /mismatch/i, output);
      const statuses = [...output.matchAll(/status: (\w+), id: (\d+)/g)];
      assert.equal(
        statuses.length,
        asked.length,
        `one answer each:\n${output}`,
      );
      asked.forEach((name, i) => {
        const ip = RECORDS.get(name);
        assert.equal(
          statuses[i][1],
          ip === undefined ? "NXDOMAIN" : "NOERROR",
          name,
        );
        if (ip === undefined) return;
        const record = new RegExp(
          `^${name.replaceAll(".", "\\.")}\\.\\s+60\\s+IN\\s+A\\s+(\\S+)$`,
          "m",
        );
        assert.equal(record.exec(output)?.[1], ip, `${name}:\n${output}`);
      });
      assert.equal(server.stats().totalConnections, 1, "one connection");
    } finally {
      await server.close();
    }
  },
);

test("dns: framewire's dns client and server, answers out of order, each to its own query", async () => {
  const order: string[] = [];
  const server = await serve({
    host: "127.0.0.1",
    port: 0,
    format: "dns",
    handler: async (request) => {
      // The first names asked wait longest.
      const name = dnsPacket.decode(asBuffer(request)).questions?.[0]?.name ??
        "";
      await delay(8 * (NAMES.length - NAMES.indexOf(name)));
      order.push(name);
      return answerQuery(request);
    },
  });
  const client = await connect({
    host: "127.0.0.1",
    port: server.addr.port,
    format: "dns",
  });
  try {
    const answers = await Promise.all(
      NAMES.map((name) => client.request(query(0, name))),
    );
    answers.forEach((bytes, i) => {
      const answer = dnsPacket.decode(asBuffer(bytes));
      assert.equal(answer.questions?.[0]?.name, NAMES[i]);
      const records = (answer.answers ?? []).filter((
        r: Answer,
      ): r is StringAnswer => r.type === "A");
      assert.equal(records[0]?.data, RECORDS.get(NAMES[i]), NAMES[i]);
    });
    assert.deepEqual(order, [...NAMES].reverse(), "answered last first");
  } finally {
    await client.close();
    await server.close();
  }
});
