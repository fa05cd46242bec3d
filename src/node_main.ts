#!/usr/bin/env node
/**
 * framewire's command line on Node: the npm package's `framewire` bin
 * (`npx framewire serve`, `npx framewire client`), with the same subcommands,
 * flags and output as `deno run -A mod.ts`.
 *
 * @module
 */
import process from "node:process";
import { runCli } from "./cli.ts";
import { nodeCliHost } from "./adapters/node.ts";

process.exit(await runCli(nodeCliHost({ programName: "framewire" })));
