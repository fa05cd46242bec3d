/**
 * The command line's host on Bun: the Node-compatible host with Bun's own
 * network (`Bun.listen`/`Bun.connect`), metrics over `Bun.serve` and workers
 * through `Bun.spawn`.
 *
 * @module
 */
import { bunNetwork } from "../../adapters/bun.ts";
import type { CliHost } from "../host.ts";
import { bunServeHttp } from "./_bun_http.ts";
import { bunServeWebSockets } from "./_bun_ws.ts";
import { bunWorkers } from "./_bun_workers.ts";
import { nodeCliHost } from "./node.ts";

/**
 * The {@linkcode CliHost} for Bun.
 *
 * @param args The command-line arguments (default `process.argv.slice(2)`).
 * @returns The host to pass to `runCli()`.
 *
 * @example
 * ```ts
 * import { runCli } from "../main.ts";
 * import { bunCliHost } from "./bun.ts";
 *
 * process.exit(await runCli(bunCliHost()));
 * ```
 */
export function bunCliHost(args?: readonly string[]): CliHost {
  return nodeCliHost({
    args,
    network: bunNetwork,
    serveHttp: bunServeHttp,
    serveWebSockets: bunServeWebSockets,
    workers: bunWorkers(),
    programName: "bun run src/bun_main.ts",
  });
}
