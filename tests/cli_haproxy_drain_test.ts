// Two `serve` processes behind a real HAProxy that checks `GET /readyz` on
// their admin ports (`option httpchk`, inter 100ms fall 1 rise 1) and sends
// PROXY v2. On SIGTERM with --drain-delay, the draining server's /readyz
// fails at once: HAProxy marks it DOWN and sends every new connection to the
// other, while the draining one still accepts. The same with HAProxy's
// agent-check on --agent-port (and only a connect check): the agent's
// "drain" sets the server's weight to 0. HAProxy runs from
// _peer_process.ts's startPeer, stopped by its own PID.
import { test } from "node:test";
import assert from "node:assert/strict";
import { availableNetworks } from "./_runtime.ts";
import { haproxyTcpConfig, startPeer } from "./_peer_process.ts";
import {
  exited,
  type ServeProcess,
  startServeProcess,
  stopServe,
} from "./_cli_process.ts";
import { encodeFrames } from "../src/frame_encoder.ts";
import { delay, RawConnection, str, text, waitFor } from "./_helpers.ts";
import { requireProgram } from "./_requires.ts";

// Skipped without HAProxy on PATH (failed under FRAMEWIRE_REQUIRE_ALL=1).
const needsHaproxy = requireProgram("haproxy", import.meta.url);
const network = availableNetworks()[0][1];

interface Instance {
  process: ServeProcess;
  port: number;
  admin: number;
  /** The agent-check port, 0 without --agent-port. */
  agent: number;
}

async function startInstance(extra: string[] = []): Promise<Instance> {
  const process = await startServeProcess(
    [
      ...extra,
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--proxy-protocol",
      "--admin-port",
      "0",
      "--drain-delay",
      "3s",
    ],
    /Metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/,
  );
  if (extra.includes("--agent-port")) {
    await waitFor(() => /Agent check on/.test(process.output()), "the agent");
  }
  const port = Number(
    /Server listening on 127\.0\.0\.1:(\d+)/.exec(process.output())![1],
  );
  const agent = /Agent check on 127\.0\.0\.1:(\d+)/.exec(process.output());
  return {
    process,
    port,
    admin: Number(process.match[1]),
    agent: agent === null ? 0 : Number(agent[1]),
  };
}

/** Connections the instance has accepted so far, from its /stats. */
async function accepted(instance: Instance): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${instance.admin}/stats`);
  const document = await response.json();
  return document.total.stats.totalConnections;
}

/** Opens `count` connections through HAProxy, one echoed request each. */
async function throughHaproxy(port: number, count: number, tag: string) {
  for (let i = 0; i < count; i++) {
    const raw = await RawConnection.open(network, port);
    raw.write(encodeFrames([text(`${tag}${i}`)]));
    await waitFor(() => raw.frames.length === 1, `answer ${tag}${i}`);
    assert.equal(str(raw.frames[0]), `${tag}${i}`);
    raw.transport.close();
  }
}

/**
 * HAProxy in front of `servers`: health from `GET /readyz` on the admin
 * port, or (`agent`) a plain connect check of the admin port and
 * framewire's agent check.
 */
function haproxyConfig(
  frontend: number,
  servers: Instance[],
  agent = false,
): string {
  return haproxyTcpConfig(
    frontend,
    200,
    `${
      agent
        ? ""
        : "  option httpchk GET /readyz\n  http-check expect status 200\n"
    }${
      servers.map((s, i) =>
        `  server fw${i} 127.0.0.1:${s.port} send-proxy-v2 check port ${s.admin} inter 100ms fall 1 rise 1${
          agent ? ` agent-check agent-port ${s.agent} agent-inter 100ms` : ""
        }\n`
      ).join("")
    }`,
  );
}
/**
 * Starts two instances behind HAProxy, SIGTERMs the first and checks that
 * during its drain delay every new connection goes to the second.
 */
async function drainBehindHaproxy(agent: boolean): Promise<void> {
  const extra = agent ? ["--agent-port", "0"] : [];
  const a = await startInstance(extra);
  const b = await startInstance(extra);
  let haproxy: Awaited<ReturnType<typeof startPeer>> | undefined;
  try {
    // The configuration reaches HAProxy as a here-document on fd 3.
    haproxy = await startPeer("sh", (port) => [
      "-c",
      `exec haproxy -db -f /dev/fd/3 3<<'EOF'\n${
        haproxyConfig(port, [a, b], agent)
      }\nEOF\n`,
    ]);
    const frontend = haproxy.port;
    // Both UP: connections reach both.
    await delay(500);
    await throughHaproxy(frontend, 10, "up");
    const [a0, b0] = [await accepted(a), await accepted(b)];
    assert.ok(a0 > 0 && b0 > 0, `both served: a=${a0} b=${b0}`);

    const aExit = exited(a.process.child);
    a.process.child.kill("SIGTERM");
    await waitFor(() => /Draining/.test(a.process.output()), "a's drain");
    await delay(500); // > inter x fall = 100 ms, with room for a busy machine
    assert.ok(!/Shutting down/.test(a.process.output()), "a still accepts");
    await throughHaproxy(frontend, 10, "drain");
    assert.equal(await accepted(a), a0, "a got no new connection");
    assert.equal(await accepted(b), b0 + 10, "b got them all");
    assert.equal(await aExit, 0);
    console.log(
      `cli haproxy drain (${
        agent ? "agent-check" : "httpchk /readyz"
      }): before a=${a0} b=${b0}; during a's drain delay 10 connections, all to b`,
    );
  } finally {
    await haproxy?.stop();
    const { child } = a.process;
    if (child.exitCode === null && child.signalCode === null) {
      await stopServe(a.process);
    }
    assert.equal(await stopServe(b.process), 0);
  }
}

test(
  "cli: behind HAProxy (httpchk GET /readyz), a draining server gets no new connections during --drain-delay",
  {
    skip: needsHaproxy.skip,
  },
  async () => {
    needsHaproxy.check();
    await drainBehindHaproxy(false);
  },
);

test(
  "cli: behind HAProxy (agent-check on --agent-port), a draining server gets no new connections during --drain-delay",
  {
    skip: needsHaproxy.skip,
  },
  async () => {
    needsHaproxy.check();
    await drainBehindHaproxy(true);
  },
);
