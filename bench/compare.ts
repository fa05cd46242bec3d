// Compares framewire's throughput with another checkout of it (an earlier
// commit, say), side by side: each runtime's server from both trees, driven
// by lpload in interleaved rounds, with the median req/s of each and their
// ratio. A change may not make an existing scenario slower; this measures it.
//
//   git worktree add /tmp/framewire-base COMMIT
//   deno task bench:compare --baseline /tmp/framewire-base [--rounds 3] [--seconds 5]
//     [--only deno,bun,node] [--scenario 50x32|50x1] [--pin] [--tools DIR] [--json]
//
// Scenarios: 50 connections x 32 pipelined requests, and 50 x 1, 16-byte
// payloads, every response verified. On Node both trees run transpiled from
// source (src/node_main.ts). Everything targets 127.0.0.1 and stops by itself.

import { transpileForNode } from "./_transpile_for_node.ts";
import { flag, root } from "./_bench_servers.ts";
import { runPaired } from "./_paired_rounds.ts";

const baseline = flag("baseline")?.replace(/\/$/, "");
if (baseline === undefined) {
  console.error(
    "Usage: deno task bench:compare --baseline DIR [--rounds 3] [--seconds 5]",
  );
  Deno.exit(2);
}
const PORT = 7660;
const trees: Record<string, string> = {
  baseline,
  current: root.replace(/\/$/, ""),
};

await runPaired({
  name: "bench:compare",
  port: PORT,
  defaultRounds: 3,
  variants: ["baseline", "current"],
  describe: `baseline ${baseline}`,
  json: { baseline },
  /** The serve command of the tree `tree` on `runtime`. */
  async server(tree, runtime) {
    const dir = trees[tree];
    const serve = ["serve", "--host", "127.0.0.1", "--port", String(PORT)];
    if (runtime === "deno") {
      return {
        command: "deno",
        args: ["run", "-A", `${dir}/mod.ts`, ...serve],
      };
    }
    if (runtime === "bun") {
      return {
        command: "bun",
        args: ["run", `${dir}/src/bun_main.ts`, ...serve],
      };
    }
    const out = await Deno.makeTempDir({ prefix: `framewire-${tree}-` });
    const main = await transpileForNode(dir, "src/node_main.ts", out);
    return { command: "node", args: [main, ...serve] };
  },
});
