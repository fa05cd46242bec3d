/**
 * Worker processes of `serve --workers` on Bun: the same entry point run
 * again with `Bun.spawn`, each worker binding the port with `reusePort`.
 *
 * @module
 */
import process from "node:process";
import type { WorkerHost, WorkerProcess } from "../host.ts";

/** The part of the `Bun` namespace used here. */
interface BunProcesses {
  readonly main: string;
  spawn(options: {
    cmd: string[];
    env: Record<string, string | undefined>;
    stdin: "ignore";
    stdout: "inherit";
    stderr: "inherit";
  }): {
    pid: number;
    exited: Promise<number>;
    readonly exitCode: number | null;
    readonly signalCode: string | null;
    kill(signal: string): void;
  };
}

/**
 * The {@linkcode WorkerHost} of Bun's command line.
 *
 * @returns Workers that run `bun <main> ...args` with the same Bun flags.
 *
 * @example
 * ```ts
 * import { bunWorkers } from "./_bun_workers.ts";
 *
 * console.log(bunWorkers().cpuCount);
 * ```
 */
export function bunWorkers(): WorkerHost {
  const bun = (globalThis as unknown as { Bun: BunProcesses }).Bun;
  return {
    sharing: "reusePort",
    cpuCount: navigator.hardwareConcurrency,
    role: process.env.FRAMEWIRE_WORKER,
    spawn(args, env): WorkerProcess {
      const child = bun.spawn({
        cmd: [process.execPath, ...process.execArgv, bun.main, ...args],
        env: { ...process.env, ...env },
        stdin: "ignore",
        stdout: "inherit",
        stderr: "inherit",
      });
      let ended = false;
      const exited = child.exited.then(() => {
        ended = true;
        const signal = child.signalCode;
        return signal === null
          ? { code: child.exitCode, signal: null }
          : { code: null, signal };
      });
      return {
        pid: child.pid,
        exited,
        kill(signal) {
          if (!ended) child.kill(signal);
        },
      };
    },
  };
}
