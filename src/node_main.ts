#!/usr/bin/env node
/**
 * framewire's command line on Node: the npm package's `framewire` bin
 * (`npx framewire` starts the echo server; `npx framewire client` talks to
 * it), with the same subcommands, flags and output as `deno run -A mod.ts`.
 *
 * @module
 */
import process from "node:process";
import { runCli } from "./cli/main.ts";
import { nodeCliHost } from "./cli/hosts/node.ts";

process.exit(await runCli(nodeCliHost({ programName: "framewire" })));
