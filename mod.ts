/**
 * framewire: a high-performance server and pipelining client for a
 * length-prefixed binary protocol over TCP (a 4-byte unsigned little-endian
 * length, then that many payload bytes), with a runtime-neutral core.
 *
 * Run as a program, this module is the command line:
 * `deno run -A mod.ts serve` starts the echo server, `deno run -A mod.ts client`
 * talks to it.
 *
 * @example Echo server and client (the runtime's adapter is picked for you)
 * ```ts ignore
 * import { connect, serve } from "./mod.ts";
 *
 * await using server = await serve({ host: "127.0.0.1", port: 0 });
 * await using client = await connect({ host: "127.0.0.1", port: server.addr!.port });
 * const response = await client.request(new TextEncoder().encode("hello"));
 * console.log(new TextDecoder().decode(response)); // "hello"
 * ```
 *
 * @module
 */
import { runCli } from "./src/cli.ts";
import { denoCliHost } from "./src/adapters/deno.ts";

export * from "./src/errors.ts";
export * from "./src/constants.ts";
export * from "./src/frame_decoder.ts";
export * from "./src/frame_encoder.ts";
export * from "./src/frame_decoder_stream.ts";
export * from "./src/frame_encoder_stream.ts";
export * from "./src/transport.ts";
export * from "./src/stream_transport.ts";
export * from "./src/proxy_protocol.ts";
export * from "./src/proxy_transport.ts";
export * from "./src/server.ts";
export * from "./src/metrics.ts";
export * from "./src/latency_histogram.ts";
export * from "./src/client.ts";
export * from "./src/cli.ts";
export * from "./src/adapters/auto.ts";
export { denoCliHost, denoNetwork } from "./src/adapters/deno.ts";
export { bunNetwork } from "./src/adapters/bun.ts";
export {
  nodeCliHost,
  type NodeCliHostOptions,
  nodeNetwork,
} from "./src/adapters/node.ts";

// Run as a program on Deno (`deno run -A mod.ts serve`): the command line.
// Other runtimes have their own entry points (src/bun_main.ts, src/node_main.ts).
if ((import.meta as { main?: boolean }).main && "Deno" in globalThis) {
  const host = denoCliHost();
  host.exit(await runCli(host));
}
