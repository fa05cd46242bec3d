/**
 * Builds framewire's npm package from the Deno source, tests it on Node and
 * checks the packed tarball:
 *
 *   deno run -A build_npm.ts 0.1.0      (or: deno task build:npm)
 *
 * 1. Empties `npm/` and compiles `mod.ts` and `src/` with the TypeScript
 *    compiler from npm to ES modules with `.d.ts` files and source maps,
 *    rewriting `.ts` import specifiers to `.js`; type errors fail it. Then
 *    transpiles `tests/` and, when the folder exists, `examples/` beside them
 *    (`esm/tests/`, `esm/examples/`), so a compiled test loads
 *    `../examples/kv.js`; neither is published.
 * 2. Writes `npm/package.json` (exports for the root, each adapter and
 *    `./cli`, each with `types` and `default`, so that `import` and, on Node
 *    ^20.19 or >= 22.12, `require()` load the same ES module; `bin`,
 *    `engines`, `files`) and copies README.md and LICENSE.
 * 3. Runs the test suite on Node against the built files (`node --test`).
 * 4. Packs the package and, in a fresh temporary folder, installs the tarball,
 *    runs an ESM script that imports `framewire`, its adapter subpaths and
 *    `framewire/cli` and round-trips pipelined requests, a CommonJS script
 *    (`.cjs`) that `require()`s `framewire` and each subpath and round-trips
 *    requests (also through `runLoadTest()`), and smoke-runs the `framewire`
 *    bin.
 *
 * @module
 */
import ts from "typescript";

const root = new URL(".", import.meta.url).pathname.replace(/\/$/, "");
const npmDir = `${root}/npm`;
const outDir = `${npmDir}/esm`;
const REPOSITORY = Deno.env.get("FRAMEWIRE_REPOSITORY") ??
  "https://github.com/framewire/framewire";

const version = Deno.args[0];
if (
  version === undefined || !/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(version)
) {
  console.error(
    version === undefined
      ? "error: the package version is required"
      : `error: '${version}' is not a version such as 0.1.0`,
  );
  console.error(
    "Usage: deno run -A build_npm.ts VERSION   (for example 0.1.0)",
  );
  Deno.exit(2);
}

function step(title: string): void {
  console.log(`\n== ${title}`);
}

/** A step that takes longer than this has hung: it is killed and fails the build. */
const STEP_TIMEOUT_MS = 10 * 60 * 1000;

async function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<void> {
  const child = new Deno.Command(command, {
    args,
    cwd: options.cwd ?? npmDir,
    env: options.env,
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const timer = setTimeout(() => {
    console.error(
      `'${command} ${args.join(" ")}' ran over ${
        STEP_TIMEOUT_MS / 1000
      } s: killing it`,
    );
    child.kill("SIGKILL");
  }, STEP_TIMEOUT_MS);
  const status = await child.status;
  clearTimeout(timer);
  if (!status.success) {
    throw new Error(
      `Cannot build npm package: '${command} ${
        args.join(" ")
      }' exited ${status.code}`,
    );
  }
}

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* walk(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

// The runtime-neutral core and the adapters describe what they use of each
// runtime with local types; node:* imports only need to exist as modules.
const SHIMS_FILE = `${root}/__framewire_build_shims.d.ts`;
const SHIMS = [
  "node:cluster",
  "node:fs",
  "node:http",
  "node:net",
  "node:os",
  "node:path",
  "node:process",
  "node:tls",
  "node:stream",
  "node:url",
  "node:child_process",
  "node:test",
  "node:assert/strict",
].map((name) => `declare module "${name}";`).join("\n");

const COMPILER_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  lib: ["lib.es2022.d.ts", "lib.dom.d.ts", "lib.esnext.disposable.d.ts"],
  types: [],
  strict: true,
  declaration: true,
  sourceMap: true,
  inlineSources: true,
  rootDir: root,
  outDir,
  rewriteRelativeImportExtensions: true,
  allowImportingTsExtensions: true,
  noEmitOnError: true,
  skipLibCheck: true,
  newLine: ts.NewLineKind.LineFeed,
};

/** Type-checks and emits the package's source; any type error fails the build. */
function compile(rootNames: string[]): void {
  const options = COMPILER_OPTIONS;
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile;
  host.getSourceFile = (fileName, languageVersion, onError, shouldCreate) =>
    fileName === SHIMS_FILE
      ? ts.createSourceFile(fileName, SHIMS, languageVersion)
      : getSourceFile.call(
        host,
        fileName,
        languageVersion,
        onError,
        shouldCreate,
      );
  const fileExists = host.fileExists;
  host.fileExists = (fileName) =>
    fileName === SHIMS_FILE || fileExists.call(host, fileName);
  const program = ts.createProgram([...rootNames, SHIMS_FILE], options, host);
  const diagnostics = [...ts.getPreEmitDiagnostics(program)];
  if (diagnostics.length === 0) diagnostics.push(...program.emit().diagnostics);
  if (diagnostics.length > 0) {
    console.error(ts.formatDiagnosticsWithColorAndContext(diagnostics, {
      getCanonicalFileName: (f) => f,
      getCurrentDirectory: () => root,
      getNewLine: () => "\n",
    }));
    throw new Error(
      `Cannot build npm package: ${diagnostics.length} TypeScript errors`,
    );
  }
}

/**
 * Emits the test and example files as JavaScript beside the built package.
 * They are type-checked with Node's own types by `deno check`; here they are
 * only transpiled, since the build has no Node type package.
 */
async function transpile(paths: string[]): Promise<void> {
  for (const path of paths) {
    const { outputText } = ts.transpileModule(await Deno.readTextFile(path), {
      compilerOptions: {
        ...COMPILER_OPTIONS,
        declaration: false,
        sourceMap: false,
      },
      fileName: path,
    });
    const target = `${outDir}/${
      path.slice(root.length + 1).replace(/\.ts$/, ".js")
    }`;
    await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), {
      recursive: true,
    });
    await Deno.writeTextFile(target, outputText);
  }
}

/** Declaration files keep `.ts` specifiers; point them at the emitted `.d.ts`/`.js` pairs. */
async function rewriteDeclarationSpecifiers(): Promise<void> {
  for await (const path of walk(outDir)) {
    if (!path.endsWith(".d.ts")) continue;
    const text = await Deno.readTextFile(path);
    const fixed = text.replace(
      /(from\s+["']\.{1,2}\/[^"']*?)\.ts(["'])/g,
      "$1.js$2",
    )
      .replace(/(import\(["']\.{1,2}\/[^"']*?)\.ts(["']\))/g, "$1.js$2");
    if (fixed !== text) await Deno.writeTextFile(path, fixed);
  }
}

/**
 * The version of `ws` that deno.json pins for the tests: the package's
 * optional dependency, loaded only by `serve --ws-port` on Node.
 */
async function wsVersion(): Promise<string> {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("./deno.json", import.meta.url)),
  );
  const pinned = /^npm:ws@(\d+\.\d+\.\d+)$/.exec(config.imports?.ws ?? "");
  if (pinned === null) throw new Error("deno.json pins no npm:ws@X.Y.Z");
  return `^${pinned[1]}`;
}

function packageJson(ws: string): Record<string, unknown> {
  // One ES module per entry point, for `import` and `require()` alike:
  // Node ^20.19 or >= 22.12 (and Bun) require() an ES module with no
  // top-level await. `default` rather than `import` is what lets require()
  // match; `types` comes first so TypeScript picks it under any condition.
  const entry = (path: string) => ({
    types: `./esm/${path}.d.ts`,
    default: `./esm/${path}.js`,
  });
  return {
    name: "framewire",
    version,
    description:
      "A high-performance TCP server and pipelining client for a length-prefixed binary protocol, on Node, Bun and Deno",
    license: "MIT",
    repository: { type: "git", url: `git+${REPOSITORY}.git` },
    type: "module",
    main: "./esm/mod.js",
    types: "./esm/mod.d.ts",
    exports: {
      ".": entry("mod"),
      "./node": entry("src/adapters/node"),
      "./bun": entry("src/adapters/bun"),
      "./deno": entry("src/adapters/deno"),
      "./cli": entry("src/cli/mod"),
      "./package.json": "./package.json",
    },
    bin: { framewire: "./esm/src/node_main.js" },
    engines: { node: ">=20" },
    // Only `serve --ws-port` loads it (with import()); the library never does.
    optionalDependencies: { ws },
    files: [
      "esm/mod.js",
      "esm/mod.js.map",
      "esm/mod.d.ts",
      "esm/src/",
      "README.md",
      "LICENSE",
    ],
    keywords: [
      "tcp",
      "framing",
      "length-prefixed",
      "pipelining",
      "server",
      "client",
    ],
    // mod.js starts the command line when run as a program. Not `false`:
    // modules also reached by import() would lose their initialisation in
    // esbuild bundles (evanw/esbuild#1490).
    sideEffects: [
      "./esm/mod.js",
      "./esm/src/node_main.js",
      "./esm/src/bun_main.js",
    ],
  };
}

const SMOKE_SCRIPT = `
import * as framewire from "framewire";
import { connect, serve, Server, FrameTooLargeError } from "framewire";
import { nodeNetwork } from "framewire/node";
import { bunNetwork } from "framewire/bun";
import { denoNetwork } from "framewire/deno";
import { EventLog, runLoadTest } from "framewire/cli";

for (const network of [nodeNetwork, bunNetwork, denoNetwork]) {
  if (typeof network.listen !== "function") throw new Error("an adapter subpath is missing");
}
if ("nodeNetwork" in framewire || "runCli" in framewire || "runLoadTest" in framewire) {
  throw new Error("framewire exports an adapter or the command line");
}
if (typeof runLoadTest !== "function" || typeof EventLog !== "function") {
  throw new Error("framewire/cli lacks runLoadTest or EventLog");
}

const server = await serve({ host: "127.0.0.1", port: 0, network: nodeNetwork });
const client = await connect({ host: "127.0.0.1", port: server.addr.port });
const encoder = new TextEncoder();
const requests = Array.from({ length: 1000 }, (_, i) => encoder.encode("request " + i));
const responses = await Promise.all(requests.map((r) => client.request(r)));
const decoder = new TextDecoder();
responses.forEach((response, i) => {
  if (decoder.decode(response) !== "request " + i) throw new Error("response " + i + " is wrong");
});
if (!(server instanceof Server) || typeof FrameTooLargeError !== "function") {
  throw new Error("exports are missing");
}
await client.close();
await server.close();
console.log("tarball check: " + responses.length + " pipelined requests answered in order");
`;

// A CommonJS project: require() of the ES module build (Node ^20.19, >= 22.12).
const CJS_SCRIPT = `
"use strict";
const framewire = require("framewire");
const { nodeNetwork } = require("framewire/node");
const { bunNetwork } = require("framewire/bun");
const { denoNetwork } = require("framewire/deno");
const { runLoadTest } = require("framewire/cli");

for (const network of [nodeNetwork, bunNetwork, denoNetwork]) {
  if (typeof network.listen !== "function") throw new Error("an adapter subpath is missing");
}

async function main() {
  const server = await framewire.serve({ host: "127.0.0.1", port: 0, network: nodeNetwork });
  const client = await framewire.connect({ host: "127.0.0.1", port: server.addr.port, network: nodeNetwork });
  const response = await client.request(new TextEncoder().encode("from require()"));
  if (new TextDecoder().decode(response) !== "from require()") throw new Error("the response is wrong");
  await client.close();
  const load = await runLoadTest({
    network: nodeNetwork, port: server.addr.port, requests: 1000, connections: 2, pipeline: 8, verify: true,
  });
  if (load.requests !== 1000 || load.errorCount !== 0) throw new Error("runLoadTest failed: " + JSON.stringify(load.errors));
  await server.close();
  if (!(new framewire.FrameTooLargeError("encode", 2, 1) instanceof framewire.FramewireError)) {
    throw new Error("the error classes are wrong");
  }
  console.log("CommonJS check: require() on Node " + process.versions.node + ": 1 request and " + load.requests + " load-test requests answered");
}
main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
`;

async function smokeTestBin(dir: string): Promise<void> {
  // The server runs from the installed bin itself (what `npx framewire`
  // starts), so the signal that stops it reaches it rather than an npx wrapper.
  const serve = new Deno.Command(`${dir}/node_modules/.bin/framewire`, {
    args: ["--host", "127.0.0.1", "--port", "0"], // serve, the default command
    cwd: dir,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = serve.stdout.getReader();
  let output = "";
  let port = 0;
  const deadline = Date.now() + 30_000;
  while (port === 0 && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    output += new TextDecoder().decode(value);
    port = Number(
      /Server listening on 127\.0\.0\.1:(\d+)/.exec(output)?.[1] ?? 0,
    );
  }
  if (port === 0) {
    serve.kill("SIGKILL");
    throw new Error(
      `Cannot smoke-test the bin: 'npx framewire --port 0' printed: ${output}`,
    );
  }
  console.log(output.trim());
  let clientError: unknown = null;
  try {
    await run("npx", ["--no", "framewire", "client", "--port", String(port)], {
      cwd: dir,
    });
  } catch (error) {
    clientError = error;
  }
  serve.kill("SIGTERM");
  while (true) {
    const { value, done } = await reader.read();
    if (done) break;
    output += new TextDecoder().decode(value);
  }
  const status = await serve.status;
  console.log(output.trim().split("\n").slice(1).join("\n"));
  if (clientError !== null) throw clientError;
  if (!status.success) {
    throw new Error(`Cannot smoke-test the bin: serve exited ${status.code}`);
  }
}

step(`Compiling framewire ${version} into npm/`);
await Deno.remove(npmDir, { recursive: true }).catch((error) => {
  if (!(error instanceof Deno.errors.NotFound)) throw error;
});
await Deno.mkdir(npmDir, { recursive: true });
const sources = [`${root}/mod.ts`];
for await (const path of walk(`${root}/src`)) sources.push(path);
compile(sources.sort());
const scripts: string[] = [];
for await (const path of walk(`${root}/tests`)) scripts.push(path);
try {
  for await (const path of walk(`${root}/examples`)) scripts.push(path);
} catch (error) {
  if (!(error instanceof Deno.errors.NotFound)) throw error;
  console.log("no examples/ folder: no examples to compile");
}
await transpile(scripts.sort());
await rewriteDeclarationSpecifiers();
await Deno.writeTextFile(
  `${npmDir}/package.json`,
  JSON.stringify(packageJson(await wsVersion()), null, 2) + "\n",
);
await Deno.copyFile(`${root}/README.md`, `${npmDir}/README.md`);
await Deno.copyFile(`${root}/LICENSE`, `${npmDir}/LICENSE`);
await Deno.chmod(`${outDir}/src/node_main.js`, 0o755);

step("Running the test suite on Node against the built files");
const testFiles: string[] = [];
for await (const entry of Deno.readDir(`${outDir}/tests`)) {
  if (entry.name.endsWith("_test.js")) {
    testFiles.push(`esm/tests/${entry.name}`);
  }
}
await run("node", ["--test", ...testFiles.sort()]);

step("Packing and checking the tarball in a fresh folder");
await run("npm", ["pack", "--silent"]);
const tarball = `${npmDir}/framewire-${version}.tgz`;
const tmp = await Deno.makeTempDir({ prefix: "framewire-tarball-" });
try {
  await Deno.writeTextFile(
    `${tmp}/package.json`,
    JSON.stringify({
      name: "framewire-tarball-check",
      private: true,
      type: "module",
    }),
  );
  await run(
    "npm",
    ["install", "--no-audit", "--no-fund", "--offline", tarball],
    { cwd: tmp },
  );
  await Deno.writeTextFile(`${tmp}/check.mjs`, SMOKE_SCRIPT);
  await run("node", ["check.mjs"], { cwd: tmp });
  await Deno.writeTextFile(`${tmp}/check.cjs`, CJS_SCRIPT);
  await run("node", ["check.cjs"], { cwd: tmp });
  await smokeTestBin(tmp);
} finally {
  await Deno.remove(tmp, { recursive: true });
}
const size = (await Deno.stat(tarball)).size;
console.log(
  `\nnpm/framewire-${version}.tgz: ${size} bytes; package built and checked`,
);
