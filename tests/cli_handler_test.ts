// serve --handler FILE, through the command line of the runtime running the
// test: the key-value example (examples/kv.ts, or kv.js compiled beside the
// compiled tests) pipelined, its error responses, with --workers 2, and
// modules the command line refuses.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { type Client, connect } from "../mod.ts";
import { runCli, startServeProcess, stopServe } from "./_cli_process.ts";
import { runtime, sourceExtension } from "./_runtime.ts";
import { Op, Status } from "../examples/kv.ts";
import {
  checkPipelined,
  COUNT_REQUEST,
  describe,
  keyRequest,
  readCount,
  setRequest,
  valueOf,
} from "../examples/kv_client.ts";

// Relative to the current directory, as a user would type it.
const kvModule = relative(
  process.cwd(),
  fileURLToPath(new URL(`../examples/kv${sourceExtension}`, import.meta.url)),
);

async function serveKv(extra: string[] = []) {
  const server = await startServeProcess(
    [
      "--handler",
      kvModule,
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      ...extra,
    ],
    /Server listening on 127\.0\.0\.1:(\d+)/,
  );
  return { ...server, port: Number(server.match[1]) };
}

function connectTo(port: number, maxInFlight = 1024): Promise<Client> {
  return connect({ host: "127.0.0.1", port, maxInFlight });
}

const decoder = new TextDecoder();

test("cli --handler: the kv example takes 10,000 pipelined SETs then GETs, answers a malformed request with an error and keeps the connection", async () => {
  const server = await serveKv();
  let client: Client | undefined;
  try {
    client = await connectTo(server.port, 10_000);
    await checkPipelined(client, 10_000);
    assert.deepEqual(readCount(await client.request(COUNT_REQUEST)), {
      requests: 20_001,
      keys: 10_000,
    });

    // Malformed requests, pipelined between good ones: each gets an ERROR
    // response in its place, and the connection keeps answering.
    const [bad, truncated, good, empty, del, gone] = await Promise.all([
      client.request(Uint8Array.of(0x58, 1, 2)),
      client.request(Uint8Array.of(Op.SET, 5, 0x61)),
      client.request(keyRequest(Op.GET, "key7")),
      client.request(new Uint8Array(0)),
      client.request(keyRequest(Op.DEL, "key7")),
      client.request(keyRequest(Op.GET, "key7")),
    ]);
    assert.equal(bad[0], Status.ERROR);
    assert.equal(decoder.decode(bad.subarray(1)), "unknown operation 0x58");
    assert.equal(describe(truncated), 'ERROR "key of 5 bytes, but 1 follow"');
    assert.equal(good[0], Status.OK);
    assert.deepEqual(good.subarray(1), valueOf("key", 7));
    assert.equal(describe(empty), 'ERROR "empty request"');
    assert.deepEqual([...del], [Status.OK]);
    assert.deepEqual([...gone], [Status.NOT_FOUND]);

    // A value stored without a copy survives more requests on its connection.
    const value = new TextEncoder().encode("kept as a view of its request");
    await client.request(setRequest("kept", value));
    await checkPipelined(client, 1000, "more");
    const kept = await client.request(keyRequest(Op.GET, "kept"));
    assert.deepEqual(kept.subarray(1), value);
    assert.equal(
      readCount(await client.request(COUNT_REQUEST)).requests,
      22_010,
    );
  } finally {
    await client?.close();
    assert.equal(await stopServe(server), 0);
  }
  assert.match(
    server.output(),
    /Server stopped: 1 connections, 22010 requests served/,
  );
});

test("cli --handler: with --workers 2, each worker serves the module", async () => {
  const server = await serveKv(["--workers", "2"]);
  const clients: Client[] = [];
  try {
    for (let i = 0; i < 4; i++) clients.push(await connectTo(server.port));
    await Promise.all(
      clients.map((client, i) => checkPipelined(client, 1000, `c${i}-`)),
    );
    for (const client of clients) {
      // onConnection set each connection's own count.
      const { requests } = readCount(await client.request(COUNT_REQUEST));
      assert.equal(requests, 2001);
    }
  } finally {
    await Promise.all(clients.map((client) => client.close()));
    assert.equal(await stopServe(server), 0);
  }
  assert.match(server.output(), /with 2 workers/);
  assert.match(server.output(), /8004 requests served by 2 workers/);
});

test("cli --handler: a module that cannot be served is one error line naming it, exit 2", async () => {
  const dir = mkdtempSync(join(tmpdir(), "framewire-handler-"));
  const modules: Record<string, string> = {
    "named.mjs": "export const handler = (request) => request;\n",
    "number.mjs": "export default 42;\n",
    "typo.mjs":
      "export default { handler: (request) => request, onconnection() {} };\n",
    "hooks.mjs": "export default { onClose() {} };\n",
    "copy.mjs": "export default { handler: (r) => r, zeroCopy: 'yes' };\n",
    "syntax.mjs": "export default {\n",
    "throws.mjs": "throw new Error('no database');\n",
    "typed.ts":
      "export default (request: Uint8Array): Uint8Array => request;\n",
  };
  for (const [name, text] of Object.entries(modules)) {
    writeFileSync(join(dir, name), text);
  }
  const cases: Array<[string, RegExp]> = [
    ["missing.mjs", /: no file at .*missing\.mjs$/],
    ["named.mjs", /: it has no default export; export default a handler/],
    ["number.mjs", /: its default export is a number, not a handler function/],
    ["typo.mjs", /: its default export has an unknown field 'onconnection'/],
    [
      "hooks.mjs",
      /: its default export's handler is undefined, not a function/,
    ],
    ["copy.mjs", /: its default export's zeroCopy is a string, not a boolean/],
    ["syntax.mjs", /: SyntaxError: /],
    ["throws.mjs", /: Error: no database$/],
  ];
  const features = (process as { features?: { typescript?: unknown } })
    .features;
  if (runtime === "node" && !features?.typescript) {
    cases.push(["typed.ts", /: this runtime cannot import TypeScript; /]);
  }
  try {
    for (const [name, message] of cases) {
      const path = join(dir, name);
      const run = await runCli(["serve", "--handler", path, "--port", "0"]);
      assert.equal(run.code, 2, `${name}: ${run.stdout}${run.stderr}`);
      const lines = run.stderr.trim().split("\n");
      assert.equal(lines.length, 1, `${name}: ${run.stderr}`);
      assert.ok(
        lines[0].startsWith(`error: Cannot load handler module ${path}: `),
        lines[0],
      );
      assert.match(lines[0], message);
      assert.doesNotMatch(run.stdout, /Server listening/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
