/**
 * The soak test's result for one runtime and its plain-text summary
 * (bench/soak.ts).
 *
 * @module
 */
import { FAULT_KINDS, type LoadCounters } from "./_soak_common.ts";

/** What one runtime's soak did, measured and concluded. */
export interface RuntimeResult {
  runtime: string;
  pid: number;
  port: number;
  seed: number;
  warmupSeconds: number;
  /** The load's planned and actual length. */
  seconds: number;
  loadSeconds: number;
  /** Requests of the warm-up (the counters hold warm-up and load together). */
  warmupRequests: number;
  counters: LoadCounters;
  /** Connections held by the server: before any load, after the warm-up, peak, after the load. */
  connections: {
    before: number;
    afterWarmup: number;
    /** At half-time of the load. */
    mid: number;
    peak: number;
    after: number;
    /** How long the count took to come back after the load. */
    settleMs: number;
  };
  fds: { before: number; after: number };
  /** Bytes. */
  rss: {
    start: number;
    baseline: number;
    /** At half-time of the load. */
    mid: number;
    peak: number;
    after: number;
    /** The baseline bound, and half-time RSS + 32 MiB: a leak passes both. */
    limit: number;
    growthLimit: number;
    rule: string;
  };
  freshClient: string;
  server: {
    exitCode: number | null;
    signal: string | null;
    stopMs: number;
    diedEarly: boolean;
    stoppedLine: string | null;
    protocolErrorLines: number;
    otherErrorLines: number;
  };
  failures: string[];
  /** The server's last output lines, on failure. */
  tail: string[];
  pass: boolean;
}

const count = (n: number) => n.toLocaleString("en-US");
const mib = (bytes: number) => `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;

/** The plain-text summary of one runtime's soak. */
export function formatResult(r: RuntimeResult): string {
  const c = r.counters;
  const faults = FAULT_KINDS.reduce((n, k) => n + c.faults[k], 0);
  const errors = Object.values(c.errors).reduce((n, k) => n + k, 0);
  const errorKinds = Object.entries(c.errors).map(([k, n]) => `${k} ${n}`);
  const gb = (c.bytesVerified / 1e9).toFixed(2);
  const lines = [
    `framewire soak on ${r.runtime}: server pid ${r.pid}, 127.0.0.1:${r.port}, seed ${r.seed}, warm-up ${r.warmupSeconds} s + load ${
      r.loadSeconds.toFixed(1)
    } s`,
    `  requests:    ${count(c.requests)} sent, ${
      count(c.verified)
    } verified in order (${
      count(c.requests - c.verified)
    } lost), ${gb} GB payload each way; ${
      count(r.warmupRequests)
    } of them in the warm-up`,
    `               ${count(c.largeFrames)} frames of 1-8 MiB, ${
      count(c.maxFrames)
    } of 32 MiB; ${count(c.clientConnections)} client connections`,
    `  faults:      ${count(faults)} injected: ${
      FAULT_KINDS.map((k) => `${k} ${count(c.faults[k])}`).join(", ")
    }; ${count(c.faultAnswersVerified)} answers before a fault verified`,
    `  errors:      ${count(errors)}${
      errorKinds.length > 0 ? ` (${errorKinds.join(", ")})` : ""
    }`,
    ...c.errorSamples.slice(0, 10).map((s) => `               ${s}`),
    `  connections: before ${r.connections.before}, after warm-up ${r.connections.afterWarmup}, at half-time ${r.connections.mid}, peak ${r.connections.peak}, after ${r.connections.after} (${
      (r.connections.settleMs / 1000).toFixed(1)
    } s to settle); fds ${r.fds.before} before, ${r.fds.after} after`,
    `  RSS:         start ${mib(r.rss.start)}, baseline ${
      mib(r.rss.baseline)
    } (after warm-up), half-time ${mib(r.rss.mid)}, peak ${
      mib(r.rss.peak)
    }, after ${mib(r.rss.after)}; bounds ${mib(r.rss.limit)} and ${
      mib(r.rss.growthLimit)
    } (${r.rss.rule})`,
    `  fresh client: ${r.freshClient}`,
    `  server:      ${
      r.server.exitCode === null
        ? "killed: no exit within 10 s of SIGTERM"
        : `exit code ${r.server.exitCode} ${
          (r.server.stopMs / 1000).toFixed(1)
        } s after SIGTERM`
    }; logged ${count(r.server.protocolErrorLines)} protocol errors (${
      count(c.faults["bad-header"])
    } bad headers sent), ${r.server.otherErrorLines} other stderr lines`,
    `               ${r.server.stoppedLine ?? "(no 'Server stopped' line)"}`,
    `  result:      ${r.pass ? "pass" : `FAIL: ${r.failures.join("; ")}`}`,
  ];
  if (!r.pass && r.tail.length > 0) {
    lines.push("  server output (last lines):");
    lines.push(...r.tail.map((line) => `    ${line}`));
  }
  return lines.join("\n");
}
