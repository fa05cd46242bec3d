// framewire's client in a real browser: headless Chromium (Debian's
// `chromium`), driven by puppeteer-core from npm, opens a page served by
// this test from a small node:http server on 127.0.0.1. The page's script
// (tests/fixtures/browser/page.ts) imports the library and, through
// `Client.fromWebSocket()` over the browser's own WebSocket, pipelines 1,000
// requests, one of them 1 MiB, to a `serve --ws-port 0` gateway on this
// runtime (Deno under deno test, Bun under bun test, Node in the npm build).
// It uploads the responses to the test, which checks every one against the
// payloads it made: with the default format, and with `--framing u32le-id`,
// where each request leaves 4 bytes at offset 0 for the id the client
// writes and the echo carries back.
//
// The page loads the library in two ways:
// - unbundled: the browser's ES module loader fetches mod.ts and each module
//   it imports, one by one, as a development server would hand them out:
//   from source, each .ts file is transpiled alone by esbuild (no bundling;
//   its import specifiers are left as they are); in the npm build the
//   compiled .js files are served as they are. The modules that serve() and
//   connect() import when called (the adapters, the command line) are never
//   fetched.
// - bundled: esbuild bundles the page script into one file for the browser,
//   with those lazily imported modules external as docs/edge.md says (they
//   hold node: imports and are never loaded in a browser); the browser
//   fetches that one file only.
//
// The 1,000 payloads are seeded random bytes (one of 1 MiB) that the page
// fetches from the test's server; it posts the responses back in request
// order and the test compares each with its request.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { readFile } from "node:fs/promises";
import { join, normalize } from "node:path";
import { Buffer } from "node:buffer";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { findOnPath, requireProgram } from "./_requires.ts";
import { startServeProcess, stopServe } from "./_cli_process.ts";
import { runtime, sourceExtension } from "./_runtime.ts";
import { seededRandom } from "./_helpers.ts";
import type { PageRun, PageSummary } from "./fixtures/browser/page.ts";

const chromium = requireProgram("chromium", import.meta.url);
const esbuild = requireProgram("esbuild", import.meta.url);
const skip = chromium.skip || esbuild.skip;

/** Pipelined requests per run, one of them `LARGE` bytes. */
const REQUESTS = 1000;
const LARGE = 1 << 20;
const LARGE_INDEX = 500;
/** The longest a step of the test (a launch, a page load, a run) may take. */
const STEP_TIMEOUT_MS = 30_000;

// The library beside these tests: the repository root from source, npm/esm/
// in the npm build (where the page script is compiled to .js too).
const root = fileURLToPath(new URL("..", import.meta.url));
const ext = sourceExtension;
const PAGE_SCRIPT = `tests/fixtures/browser/page${ext}`;
/**
 * What serve() and connect() (src/adapters/auto.ts) and mod.ts's command
 * line load by dynamic import(): docs/edge.md's four --external paths.
 */
const LAZY_MODULES = [
  `src/adapters/node${ext}`,
  `src/adapters/bun${ext}`,
  `src/adapters/_deno_default${ext}`,
  `src/cli/hosts/deno${ext}`,
];
/** A module path the browser must never ask for: an adapter (auto.ts aside) or the command line. */
const NOT_FOR_BROWSERS = /^\/src\/(adapters\/(?!auto\.)|cli\/)/;

/**
 * The runs: each gateway's format and flags, and the bytes each request
 * leaves at offset 0 for the request id the client writes there.
 */
const FORMATS = [
  { format: "u32le", flags: [], room: 0 },
  { format: "u32le-id", flags: ["--framing", "u32le-id"], room: 4 },
] as const;

/** 1,000 payloads of seeded random bytes, `room` to 2 KiB, one of 1 MiB. */
function makePayloads(seed: number, room: number): Uint8Array[] {
  const random = seededRandom(seed);
  const randomByte = () => Math.floor(random() * 256);
  return Array.from({ length: REQUESTS }, (_, i) =>
    Uint8Array.from(
      {
        length: i === LARGE_INDEX
          ? LARGE
          : room + Math.floor(random() * (2048 - room)),
      },
      randomByte,
    ));
}

/** A run's payloads and, once the page uploaded them, its responses. */
interface Run {
  payloads: Uint8Array[];
  responses?: Uint8Array;
}

/** The test's HTTP server: the page, its modules and the runs' bytes. */
interface PageServer {
  origin: string;
  /** Adds a run; its path for the page. */
  addRun(payloads: Uint8Array[]): { path: string; run: Run };
  /** The module paths the browser fetched (not the page or the runs). */
  fetched: Set<string>;
  close(): Promise<void>;
}

/** Reads a request's body. */
async function bodyOf(request: IncomingMessage): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}

/**
 * Starts the HTTP server on 127.0.0.1 for a page that loads `entry`;
 * `module(path)` gives the JavaScript of a module path, or undefined (404).
 */
async function startPageServer(
  entry: string,
  module: (path: string) => Promise<string | undefined>,
): Promise<PageServer> {
  const runs = new Map<string, Run>();
  const fetched = new Set<string>();
  const html = `<!doctype html>\n<meta charset="utf-8">\n` +
    `<title>framewire in a browser</title>\n` +
    // No favicon request.
    `<link rel="icon" href="data:,">\n` +
    `<script type="module" src="${entry}"></script>\n`;
  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const path = new URL(request.url ?? "/", "http://127.0.0.1").pathname;
    const send = (status: number, type: string, body: string | Uint8Array) => {
      response.writeHead(status, {
        "content-type": type,
        "cache-control": "no-store",
      });
      response.end(body);
    };
    const runMatch = /^(\/runs\/\d+)\/(lengths|payloads|responses)$/.exec(path);
    if (path === "/") return send(200, "text/html", html);
    if (runMatch) {
      const run = runs.get(runMatch[1]);
      if (run === undefined) return send(404, "text/plain", "no such run");
      if (runMatch[2] === "lengths") {
        const lengths = run.payloads.map((p) => p.length);
        return send(200, "application/json", JSON.stringify(lengths));
      }
      if (runMatch[2] === "payloads") {
        return send(
          200,
          "application/octet-stream",
          Buffer.concat(run.payloads),
        );
      }
      if (request.method !== "POST") return send(405, "text/plain", "POST");
      run.responses = await bodyOf(request);
      return send(200, "text/plain", "ok");
    }
    fetched.add(path);
    const code = await module(path);
    if (code === undefined) return send(404, "text/plain", "not found");
    send(200, "text/javascript", code);
  };
  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error) => {
      response.writeHead(500, { "content-type": "text/plain" });
      response.end(String(error));
    });
  });
  await new Promise<void>((resolve) =>
    server.listen({ host: "127.0.0.1", port: 0 }, resolve)
  );
  const { port } = server.address() as { port: number };
  let next = 1;
  return {
    origin: `http://127.0.0.1:${port}`,
    addRun(payloads) {
      const path = `/runs/${next++}`;
      const run: Run = { payloads };
      runs.set(path, run);
      return { path, run };
    },
    fetched,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Runs esbuild with `args`. */
async function runEsbuild(args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)("esbuild", [
    ...args,
    "--log-level=warning",
  ], { timeout: STEP_TIMEOUT_MS, maxBuffer: 64 << 20 });
  return stdout;
}

/**
 * Unbundled: a module path of mod.ts, src/ or the page's folder, as
 * JavaScript: a .ts file transpiled alone by esbuild, a .js file as it is.
 */
function unbundledModules(): (path: string) => Promise<string | undefined> {
  const cache = new Map<string, Promise<string>>();
  return (path) => {
    const relative = normalize(decodeURIComponent(path)).replace(/^\/+/, "");
    const allowed = relative === `mod${ext}` ||
      (relative.startsWith("src/") ||
          relative.startsWith("tests/fixtures/browser/")) &&
        relative.endsWith(ext) && !relative.includes("..");
    if (!allowed) return Promise.resolve(undefined);
    let code = cache.get(relative);
    if (code === undefined) {
      const file = join(root, relative);
      code = ext === ".ts"
        ? runEsbuild([file, "--format=esm", "--platform=browser"])
        : readFile(file, "utf8");
      cache.set(relative, code);
    }
    return code;
  };
}

/**
 * Bundled: the page script bundled by esbuild for the browser into one
 * file, with the lazily imported modules external (esbuild fails on the
 * node: modules they import, and the browser would on any node: import
 * left in the bundle).
 */
function bundlePage(): Promise<string> {
  return runEsbuild([
    join(root, PAGE_SCRIPT),
    "--bundle",
    "--format=esm",
    "--platform=browser",
    ...LAZY_MODULES.map((path) => `--external:${root}${path}`),
  ]);
}

/** Rejects after `ms` with `what` in the message, unless `promise` settles first. */
async function within<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Timed out after ${ms} ms: ${what}`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Launches headless Chromium from PATH. */
function launchChromium(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: findOnPath("chromium"),
    headless: true,
    // CI runs as root, where Chromium's sandbox cannot start; the new
    // headless mode (what `headless: true` asks for too) is the full browser.
    args: ["--no-sandbox", "--headless=new"],
    timeout: STEP_TIMEOUT_MS,
    protocolTimeout: STEP_TIMEOUT_MS * 2,
  });
}

/** Closes the browser; kills its process by PID if it does not close. */
async function closeChromium(browser: Browser): Promise<void> {
  try {
    await within(browser.close(), 10_000, "closing Chromium");
  } catch (error) {
    browser.process()?.kill("SIGKILL");
    throw error;
  }
}

/** Opens the page and waits until its script has set `framewirePage`; records its errors in `errors`. */
async function openPage(
  browser: Browser,
  origin: string,
  errors: string[],
): Promise<Page> {
  const page = await browser.newPage();
  page.on("pageerror", (error) => errors.push(`page error: ${error}`));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(`console: ${message.text()}`);
  });
  page.on("requestfailed", (request) => {
    errors.push(`request failed: ${request.url()}`);
  });
  await page.goto(`${origin}/`, { timeout: STEP_TIMEOUT_MS });
  try {
    await page.waitForFunction(() => "framewirePage" in globalThis, {
      timeout: STEP_TIMEOUT_MS,
    });
  } catch (error) {
    throw new Error(`The page script did not load: ${errors.join("; ")}`, {
      cause: error,
    });
  }
  return page;
}

/**
 * Checks each response against its request: the same bytes after the
 * `room` at offset 0, where the client wrote an id of its own (never into
 * the caller's bytes) that the echo carries back, each id different.
 */
function checkResponses(
  summary: PageSummary,
  run: Run,
  format: string,
  room: number,
): void {
  const { payloads } = run;
  assert.match(summary.userAgent, /HeadlessChrome\//);
  assert.equal(summary.format, format);
  assert.equal(summary.requests, payloads.length);
  assert.deepEqual(
    summary.responseLengths,
    payloads.map((payload) => payload.length),
    "each response as long as its request",
  );
  assert.ok(
    summary.inFlightAtFirstResponse > 1,
    `pipelined: ${summary.inFlightAtFirstResponse} in flight at the first response`,
  );
  const bytes = run.responses;
  assert.ok(bytes !== undefined, "the page uploaded the responses");
  assert.equal(bytes.length, Buffer.concat(payloads).length);
  const ids = new Set<string>();
  let offset = 0;
  payloads.forEach((payload, i) => {
    const response = Buffer.from(
      bytes.subarray(offset, offset + payload.length),
    );
    offset += payload.length;
    assert.ok(
      response.subarray(room).equals(payload.subarray(room)),
      `response ${i} is its request's`,
    );
    ids.add(response.subarray(0, room).toString("hex"));
  });
  if (room > 0) {
    assert.equal(ids.size, payloads.length, "each request had its own id");
  }
}

const GATEWAY = /WebSocket gateway on ws:\/\/127\.0\.0\.1:(\d+)\//;

/**
 * Serves the page (loading `entry` through `module`), opens it in Chromium
 * and pipelines a run through the gateway with each format; `check` looks
 * at the module paths the browser fetched.
 */
async function pipelineFromBrowser(
  mode: string,
  entry: string,
  module: (path: string) => Promise<string | undefined>,
  check: (fetched: Set<string>) => string,
): Promise<void> {
  const pages = await startPageServer(entry, module);
  const errors: string[] = [];
  let browser: Browser | undefined;
  try {
    browser = await launchChromium();
    const page = await openPage(browser, pages.origin, errors);
    const loaded = check(pages.fetched);
    const version = await browser.version();
    let seed = 1;
    for (const { format, flags, room } of FORMATS) {
      const server = await startServeProcess(
        [
          "--host",
          "127.0.0.1",
          "--port",
          "0",
          "--ws-port",
          "0",
          ...flags,
        ],
        GATEWAY,
      );
      try {
        const { path, run } = pages.addRun(makePayloads(seed++, room));
        const request: PageRun = {
          url: `ws://127.0.0.1:${server.match[1]}/`,
          format,
          path,
        };
        const summary = await within(
          page.evaluate(
            (request) =>
              (globalThis as unknown as {
                framewirePage: {
                  pipeline(request: PageRun): Promise<PageSummary>;
                };
              }).framewirePage.pipeline(request),
            request,
          ),
          STEP_TIMEOUT_MS,
          `the page's run (${errors.join("; ")})`,
        );
        checkResponses(summary, run, format, room);
        assert.deepEqual(errors, [], "the page reported no error");
        console.log(
          `browser: ${mode} (${loaded}), ${version}, Client.fromWebSocket() to serve --ws-port on ${runtime}, ${format}: ${summary.requests} requests pipelined, one of 1 MiB (${summary.inFlightAtFirstResponse} in flight at the first response) in ${summary.elapsedMs} ms, every response checked`,
        );
      } finally {
        assert.equal(await stopServe(server), 0, server.output());
      }
    }
  } finally {
    if (browser !== undefined) await closeChromium(browser);
    await pages.close();
  }
}

test(
  `browser: Chromium loads the library unbundled as ES modules and pipelines ${REQUESTS} requests to serve --ws-port on ${runtime}, u32le and u32le-id`,
  { skip },
  async () => {
    chromium.check();
    esbuild.check();
    await pipelineFromBrowser(
      "unbundled ES modules",
      `/${PAGE_SCRIPT}`,
      unbundledModules(),
      (fetched) => {
        const paths = [...fetched];
        for (
          const path of [
            `/${PAGE_SCRIPT}`,
            `/mod${ext}`,
            `/src/client${ext}`,
            `/src/websocket_transport${ext}`,
          ]
        ) {
          assert.ok(fetched.has(path), `${path} fetched: ${paths.join(" ")}`);
        }
        for (const path of paths) {
          assert.doesNotMatch(path, NOT_FOR_BROWSERS, "never loaded here");
        }
        return `${fetched.size} modules fetched one by one`;
      },
    );
  },
);

test(
  `browser: Chromium loads the library bundled with esbuild and pipelines ${REQUESTS} requests to serve --ws-port on ${runtime}, u32le and u32le-id`,
  { skip },
  async () => {
    chromium.check();
    esbuild.check();
    const bundle = await bundlePage();
    await pipelineFromBrowser(
      "bundled with esbuild",
      "/page.js",
      (path) => Promise.resolve(path === "/page.js" ? bundle : undefined),
      (fetched) => {
        assert.deepEqual([...fetched], ["/page.js"], "one file fetched");
        return `one file of ${
          (Buffer.byteLength(bundle) / 1024).toFixed(1)
        } KiB`;
      },
    );
  },
);
