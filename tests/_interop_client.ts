// A client program for the cross-runtime tests: run it on any runtime with a
// server's port; it pipelines verified requests, including a 32 MiB frame,
// over that runtime's default adapter and exits 0 only if every response
// matches.
//
//   deno run -A tests/_interop_client.ts PORT
//   bun run tests/_interop_client.ts PORT
import process from "node:process";
import { connect } from "../src/adapters/auto.ts";
import { patternBytes, sameBytes } from "./_helpers.ts";
import { runtime } from "./_runtime.ts";

const port = Number(process.argv.at(-1));
const client = await connect({ host: "127.0.0.1", port });
const requests = Array.from(
  { length: 2000 },
  (_, i) => patternBytes(i % 500, i),
);
requests.splice(1000, 0, patternBytes(32 * 1024 * 1024, 77));
const responses = await Promise.all(requests.map((r) => client.request(r)));
const bad = responses.findIndex((response, i) =>
  !sameBytes(response, requests[i])
);
await client.close();
if (bad !== -1) {
  console.log(`interop FAILED: response ${bad} differs from its request`);
  process.exit(1);
}
console.log(
  `interop ok: ${runtime} client, ${responses.length} pipelined responses verified`,
);
process.exit(0);
