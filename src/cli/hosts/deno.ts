/**
 * The command line's host on Deno: `Deno.args`, standard output and error,
 * SIGINT/SIGTERM, `Deno.readTextFile`, `Deno.stat`, `Deno.cwd`, Deno's default
 * network (`src/adapters/_deno_default.ts`), metrics over
 * `Deno.serve` and workers through `Deno.Command`.
 *
 * @module
 */
import { denoDefaultNetwork } from "../../adapters/_deno_default.ts";
import type { CliHost, WebSocketClass } from "../host.ts";
import { denoServeHttp } from "./_deno_http.ts";
import { denoServeWebSockets } from "./_deno_ws.ts";
import { denoWorkers } from "./_deno_workers.ts";

/** The part of the `Deno` namespace the command line host uses. */
interface DenoProcess {
  readonly args: readonly string[];
  readonly pid: number;
  readonly stdout: {
    isTerminal(): boolean;
    writeSync(bytes: Uint8Array): number;
  };
  readTextFile(path: string): Promise<string>;
  stat(url: URL): Promise<{ isFile: boolean }>;
  cwd(): string;
  exit(code: number): never;
  addSignalListener(signal: "SIGINT" | "SIGTERM", handler: () => void): void;
  removeSignalListener(signal: "SIGINT" | "SIGTERM", handler: () => void): void;
}

function deno(): DenoProcess {
  return (globalThis as unknown as { Deno: DenoProcess }).Deno;
}

/**
 * The {@linkcode CliHost} for Deno: `Deno.args`, standard output and error,
 * SIGINT/SIGTERM, `Deno.readTextFile` and Deno's default network.
 *
 * @param args The command-line arguments (default `Deno.args`).
 * @returns The host to pass to `runCli()`.
 *
 * @example
 * ```ts
 * import { runCli } from "../main.ts";
 * import { denoCliHost } from "./deno.ts";
 *
 * Deno.exit(await runCli(denoCliHost()));
 * ```
 */
export function denoCliHost(args: readonly string[] = deno().args): CliHost {
  return {
    args,
    network: denoDefaultNetwork,
    programName: "deno run -A mod.ts",
    serveHttp: denoServeHttp,
    serveWebSockets: denoServeWebSockets,
    webSocketClient: () =>
      Promise.resolve((globalThis as { WebSocket: WebSocketClass }).WebSocket),
    print: (line) => console.log(line),
    printError: (line) => console.error(line),
    exit: (code) => deno().exit(code),
    pid: deno().pid,
    workers: denoWorkers(),
    isTerminal: deno().stdout.isTerminal(),
    printPartial: (text) => {
      deno().stdout.writeSync(new TextEncoder().encode(text));
    },
    readTextFile: (path) => deno().readTextFile(path),
    isFile: (url) =>
      deno().stat(url).then(
        (info) => info.isFile,
        (error: { code?: string }) => {
          if (error.code === "ENOENT" || error.code === "ENOTDIR") return false;
          throw error;
        },
      ),
    cwd: () => deno().cwd(),
    onShutdownSignal(listener) {
      const runtime = deno();
      runtime.addSignalListener("SIGINT", listener);
      runtime.addSignalListener("SIGTERM", listener);
      return () => {
        runtime.removeSignalListener("SIGINT", listener);
        runtime.removeSignalListener("SIGTERM", listener);
      };
    },
  };
}

/**
 * Runs the command line on Deno and exits with its code: what
 * `deno run -A mod.ts` does.
 *
 * @param args The command-line arguments (default `Deno.args`).
 * @returns Never: the process exits.
 *
 * @example
 * ```ts
 * import { main } from "./deno.ts";
 *
 * await main(["serve", "--port", "7000"]);
 * ```
 */
export async function main(args?: readonly string[]): Promise<never> {
  const { runCli } = await import("../main.ts");
  const host = denoCliHost(args);
  return host.exit(await runCli(host));
}
