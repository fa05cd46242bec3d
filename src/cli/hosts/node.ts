/**
 * The command line's host on Node-compatible runtimes (Node, and Bun's entry
 * point): `process.argv`, standard output and error, SIGINT/SIGTERM through
 * `process.on`, files through `node:fs`, metrics over `node:http` and workers
 * through `node:cluster`.
 *
 * @module
 */
import * as nodeFs from "node:fs";
import nodeProcess from "node:process";
import { nodeNetwork } from "../../adapters/node.ts";
import { nodeHasReusePort } from "../../adapters/_node_version.ts";
import type { Network } from "../../transport.ts";
import type { CliHost } from "../host.ts";
import { nodeServeHttp } from "./_node_http.ts";
import { nodeServeWebSockets, nodeWebSocketClient } from "./_node_ws.ts";
import { nodeWorkers } from "./_node_workers.ts";

/** The part of `process` the command line host uses. */
interface NodeProcess {
  readonly argv: readonly string[];
  readonly pid: number;
  cwd(): string;
  readonly stdout: { readonly isTTY?: boolean; write(text: string): boolean };
  exit(code: number): never;
  on(signal: "SIGINT" | "SIGTERM", listener: () => void): void;
  removeListener(signal: "SIGINT" | "SIGTERM", listener: () => void): void;
}

const fs = nodeFs as unknown as {
  promises: {
    readFile(path: string, encoding: "utf8"): Promise<string>;
    stat(url: URL): Promise<{ isFile(): boolean }>;
  };
};
const process = nodeProcess as unknown as NodeProcess;

/**
 * Options of {@linkcode nodeCliHost}.
 *
 * @example
 * ```ts
 * import type { NodeCliHostOptions } from "./node.ts";
 *
 * const options: NodeCliHostOptions = { programName: "framewire" };
 * ```
 */
export interface NodeCliHostOptions {
  /** The network adapter the commands use. @default {nodeNetwork} */
  network?: Network;
  /** The program's name in usage text. @default {"framewire"} */
  programName?: string;
  /** The arguments. @default {process.argv.slice(2)} */
  args?: readonly string[];
  /** The HTTP server for metrics. @default {`node:http`} */
  serveHttp?: CliHost["serveHttp"];
  /** The WebSocket gateway's listener. @default {`node:http` and `ws`} */
  serveWebSockets?: CliHost["serveWebSockets"];
  /** How `serve --workers` starts workers. @default {`node:cluster`} */
  workers?: CliHost["workers"];
}

/**
 * The {@linkcode CliHost} for Node-compatible runtimes (Node, and Bun's
 * entry point): `process.argv`, standard output and error, SIGINT/SIGTERM
 * through `process.on`, files through `node:fs`.
 *
 * @param options Network, program name and arguments.
 * @returns The host to pass to `runCli()`.
 *
 * @example
 * ```ts
 * import { runCli } from "../main.ts";
 * import { nodeCliHost } from "./node.ts";
 *
 * process.exitCode = await runCli(nodeCliHost());
 * ```
 */
export function nodeCliHost(options: NodeCliHostOptions = {}): CliHost {
  return {
    args: options.args ?? process.argv.slice(2),
    network: options.network ?? nodeNetwork,
    programName: options.programName ?? "framewire",
    serveHttp: options.serveHttp ?? nodeServeHttp,
    serveWebSockets: options.serveWebSockets ?? nodeServeWebSockets,
    webSocketClient: nodeWebSocketClient,
    print: (line) => console.log(line),
    printError: (line) => console.error(line),
    exit: (code) => process.exit(code),
    pid: process.pid,
    workers: options.workers ??
      nodeWorkers(nodeHasReusePort() ? "reusePort" : "shared"),
    isTerminal: process.stdout.isTTY === true,
    printPartial: (text) => {
      process.stdout.write(text);
    },
    readTextFile: (path) => fs.promises.readFile(path, "utf8"),
    isFile: (url) =>
      fs.promises.stat(url).then(
        (info) => info.isFile(),
        (error: { code?: string }) => {
          if (error.code === "ENOENT" || error.code === "ENOTDIR") return false;
          throw error;
        },
      ),
    cwd: () => process.cwd(),
    onShutdownSignal(listener) {
      process.on("SIGINT", listener);
      process.on("SIGTERM", listener);
      return () => {
        process.removeListener("SIGINT", listener);
        process.removeListener("SIGTERM", listener);
      };
    },
  };
}
