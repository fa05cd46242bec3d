/**
 * framewire's command line on Bun: `bun run src/bun_main.ts serve`, `client`
 * and the other subcommands, with the same flags and output as
 * `deno run -A mod.ts`.
 *
 * @module
 */
import process from "node:process";
import { runCli } from "./cli.ts";
import { bunNetwork } from "./adapters/bun.ts";
import { nodeCliHost } from "./adapters/node.ts";
import { bunServeHttp } from "./adapters/_bun_http.ts";
import { bunWorkers } from "./adapters/_bun_workers.ts";

process.exit(
  await runCli(
    nodeCliHost({
      network: bunNetwork,
      serveHttp: bunServeHttp,
      workers: bunWorkers(),
      programName: "bun run src/bun_main.ts",
    }),
  ),
);
