/**
 * Worker processes of `serve --workers` on Deno: the same module run again
 * with `Deno.Command`, each worker binding the port with `reusePort`.
 *
 * @module
 */
import type { WorkerHost, WorkerProcess } from "../host.ts";

/** The part of the `Deno` namespace used here. */
interface DenoProcesses {
  execPath(): string;
  readonly mainModule: string;
  readonly env: { get(name: string): string | undefined };
  readonly permissions: {
    querySync(
      descriptor: { name: "env"; variable: string } | {
        name: (typeof FORWARDED)[number];
      },
    ): { state: string };
  };
  Command: new (
    command: string,
    options: {
      args: string[];
      env: Record<string, string>;
      stdin: "null";
      stdout: "inherit";
      stderr: "inherit";
    },
  ) => {
    spawn(): {
      pid: number;
      status: Promise<{ code: number; signal: string | null }>;
      kill(signal: string): void;
    };
  };
}

const ROLE_VARIABLE = "FRAMEWIRE_WORKER";

/** Permissions a worker holds when the primary holds them in full. */
const FORWARDED = [
  "read",
  "write",
  "env",
  "run",
  "sys",
  "ffi",
  "import",
] as const;

/**
 * Permissions of a worker: the network (its port and the primary's control
 * port), its one environment variable, and `--unstable-net`, which
 * `reusePort` needs; then each permission the primary holds in full (with
 * `-A`, all of them): reading TLS certificates and the `--handler` module,
 * and whatever that module needs.
 */
function workerFlags(deno: DenoProcesses): string[] {
  const flags = ["--no-prompt", "--allow-net", "--unstable-net"];
  for (const name of FORWARDED) {
    if (deno.permissions.querySync({ name }).state === "granted") {
      flags.push(`--allow-${name}`);
    } else if (name === "env") {
      flags.push(`--allow-env=${ROLE_VARIABLE}`);
    }
  }
  return flags;
}

/**
 * The {@linkcode WorkerHost} of Deno's command line.
 *
 * @returns Workers that run `deno run <permissions> <main module> ...args`.
 *
 * @example
 * ```ts
 * import { denoWorkers } from "./_deno_workers.ts";
 *
 * console.log(denoWorkers().cpuCount);
 * ```
 */
export function denoWorkers(): WorkerHost {
  const deno = (globalThis as unknown as { Deno: DenoProcesses }).Deno;
  const allowed = deno.permissions.querySync({
    name: "env",
    variable: ROLE_VARIABLE,
  }).state === "granted";
  return {
    sharing: "reusePort",
    cpuCount: navigator.hardwareConcurrency,
    role: allowed ? deno.env.get(ROLE_VARIABLE) : undefined,
    spawn(args, env): WorkerProcess {
      const child = new deno.Command(deno.execPath(), {
        args: ["run", ...workerFlags(deno), deno.mainModule, ...args],
        env,
        stdin: "null",
        stdout: "inherit",
        stderr: "inherit",
      }).spawn();
      let ended = false;
      const exited = child.status.then(({ code, signal }) => {
        ended = true;
        return signal === null ? { code, signal } : { code: null, signal };
      });
      return {
        pid: child.pid,
        exited,
        kill(signal) {
          if (ended) return;
          try {
            child.kill(signal);
          } catch {
            // It ended between the check and the signal.
          }
        },
      };
    },
  };
}
