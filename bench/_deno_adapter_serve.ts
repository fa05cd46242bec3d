// The `serve` command on Deno with the Deno adapter (`Deno.listen`) for plain
// TCP too, instead of the default network's `node:net`: bench/suite.ts runs
// it beside the default to show what the choice gains and costs.
//
//   deno run -A bench/_deno_adapter_serve.ts serve --port 7650
import { runCli } from "../src/cli/main.ts";
import { denoCliHost } from "../src/cli/hosts/deno.ts";
import { denoNetwork } from "../src/adapters/deno.ts";

Deno.exit(await runCli({ ...denoCliHost(), network: denoNetwork }));
