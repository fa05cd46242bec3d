// What owned responses cost the client: one process, an echo server and a
// client pipelining 32-byte requests (256 in flight), with responses owned
// (the default: each copied into its own memory) and lent (`zeroCopy: true`),
// in alternating rounds. Prints the median requests per second of each and
// their ratio.
//
//   deno run -A bench/client_ownership.ts [--rounds 7] [--requests 200000]
//   bun run bench/client_ownership.ts
import process from "node:process";
import { connect, serve } from "../mod.ts";

const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const at = args.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(args[at + 1]);
};
const rounds = flag("rounds", 7);
const total = flag("requests", 200_000);
const window = 256;

const server = await serve({ host: "127.0.0.1", port: 0 });
const payload = new Uint8Array(32).fill(7);

async function round(zeroCopy: boolean): Promise<number> {
  const client = await connect({
    host: "127.0.0.1",
    port: server.addr.port,
    zeroCopy,
    maxInFlight: window,
  });
  const started = performance.now();
  let sent = 0;
  const lane = async () => {
    while (sent < total) {
      sent++;
      await client.request(payload);
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
  const seconds = (performance.now() - started) / 1000;
  await client.close();
  return total / seconds;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const owned: number[] = [];
const lent: number[] = [];
await round(true); // warm-up
for (let i = 0; i < rounds; i++) {
  lent.push(await round(true));
  owned.push(await round(false));
}
const ratios = owned.map((rps, i) => rps / lent[i]);
console.log(
  `lent ${Math.round(median(lent))} req/s, owned ${
    Math.round(median(owned))
  } req/s, owned / lent ${(median(owned) / median(lent)).toFixed(3)}x, ` +
    `median of round ratios ${median(ratios).toFixed(3)}x`,
);
await server.close();
