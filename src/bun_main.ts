/**
 * framewire's command line on Bun: `bun run src/bun_main.ts` starts the echo
 * server; `serve`, `client`, `bench` and the other subcommands take the same
 * flags and print the same output as `deno run -A mod.ts`.
 *
 * @module
 */
import process from "node:process";
import { runCli } from "./cli/main.ts";
import { bunCliHost } from "./cli/hosts/bun.ts";

process.exit(await runCli(bunCliHost()));
