// Pipelined vs one-at-a-time requests on one connection, through framewire's
// own server and client on Deno over 127.0.0.1.
//
//   deno run -A bench/pipelining.ts [--rounds 3] [--seconds 2] [--depth 32] [--size 16]
//
// Each round measures one-at-a-time (await each request) and pipelined (keep
// `depth` requests in flight, issued in one tick) for `seconds` each, on a
// fresh server and connection, and prints req/s; then the medians and ratio.
import { connect, serve } from "../src/adapters/auto.ts";

function flag(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(Deno.args[i + 1]);
}
const rounds = flag("rounds", 3);
const seconds = flag("seconds", 2);
const depth = flag("depth", 32);
const size = flag("size", 16);

async function measure(pipelined: boolean): Promise<number> {
  const server = await serve({ host: "127.0.0.1", port: 0 });
  const client = await connect({ host: "127.0.0.1", port: server.addr!.port });
  const payload = new Uint8Array(size).fill(97);
  const run = async (ms: number) => {
    let done = 0;
    const start = performance.now();
    while (performance.now() - start < ms) {
      if (pipelined) {
        const batch = [];
        for (let i = 0; i < depth; i++) batch.push(client.request(payload));
        await Promise.all(batch);
        done += depth;
      } else {
        await client.request(payload);
        done++;
      }
    }
    return done / ((performance.now() - start) / 1000);
  };
  await run(300); // warm-up, not counted
  const rate = await run(seconds * 1000);
  await client.close();
  await server.close();
  return rate;
}

const median = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const serial: number[] = [];
const piped: number[] = [];
for (let round = 1; round <= rounds; round++) {
  serial.push(await measure(false));
  piped.push(await measure(true));
  console.log(
    `round ${round}: one-at-a-time ${
      serial.at(-1)!.toFixed(0)
    } req/s, pipelined x${depth} ${piped.at(-1)!.toFixed(0)} req/s`,
  );
}
const ratio = median(piped) / median(serial);
console.log(
  `median: one-at-a-time ${
    median(serial).toFixed(0)
  } req/s, pipelined x${depth} ${median(piped).toFixed(0)} req/s, ratio ${
    ratio.toFixed(1)
  }x (${size}-byte payloads, ${rounds} rounds of ${seconds} s)`,
);
