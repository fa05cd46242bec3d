// serve's admin port (/livez, /readyz), its HAProxy agent-check port and the
// SIGTERM sequence (--drain-delay), run as real processes on this runtime.
import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { availableNetworks } from "./_runtime.ts";
import {
  exited,
  runCli,
  type ServeProcess,
  startServeProcess,
  stopServe,
} from "./_cli_process.ts";
import { encodeFrames } from "../src/frame_encoder.ts";
import { delay, RawConnection, str, text, waitFor } from "./_helpers.ts";

const network = availableNetworks()[0][1];

/** The ports a serve process printed: framed, admin and agent. */
function portsOf(server: ServeProcess) {
  const out = server.output();
  const port = (pattern: RegExp) => Number(pattern.exec(out)?.[1] ?? NaN);
  return {
    serve: port(/Server listening on 127\.0\.0\.1:(\d+)/),
    admin: port(/Metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/),
    agent: port(/Agent check on 127\.0\.0\.1:(\d+)/),
  };
}

/** The status of GET `path` on the admin port. */
async function status(admin: number, path: string): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${admin}${path}`);
  await response.body?.cancel();
  return response.status;
}

/**
 * Everything `port` says on one connection, to its FIN, after `request`
 * (if any) is written.
 */
async function readToEnd(port: number, request?: string): Promise<string> {
  const transport = await network.connect({ host: "127.0.0.1", port });
  let said = "";
  const decoder = new TextDecoder();
  await new Promise<void>((resolve) => {
    transport.start({
      data: (chunk) => {
        said += decoder.decode(chunk, { stream: true });
        return true;
      },
      end: () => transport.close(),
      drain: () => {},
      closed: () => resolve(),
    });
    if (request !== undefined) transport.write(text(request));
  });
  return said;
}

/** What the agent-check port says on one connection, to its FIN. */
const agentSays = (port: number) => readToEnd(port);

/**
 * The status line of `GET path HTTP/1.0` with no Host header, as HAProxy's
 * `option httpchk` sends it.
 */
async function bareStatus(port: number, path: string): Promise<string> {
  const said = await readToEnd(port, `GET ${path} HTTP/1.0\r\n\r\n`);
  return said.split("\r\n")[0];
}

/** Whether a new connection to `port` is refused. */
async function refused(port: number): Promise<boolean> {
  try {
    const transport = await network.connect({ host: "127.0.0.1", port });
    transport.close();
    return false;
  } catch {
    return true;
  }
}

test("cli: serve --admin-port: /livez and /readyz, and 503 at --max-connections", async () => {
  const server = await startServeProcess(
    [
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--admin-port",
      "0",
      "--agent-port",
      "0",
      "--max-connections",
      "1",
    ],
    /Agent check on 127\.0\.0\.1:(\d+)/,
  );
  try {
    const ports = portsOf(server);
    assert.equal(await status(ports.admin, "/livez"), 200);
    assert.equal(await status(ports.admin, "/readyz"), 200);
    assert.equal(await status(ports.admin, "/metrics"), 200);
    assert.match(
      await bareStatus(ports.admin, "/readyz"),
      /^HTTP\/1\.[01] 200/,
    );
    assert.equal(await agentSays(ports.agent), "ready maxconn:1\n");
    const raw = await RawConnection.open(network, ports.serve);
    raw.write(encodeFrames([text("hold")]));
    await waitFor(() => raw.frames.length === 1, "the answer");
    assert.equal(await status(ports.admin, "/readyz"), 503);
    assert.equal(await status(ports.admin, "/livez"), 200);
    raw.transport.close();
    await raw.waitClosed();
    const deadline = Date.now() + 5_000;
    while (await status(ports.admin, "/readyz") !== 200) {
      assert.ok(Date.now() < deadline, "/readyz is 200 again");
      await delay(20);
    }
  } finally {
    assert.equal(await stopServe(server), 0);
  }
});

test("cli: serve SIGTERM sequence: readiness fails, --drain-delay keeps accepting, then drains and exits 0", async () => {
  const server = await startServeProcess(
    [
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--metrics-port", // the old name still works
      "0",
      "--agent-port",
      "0",
      "--drain-delay",
      "1500ms",
      "--drain-timeout",
      "10s",
      "--slow",
      "1:700ms", // every request is answered after 700 ms: in flight
    ],
    /Agent check on 127\.0\.0\.1:(\d+)/,
  );
  const exit = exited(server.child);
  const ports = portsOf(server);
  assert.equal(await status(ports.admin, "/readyz"), 200);
  const before = await RawConnection.open(network, ports.serve);
  const signalled = Date.now();
  server.child.kill("SIGTERM");
  // (1) Readiness fails at once; the process is still live.
  await waitFor(() => /Draining/.test(server.output()), "the drain");
  assert.equal(await status(ports.admin, "/readyz"), 503);
  assert.equal(await status(ports.admin, "/livez"), 200);
  assert.equal(await agentSays(ports.agent), "drain\n");
  // (2) During the delay, new connections are accepted and served.
  const during = await RawConnection.open(network, ports.serve);
  during.write(encodeFrames([text("during the delay")]));
  // (4) A request received just before accepting stops is answered.
  await delay(Math.max(0, signalled + 1200 - Date.now()));
  assert.ok(!/Shutting down/.test(server.output()), "still in the delay");
  before.write(encodeFrames([text("in flight")]));
  await waitFor(
    () => /Shutting down/.test(server.output()),
    "the end of the delay",
  );
  assert.ok(Date.now() - signalled >= 1400, "the delay was kept");
  // (3) After the delay, new connections are refused.
  assert.ok(await refused(ports.serve), "refused after the delay");
  await waitFor(() => during.frames.length === 1, "the answer during");
  await waitFor(() => before.frames.length === 1, "the in-flight answer");
  assert.equal(str(during.frames[0]), "during the delay");
  assert.equal(str(before.frames[0]), "in flight");
  // (5) Idle connections are closed with FIN, (6) the process exits 0.
  await waitFor(() => before.ended && during.ended, "the FINs");
  assert.equal(await exit, 0);
  assert.ok(Date.now() - signalled < 10_000, "within the timeout");
  const out = server.output();
  const order = ["Draining", "Shutting down", "Server stopped"].map((line) =>
    out.indexOf(line)
  );
  assert.ok(order.every((at, i) => at >= 0 && (i === 0 || at > order[i - 1])));
  before.transport.close();
  during.transport.close();
});

test("cli: serve --drain-notice ends each connection with the drain notice on SIGTERM", async () => {
  const server = await startServeProcess(
    ["--host", "127.0.0.1", "--port", "0", "--drain-notice"],
    /Server listening on 127\.0\.0\.1:(\d+)/,
  );
  const exit = exited(server.child);
  const raw = await RawConnection.open(
    network,
    Number(server.match[1]),
    undefined,
    true,
  );
  raw.write(encodeFrames([text("before")]));
  await waitFor(() => raw.frames.length === 1, "the answer");
  assert.equal(raw.notice, false);
  server.child.kill("SIGTERM");
  await waitFor(() => raw.ended, "the FIN");
  assert.deepEqual(raw.frames.map(str), ["before"]);
  assert.ok(raw.notice, "the notice came before the FIN");
  assert.equal(await exit, 0);
  raw.transport.close();
});

test("cli: a second signal during --drain-delay exits at once", async () => {
  const server = await startServeProcess(
    ["--host", "127.0.0.1", "--port", "0", "--drain-delay", "60s"],
    /Server listening on 127\.0\.0\.1:(\d+)/,
  );
  let exitCode: number | null | undefined;
  exited(server.child).then((code) => (exitCode = code));
  process.kill(server.child.pid!, "SIGTERM");
  await waitFor(() => /Draining/.test(server.output()), "the drain");
  await delay(200);
  assert.equal(exitCode, undefined, "still in the delay");
  process.kill(server.child.pid!, "SIGTERM");
  await waitFor(() => exitCode !== undefined, "the exit", 10_000);
  assert.match(server.output(), /Second signal/);
  if (exitCode !== null && exitCode !== 0) assert.equal(exitCode, 1);
});

test("cli: serve --workers 2: the primary's /readyz and agent check cover the set", async () => {
  const server = await startServeProcess(
    [
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--workers",
      "2",
      "--admin-port",
      "0",
      "--agent-port",
      "0",
      "--drain-delay",
      "1s",
      "--max-connections",
      "5",
    ],
    /Agent check on 127\.0\.0\.1:(\d+)/,
  );
  const exit = exited(server.child);
  const ports = portsOf(server);
  assert.equal(await status(ports.admin, "/livez"), 200);
  assert.equal(await status(ports.admin, "/readyz"), 200);
  assert.equal(await agentSays(ports.agent), "ready maxconn:10\n");
  server.child.kill("SIGTERM");
  await waitFor(() => /Draining/.test(server.output()), "the drain");
  assert.equal(await status(ports.admin, "/readyz"), 503);
  assert.equal(await agentSays(ports.agent), "drain\n");
  const during = await RawConnection.open(network, ports.serve);
  during.write(encodeFrames([text("during the delay")]));
  await waitFor(() => during.frames.length === 1, "the answer");
  await waitFor(() => during.ended, "the FIN", 15_000);
  during.transport.close();
  assert.equal(await exit, 0);
});

test("cli: admin and agent flags: bad combinations exit 2", async () => {
  const cases: Array<[string[], RegExp]> = [
    [
      ["serve", "--admin-port", "0", "--metrics-port", "0"],
      /error: option '--metrics-port' is another name for '--admin-port'/,
    ],
    [
      ["serve", "--admin-host", "127.0.0.1"],
      /error: option '--admin-host' needs --admin-port/,
    ],
    [
      ["serve", "--agent-host", "127.0.0.1"],
      /error: option '--agent-host' needs --agent-port/,
    ],
    [
      ["serve", "--agent-port", "70000"],
      /error: option '--agent-port' expects a port from 0 to 65535/,
    ],
    [
      ["serve", "--drain-delay", "soon"],
      /error: option '--drain-delay'/,
    ],
  ];
  for (const [args, message] of cases) {
    const run = await runCli(args);
    assert.equal(run.code, 2, args.join(" "));
    assert.match(run.stderr, message);
  }
});
