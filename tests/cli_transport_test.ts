// The command line over TLS and Unix domain sockets, run as real processes
// on this runtime: serve, client and bench with their transport flags.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  runBench,
  runCli,
  startServeProcess,
  stopServe,
} from "./_cli_process.ts";
import { makeTlsFixture, type TlsFixture } from "./_tls_fixture.ts";
import { requireProgram } from "./_requires.ts";

// The TLS tests need openssl's certificates: skipped without it (failed
// under FRAMEWIRE_REQUIRE_ALL=1); the others run anyway.
const openssl = requireProgram("openssl", import.meta.url);
const { skip } = openssl;

let fixture: TlsFixture;
let dir: string;
before(async () => {
  if (openssl.installed) fixture = await makeTlsFixture();
  dir = mkdtempSync(join(tmpdir(), "framewire-cli-"));
});
after(() => {
  fixture?.remove();
  rmSync(dir, { recursive: true, force: true });
});

function startTlsServe() {
  return startServeProcess([
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--tls-cert",
    fixture.certPath,
    "--tls-key",
    fixture.keyPath,
  ], /Server listening on 127\.0\.0\.1:(\d+) \(TLS\)\n/);
}

const serveTls =
  "cli: serve --tls-cert/--tls-key answers client --tls-ca and refuses a client with another CA";
test(serveTls, { skip }, async () => {
  openssl.check();
  const server = await startTlsServe();
  const port = server.match[1];
  try {
    const ok = await runCli([
      "client",
      "--port",
      port,
      "--tls-ca",
      fixture.caPath,
      "ping",
      "pong",
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(
      ok.stdout,
      new RegExp(
        `^1: 4 bytes "ping"\\n2: 4 bytes "pong"\\n2 of 2 responses in [\\d.]+ ms from 127\\.0\\.0\\.1:${port} \\(TLS\\)\\n$`,
      ),
    );
    const byName = await runCli([
      "client",
      "--port",
      port,
      "--tls-ca",
      fixture.caPath,
      "--tls-server-name",
      "localhost",
      "named",
    ]);
    assert.equal(byName.code, 0, byName.stderr);
    const wrongCa = await runCli([
      "client",
      "--port",
      port,
      "--tls-ca",
      fixture.otherCaPath,
      "hi",
    ]);
    assert.equal(wrongCa.code, 1);
    assert.match(
      wrongCa.stderr,
      new RegExp(
        `^error: Cannot connect to 127\\.0\\.0\\.1:${port}: .+ \\(ETLS\\)( \\(.+\\))?\\n$`,
      ),
    );
    const defaultRoots = await runCli(["client", "--port", port, "--tls", "x"]);
    assert.equal(defaultRoots.code, 1, "the test CA is not a default root");
    const plain = await runCli(["client", "--port", port, "hi"]);
    assert.equal(plain.code, 1, "a plain client gets no answer from TLS");
  } finally {
    assert.equal(await stopServe(server), 0);
  }
  assert.match(server.output(), /requests served/);
});

const benchTls = "cli: bench --tls-ca load-tests a TLS server, verified";
test(benchTls, { skip }, async () => {
  openssl.check();
  const server = await startTlsServe();
  const port = server.match[1];
  try {
    const run = await runCli([
      "bench",
      "--port",
      port,
      "--tls-ca",
      fixture.caPath,
      "-n",
      "3000",
      "-c",
      "3",
      "-P",
      "16",
      "--verify",
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stdout,
      new RegExp(
        `^framewire bench: 127\\.0\\.0\\.1:${port} \\(TLS\\), 3/3 connections x 16 in flight, 16-byte payloads, verified\\n`,
      ),
    );
    assert.match(run.stdout, /requests: 3,000 in /);
    assert.match(run.stdout, /errors: 0 \(/);
    const { result } = await runBench(
      ["--port", port, "--tls-ca", fixture.otherCaPath, "-c", "2", "-d", "0.2"],
      1,
    );
    assert.equal(result.tls, true);
    assert.equal(result.errors.connect, 2);
    assert.equal(typeof result.connectError, "string");
  } finally {
    assert.equal(await stopServe(server), 0);
  }
});

test("cli: serve --unix answers client and bench --unix, and removes its socket on exit", async () => {
  const path = join(dir, "serve.sock");
  const server = await startServeProcess(
    ["--unix", path],
    /Server listening on unix:(.+)\n/,
  );
  assert.equal(server.match[1], path);
  try {
    const client = await runCli(["client", "--unix", path, "a", "bc"]);
    assert.equal(client.code, 0, client.stderr);
    assert.match(
      client.stdout,
      new RegExp(`2 of 2 responses in [\\d.]+ ms from unix:${path}\\n$`),
    );
    const { result } = await runBench([
      "--unix",
      path,
      "-n",
      "2000",
      "-c",
      "2",
      "-P",
      "8",
      "--verify",
    ]);
    assert.equal(result.path, path);
    assert.equal(result.requests, 2000);
    assert.equal(result.errorCount, 0);
    // A second server on the same path is refused while the first answers.
    const second = await runCli(["serve", "--unix", path]);
    assert.equal(second.code, 1);
    assert.match(
      second.stderr,
      new RegExp(
        `error: Cannot listen on ${path}: a server is answering there`,
      ),
    );
  } finally {
    assert.equal(await stopServe(server), 0);
  }
  assert.equal(existsSync(path), false, "the socket file is removed");
});

test("cli: transport flag mistakes print a clear error", async () => {
  const notPem = join(dir, "not.pem");
  writeFileSync(notPem, "hello");
  // Only the file's PEM header is read before the error: no openssl needed.
  const keyPath = join(dir, "key.pem");
  writeFileSync(keyPath, "-----BEGIN PRIVATE KEY-----\n");
  const usage: Array<[string[], RegExp]> = [
    [
      ["serve", "--tls-cert", notPem],
      /error: options '--tls-cert' and '--tls-key' must be given together/,
    ],
    [
      ["serve", "--unix", join(dir, "x.sock"), "--port", "1"],
      /error: option '--unix' cannot be combined with '--port'/,
    ],
    [
      ["client", "--unix", join(dir, "x.sock"), "--tls"],
      /error: option '--unix' cannot be combined with '--tls'/,
    ],
    [["serve", "--tls"], /error: unknown option '--tls'/],
    [["bench", "--tls-ca"], /error: option '--tls-ca' needs a value/],
  ];
  for (const [args, message] of usage) {
    const run = await runCli(args);
    assert.equal(run.code, 2, args.join(" "));
    assert.match(run.stderr, message);
  }
  const failures: Array<[string[], RegExp]> = [
    [
      ["client", "--tls-ca", join(dir, "missing.pem"), "x"],
      /error: Cannot read --tls-ca file '.*missing\.pem' \(.+\)/,
    ],
    [
      ["serve", "--tls-cert", notPem, "--tls-key", keyPath],
      /error: Cannot use --tls-cert file '.*not\.pem': it holds no PEM data/,
    ],
    [
      ["serve", "--unix", notPem],
      /error: Cannot listen on .*not\.pem: the path exists and is not a socket/,
    ],
  ];
  for (const [args, message] of failures) {
    const run = await runCli(args);
    assert.equal(run.code, 1, args.join(" "));
    assert.match(run.stderr, message);
  }
});
