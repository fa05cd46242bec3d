// framewire's client on Cloudflare Workers: a Worker
// (tests/fixtures/workerd/worker.ts) that imports the library is bundled
// with esbuild and run by workerd, Cloudflare's open-source Workers runtime,
// on a free loopback port. Fetched by the test with 1,000 payloads, the
// Worker opens a TCP connection with `connect()` from cloudflare:sockets,
// pipelines them with `Client.fromStream()` to a `serve` process on this
// runtime (Deno under deno test, Bun under bun test, Node in the npm build)
// and answers with every response, which the test checks against what it
// sent: with the default format, and with `--framing u32le-id`, where the
// id the client wrote into each request comes back in its own response.
//
// Two bundles: "core", with the modules that serve() and connect() load by
// dynamic import() (the adapters) and mod.ts's command line marked external,
// holds no node: module (checked in esbuild's metafile); "whole", what
// wrangler bundles by default, with node:* external, which workerd provides
// (nodejs_compat is on by default from compatibility date 2026-08-04).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Buffer } from "node:buffer";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { requireProgram } from "./_requires.ts";
import { startServeProcess, stopServe } from "./_cli_process.ts";
import { type PeerProcess, startPeer } from "./_peer_process.ts";
import { runtime, sourceExtension } from "./_runtime.ts";
import { seededRandom } from "./_helpers.ts";
import { workerdConfig } from "./fixtures/workerd/config.ts";
import type { WorkerSummary } from "./fixtures/workerd/worker.ts";

const workerd = requireProgram("workerd", import.meta.url);
const esbuild = requireProgram("esbuild", import.meta.url);
const skip = workerd.skip || esbuild.skip;

/** Pipelined requests per run. */
const REQUESTS = 1000;
/** The Workers' compatibility date: at most workerd 1.20261117.1's. */
const COMPATIBILITY_DATE = "2026-11-01";

// The built library beside these tests: the repository root from source,
// npm/esm/ in the npm build (where the fixture is compiled to .js too).
const root = fileURLToPath(new URL("..", import.meta.url));
const ext = sourceExtension;
const fixture = `${root}tests/fixtures/workerd/worker${ext}`;
/** What serve() and connect() (src/adapters/auto.ts) and mod.ts's command line load by dynamic import(). */
const LAZY_MODULES = [
  `src/adapters/node${ext}`,
  `src/adapters/bun${ext}`,
  `src/adapters/_deno_default${ext}`,
  `src/cli/hosts/deno${ext}`,
];

interface Bundle {
  name: string;
  /** esbuild's --external values. */
  external: string[];
}

const BUNDLES: Bundle[] = [
  {
    name: "core",
    external: ["cloudflare:*", ...LAZY_MODULES.map((path) => root + path)],
  },
  { name: "whole", external: ["cloudflare:*", "node:*"] },
];

interface Metafile {
  inputs: Record<string, unknown>;
  outputs: Record<string, { imports: Array<{ path: string; kind: string }> }>;
}

/** Bundles the Worker into `dir`/worker.js; the bundle's size and esbuild's metafile. */
async function bundle(dir: string, { external }: Bundle) {
  const outfile = join(dir, "worker.js");
  const metafile = join(dir, "meta.json");
  await promisify(execFile)("esbuild", [
    fixture,
    "--bundle",
    "--format=esm",
    "--platform=neutral",
    ...external.map((path) => `--external:${path}`),
    `--outfile=${outfile}`,
    `--metafile=${metafile}`,
    "--log-level=warning",
  ], { timeout: 30_000 });
  const meta = JSON.parse(await readFile(metafile, "utf8")) as Metafile;
  return { bytes: (await stat(outfile)).size, meta };
}

/** Checks that the core bundle holds the library's core and no adapter, command line or node: module. */
function checkCoreBundle(meta: Metafile): void {
  const inputs = Object.keys(meta.inputs);
  assert.ok(
    inputs.some((path) => path.endsWith(`src/client${ext}`)),
    `the client is bundled: ${inputs.join(" ")}`,
  );
  for (const path of inputs) {
    assert.doesNotMatch(path, /src\/(adapters\/(?!auto\.)|cli\/)|^node:/);
  }
  const imports = Object.values(meta.outputs).flatMap((output) =>
    output.imports
  );
  for (const { path, kind } of imports) {
    if (path === "cloudflare:sockets") continue;
    assert.equal(kind, "dynamic-import", `only loaded when called: ${path}`);
    assert.ok(
      LAZY_MODULES.some((module) => path.endsWith(module)),
      `a module loaded by import() is left out: ${path}`,
    );
  }
}

/** 1,000 payloads of seeded random bytes, 0 to 2 KiB and every 100th up to 64 KiB; at least 4 bytes with a request id. */
function makePayloads(seed: number, minLength: number): Uint8Array[] {
  const random = seededRandom(seed);
  return Array.from({ length: REQUESTS }, (_, i) => {
    const max = i % 100 === 99 ? 65536 : 2048;
    const length = minLength + Math.floor(random() * (max - minLength));
    const bytes = new Uint8Array(length);
    for (let j = 0; j < length; j++) bytes[j] = Math.floor(random() * 256);
    return bytes;
  });
}

/**
 * Asks the Worker to pipeline `payloads` to 127.0.0.1:`port` in `format`,
 * with a client made by `open` ("fromStream" or "dial").
 */
async function pipelineThroughWorker(
  worker: PeerProcess,
  port: number,
  format: string,
  open: string,
  payloads: Uint8Array[],
): Promise<WorkerSummary> {
  const response = await fetch(
    `http://127.0.0.1:${worker.port}/?port=${port}&format=${format}&open=${open}`,
    {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        payloads: payloads.map((p) => Buffer.from(p).toString("base64")),
      }),
      signal: AbortSignal.timeout(30_000),
    },
  );
  const body = await response.text();
  assert.equal(response.status, 200, `${body}\nworkerd: ${worker.output()}`);
  return JSON.parse(body) as WorkerSummary;
}

/** Checks each response against its request: equal, with the request id aside. */
function checkResponses(
  summary: WorkerSummary,
  format: string,
  payloads: Uint8Array[],
): void {
  assert.equal(summary.userAgent, "Cloudflare-Workers");
  assert.equal(summary.format, format);
  assert.equal(summary.requests, payloads.length);
  assert.equal(summary.responses.length, payloads.length);
  assert.ok(
    summary.inFlightAtFirstResponse > 1,
    `requests pipelined: ${summary.inFlightAtFirstResponse} in flight at the first response`,
  );
  const ids = new Set<string>();
  const idBytes = ID_BYTES[format] ?? 0;
  summary.responses.forEach((text, i) => {
    const response = new Uint8Array(Buffer.from(text, "base64"));
    const payload = payloads[i];
    // With an id, the client wrote one of its own into the room at offset 0
    // (never into the caller's bytes); the echo carries it back.
    assert.equal(response.length, payload.length, `response ${i}`);
    assert.deepEqual(
      response.subarray(idBytes),
      payload.subarray(idBytes),
      `response ${i}`,
    );
    ids.add(Buffer.from(response.subarray(0, idBytes)).toString("hex"));
  });
  if (idBytes > 0) {
    assert.equal(ids.size, payloads.length, "each request had its own id");
  }
}

/** The request id's bytes at offset 0, by format. */
const ID_BYTES: Record<string, number> = { "u32le-id": 4, dns: 2 };

/**
 * The formats the Worker pipelines in, each against `serve --framing` of
 * it, and the clients it makes (every format of framewire's presets; both
 * ways of opening with two of them).
 */
const FORMATS = [
  { format: "u32le", opens: ["fromStream", "dial"] },
  { format: "u32le-id", opens: ["fromStream", "dial"] },
  { format: "u32be", opens: ["fromStream"] },
  { format: "u16be", opens: ["fromStream"] },
  { format: "varint", opens: ["fromStream"] },
  { format: "dns", opens: ["fromStream"] },
] as const;

for (const variant of BUNDLES) {
  test(
    `workerd: a Worker bundled with esbuild (${variant.name}) pipelines ${REQUESTS} requests over connect() to serve on ${runtime}, in every preset format`,
    { skip },
    async () => {
      workerd.check();
      esbuild.check();
      const dir = await mkdtemp(join(tmpdir(), "framewire-workerd-"));
      let worker: PeerProcess | undefined;
      try {
        const { bytes, meta } = await bundle(dir, variant);
        if (variant.name === "core") checkCoreBundle(meta);
        const config = join(dir, "config.capnp");
        await writeFile(
          config,
          workerdConfig({
            workerPath: "worker.js",
            compatibilityDate: COMPATIBILITY_DATE,
          }),
        );
        worker = await startPeer(
          "workerd",
          (port) => ["serve", config, `--socket-addr=http=127.0.0.1:${port}`],
          20_000,
        );
        let seed = 1;
        for (const { format, opens } of FORMATS) {
          const server = await startServeProcess(
            ["--host", "127.0.0.1", "--port", "0", "--framing", format],
            /Server listening on 127\.0\.0\.1:(\d+)/,
          );
          try {
            for (const open of opens) {
              const payloads = makePayloads(seed++, ID_BYTES[format] ?? 0);
              const summary = await pipelineThroughWorker(
                worker,
                Number(server.match[1]),
                format,
                open,
                payloads,
              );
              assert.equal(summary.open, open);
              checkResponses(summary, format, payloads);
              console.log(
                `workerd: ${variant.name} bundle (${
                  (bytes / 1024).toFixed(1)
                } KiB), Client.${open}(), serve on ${runtime}, ${format}: ${summary.requests} requests pipelined (${summary.inFlightAtFirstResponse} in flight at the first response) in ${summary.elapsedMs} ms, every response checked`,
              );
            }
          } finally {
            assert.equal(await stopServe(server), 0, server.output());
          }
        }
      } finally {
        await worker?.stop();
        await rm(dir, { recursive: true, force: true });
      }
    },
  );
}
