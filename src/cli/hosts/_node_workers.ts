/**
 * Worker processes of `serve --workers` on Node, with `node:cluster`. Before
 * Node 22.12 the workers share the primary's listener (cluster hands out
 * connections round-robin); from 22.12 each binds the port itself with
 * `reusePort`.
 *
 * @module
 */
import nodeCluster from "node:cluster";
import * as nodeOs from "node:os";
import nodeProcess from "node:process";
import type { WorkerHost, WorkerProcess } from "../host.ts";

/** The part of `node:cluster` used here. */
interface NodeCluster {
  setupPrimary(settings: { exec: string; args: string[] }): void;
  fork(env: Record<string, string>): {
    process: { pid?: number; kill(signal: string): boolean };
    on(
      event: "exit",
      listener: (code: number | null, signal: string | null) => void,
    ): void;
  };
}

const cluster = nodeCluster as unknown as NodeCluster;
const os = nodeOs as unknown as {
  availableParallelism?(): number;
  cpus(): unknown[];
};
const process = nodeProcess as unknown as {
  readonly argv: readonly string[];
  readonly env: Record<string, string | undefined>;
};

/**
 * The {@linkcode WorkerHost} of Node's command line.
 *
 * @param sharing `"reusePort"` where `server.listen()` knows it, else
 * `"shared"` (the cluster primary's listener).
 * @returns Workers forked with `cluster.fork()` running the same script.
 *
 * @example
 * ```ts
 * import { nodeWorkers } from "./_node_workers.ts";
 *
 * console.log(nodeWorkers("shared").cpuCount);
 * ```
 */
export function nodeWorkers(sharing: WorkerHost["sharing"]): WorkerHost {
  return {
    sharing,
    cpuCount: os.availableParallelism?.() ?? os.cpus().length,
    role: process.env.FRAMEWIRE_WORKER,
    spawn(args, env): WorkerProcess {
      cluster.setupPrimary({ exec: process.argv[1], args: [...args] });
      const worker = cluster.fork(env);
      let ended = false;
      const exited = new Promise<
        { code: number | null; signal: string | null }
      >((resolve) =>
        worker.on("exit", (code, signal) => {
          ended = true;
          resolve(signal === null ? { code, signal } : { code: null, signal });
        })
      );
      return {
        pid: worker.process.pid ?? 0,
        exited,
        kill(signal) {
          if (!ended) worker.process.kill(signal);
        },
      };
    },
  };
}
