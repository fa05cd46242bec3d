// An echo server built on the library with a handler of its own, as an
// application would write it: `(request) => request`. With --zero-copy the
// handler lends its requests (`zeroCopy: true`), as the built-in echo does;
// without, it owns them (the default). bench/ownership.ts compares the two.
//
//   deno run -A bench/_echo_server.ts --port 7661 [--zero-copy]
//   bun run bench/_echo_server.ts --port 7661
//   node <transpiled>/bench/_echo_server.js --port 7661
import process from "node:process";
import { serve } from "../mod.ts";

const args = process.argv.slice(2);
const at = args.indexOf("--port");
const port = at === -1 ? 7661 : Number(args[at + 1]);
const zeroCopy = args.includes("--zero-copy");
const server = await serve({
  host: "127.0.0.1",
  port,
  zeroCopy,
  handler: (request) => request,
});
console.log(
  `listening on 127.0.0.1:${server.addr.port} (${
    zeroCopy ? "lent" : "owned"
  } requests)`,
);
