// What the safe default costs: the same echo handler, `(request) => request`,
// served with requests owned by the handler (the default) and lent to it
// (`zeroCopy: true`), on each runtime, driven by lpload in interleaved rounds.
// Prints the median req/s of each and their ratio (owned / lent).
//
//   deno task bench:ownership [--rounds 5] [--seconds 5] [--only deno,bun,node]
//     [--scenario 50x32|50x1] [--pin] [--tools DIR] [--json]
//
// Scenarios: 50 connections x 32 pipelined requests, and 50 x 1, 16-byte
// payloads, every response verified. On Node the server runs transpiled from
// source. Everything targets 127.0.0.1 and stops by itself.

import { transpileForNode } from "./_transpile_for_node.ts";
import { root } from "./_bench_servers.ts";
import { runPaired, runtimes } from "./_paired_rounds.ts";

const PORT = 7661;
const script = `${root}bench/_echo_server.ts`;
const nodeMain = runtimes.includes("node")
  ? await transpileForNode(
    root.replace(/\/$/, ""),
    "bench/_echo_server.ts",
    await Deno.makeTempDir({ prefix: "framewire-ownership-" }),
  )
  : null;

await runPaired({
  name: "bench:ownership",
  port: PORT,
  defaultRounds: 5,
  variants: ["lent", "owned"],
  /** The echo server on `runtime`, lending or giving its requests. */
  server(variant, runtime) {
    const args = ["--port", String(PORT)];
    if (variant === "lent") args.push("--zero-copy");
    if (runtime === "deno") {
      return { command: "deno", args: ["run", "-A", script, ...args] };
    }
    if (runtime === "bun") {
      return { command: "bun", args: ["run", script, ...args] };
    }
    return { command: "node", args: [nodeMain!, ...args] };
  },
});
