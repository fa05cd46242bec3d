// framewire behind a real HAProxy (Debian's package): two in-process servers
// with proxyProtocol on, HAProxy in TCP mode sending PROXY v2 to both,
// round robin, with health checks. Pipelined load through it is verified
// response by response; each instance must see the real clients' addresses;
// then one instance is closed mid-run and new connections must all go to the
// survivor. HAProxy is a child process, stopped by its own handle.
import { test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { freePort, haproxyTcpConfig } from "./_peer_process.ts";
import { Client } from "../src/client.ts";
import { ConnectionClosedError } from "../src/errors.ts";
import { defaultNetwork } from "../src/adapters/auto.ts";
import { Server } from "../src/server.ts";
import type { NetAddr } from "../src/transport.ts";
import { delay, str, text, waitFor } from "./_helpers.ts";
import { requireProgram } from "./_requires.ts";

// Skipped without HAProxy on PATH (failed under FRAMEWIRE_REQUIRE_ALL=1).
const needsHaproxy = requireProgram("haproxy", import.meta.url);

/** HAProxy's version line, or null when `haproxy -v` fails. */
function haproxyVersion(): string | null {
  const result = spawnSync("haproxy", ["-v"], { encoding: "utf8" });
  if (result.error !== undefined || result.status !== 0) return null;
  return result.stdout.split("\n")[0];
}

/**
 * Writes `text` to a file in a new temporary directory; returns the
 * directory. Done with `sh` so that the test needs only the node modules the
 * npm build provides for compiled tests (not node:fs). HAProxy cannot read
 * its configuration from stdin on every runtime: Bun's stdin pipe is a
 * socket, which /dev/stdin cannot open.
 */
function writeTempFile(name: string, text: string): string {
  const result = spawnSync(
    "sh",
    ["-c", 'dir=$(mktemp -d) && cat > "$dir/$1" && echo "$dir"', "sh", name],
    { input: text, encoding: "utf8" },
  );
  if (result.status !== 0) {
    throw new Error(`Cannot write ${name}: ${result.stderr}`);
  }
  return result.stdout.trim();
}

/**
 * A framewire instance that answers `ping` (HAProxy's health check) with
 * itself, and any other request with `instance|client address|request`,
 * recording the client address of every connection that sent one.
 */
async function startInstance(name: string) {
  const clients = new Map<number, NetAddr>();
  const errors: unknown[] = [];
  let requests = 0;
  let checks = 0;
  const server = new Server({
    proxyProtocol: { timeout: 5000 },
    handler: (request, context) => {
      const payload = str(request);
      if (payload === "ping") {
        checks++;
        return request;
      }
      requests++;
      clients.set(context.connectionId, context.remoteAddr);
      const { hostname, port } = context.remoteAddr;
      return text(`${name}|${hostname}:${port}|${payload}`);
    },
    onError: (error) => errors.push(error),
  });
  const addr = await server.listen(await defaultNetwork(), {
    host: "127.0.0.1",
    port: 0,
  });
  return {
    name,
    server,
    port: addr.port,
    clients,
    errors,
    get requests() {
      return requests;
    },
    get checks() {
      return checks;
    },
  };
}

function haproxyConfig(frontend: number, backends: number[]): string {
  // The health check is one framewire request, "ping" (04 00 00 00 'ping'),
  // answered with itself: on a LOCAL PROXY v2 connection, as HAProxy sends
  // for checks. (A bare `check` opens, sends the header and closes at once,
  // which some adapters' accept() reports as an error.)
  return haproxyTcpConfig(
    frontend,
    2000,
    `  option tcp-check
  tcp-check send-binary 0400000070696e67
  tcp-check expect binary 0400000070696e67
${
      backends.map((port, i) =>
        `  server fw${i} 127.0.0.1:${port} send-proxy-v2 check inter 200 fall 1 rise 1\n`
      ).join("")
    }`,
  );
}

/** A client through HAProxy, and its own address (what the instance must see). */
async function openClient(port: number) {
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      const transport = await (await defaultNetwork()).connect({
        host: "127.0.0.1",
        port,
      });
      const local =
        `${transport.localAddr.hostname}:${transport.localAddr.port}`;
      return { client: new Client(transport), local };
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await delay(50); // HAProxy still starting
    }
  }
}

/**
 * Sends `count` pipelined requests and checks every answer; returns the
 * instance that answered them (all from one, as a connection stays put).
 */
async function pipeline(
  client: Client,
  local: string,
  tag: string,
  count: number,
): Promise<string> {
  const payloads = Array.from({ length: count }, (_, i) => `${tag}-${i}`);
  const results = await Promise.allSettled(
    payloads.map((p) => client.request(text(p))),
  );
  const instances = new Set<string>();
  let failure: unknown = undefined;
  results.forEach((result, i) => {
    if (result.status === "rejected") {
      failure ??= result.reason;
      return;
    }
    // Every answer that arrives is checked, even in a batch cut short.
    const [instance, address, payload] = str(result.value).split("|");
    assert.equal(
      payload,
      payloads[i],
      `${tag}: response ${i} matches its request`,
    );
    assert.equal(
      address,
      local,
      `${tag}: the instance saw the real client address`,
    );
    instances.add(instance);
  });
  if (failure !== undefined) throw failure;
  assert.equal(instances.size, 1, `${tag}: one connection, one instance`);
  return [...instances][0];
}

const title =
  "haproxy: round robin over two proxyProtocol instances, real client addresses, failover";
test(title, { skip: needsHaproxy.skip }, async () => {
  needsHaproxy.check();
  const version = haproxyVersion();
  assert.ok(version !== null, "Cannot run haproxy -v: it failed");
  const a = await startInstance("a");
  const b = await startInstance("b");
  const frontend = await freePort();
  const dir = writeTempFile(
    "haproxy.cfg",
    haproxyConfig(frontend, [a.port, b.port]),
  );
  let output = "";
  let haproxy: ChildProcess | null = null;
  let exited = false;
  const clients: Client[] = [];
  try {
    haproxy = spawn("haproxy", ["-f", `${dir}/haproxy.cfg`, "-db"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    haproxy.stdout!.on("data", (d) => (output += d));
    haproxy.stderr!.on("data", (d) => (output += d));
    haproxy.on("exit", () => (exited = true));
    await waitFor(
      () => (a.checks > 0 && b.checks > 0) || exited,
      "HAProxy's first health checks",
    ).catch((error) => {
      throw new Error(`${error.message}; HAProxy said: ${output}`);
    });
    assert.ok(!exited, `HAProxy exited: ${output}`);

    // Phase 1: 8 clients x 1,000 pipelined requests, spread over both.
    const phase1 = await Promise.all(
      Array.from({ length: 8 }, () => openClient(frontend)),
    );
    clients.push(...phase1.map((c) => c.client));
    const served = await Promise.all(
      phase1.map(({ client, local }, i) =>
        pipeline(client, local, `p1c${i}`, 1000)
      ),
    );
    for (const instance of [a, b]) {
      const mine = phase1.filter((_, i) => served[i] === instance.name);
      assert.ok(mine.length > 0, `instance ${instance.name} got clients`);
      // Each instance saw exactly the addresses of the clients it served.
      const seen = new Set(
        [...instance.clients.values()].map((x) => `${x.hostname}:${x.port}`),
      );
      assert.deepEqual(seen, new Set(mine.map((c) => c.local)));
    }
    const phase1Counts = { a: a.requests, b: b.requests };
    assert.equal(a.requests + b.requests, 8000);

    // Phase 2: load in progress when instance b closes. Answers received
    // are all right; b's clients lose their connection, a's carry on.
    const phase2 = await Promise.all(
      Array.from({ length: 6 }, () => openClient(frontend)),
    );
    clients.push(...phase2.map((c) => c.client));
    let bClosed: Promise<void> | null = null;
    const outcomes = await Promise.all(
      phase2.map(async ({ client, local }, i) => {
        const instances = new Set<string>();
        for (let round = 0; round < 20; round++) {
          if (round === 5 && i === 0) bClosed = b.server.close();
          try {
            instances.add(
              await pipeline(client, local, `p2c${i}r${round}`, 100),
            );
          } catch (error) {
            assert.ok(error instanceof ConnectionClosedError, String(error));
            return { instances, lost: true };
          }
          await delay(5);
        }
        return { instances, lost: false };
      }),
    );
    await bClosed;
    for (const outcome of outcomes) {
      if (outcome.lost) {
        assert.ok(!outcome.instances.has("a"), "only b's clients lose");
      } else assert.deepEqual(outcome.instances, new Set(["a"]));
    }
    assert.ok(outcomes.some((o) => !o.lost), "a's clients finished");
    assert.ok(
      outcomes.some((o) => o.lost),
      "b's clients lost their connection",
    );

    // HAProxy's health checks find b gone (fw1 is b).
    await waitFor(() => /fw1 is DOWN/.test(output), "HAProxy to mark b DOWN");

    // Phase 3: new connections all go to the survivor, all answered right.
    const bAfterClose = b.requests;
    const phase3 = await Promise.all(
      Array.from({ length: 6 }, () => openClient(frontend)),
    );
    clients.push(...phase3.map((c) => c.client));
    const survivors = await Promise.all(
      phase3.map(({ client, local }, i) =>
        pipeline(client, local, `p3c${i}`, 500)
      ),
    );
    assert.deepEqual(new Set(survivors), new Set(["a"]));
    assert.equal(b.requests, bAfterClose);

    assert.deepEqual(a.errors, [], "instance a reported no errors");
    assert.deepEqual(b.errors, [], "instance b reported no errors");
    console.log(
      `haproxy test (${version}): phase 1 a=${phase1Counts.a} b=${phase1Counts.b} requests; ` +
        `total a=${a.requests} b=${b.requests}; health checks a=${a.checks} b=${b.checks}`,
    );
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    if (haproxy !== null && !exited) {
      const gone = new Promise((resolve) => haproxy!.once("exit", resolve));
      haproxy.kill("SIGTERM");
      await Promise.race([gone, delay(3000)]);
      if (!exited) haproxy.kill("SIGKILL");
    }
    await Promise.all([a.server.close(), b.server.close()]);
    spawnSync("rm", ["-rf", dir]);
  }
});
