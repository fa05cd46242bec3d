/**
 * framewire: a high-performance server and pipelining client for a
 * length-prefixed binary protocol over TCP (a 4-byte unsigned little-endian
 * length, then that many payload bytes), with a runtime-neutral core.
 *
 * This module is the library. It loads no runtime API and no command line:
 * `serve()` and `connect()` import the adapter of the runtime they run on
 * when first called, and an adapter can be imported on its own from
 * `./node`, `./bun` or `./deno` (`framewire/node` on npm).
 *
 * Run as a program on Deno, it is the command line:
 * `deno run -A mod.ts` starts the echo server, `deno run -A mod.ts client`
 * talks to it.
 *
 * @example Echo server and client (the runtime's adapter is picked for you)
 * ```ts
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
export * from "./src/errors.ts";
export * from "./src/constants.ts";
export * from "./src/frame_decoder.ts";
export * from "./src/frame_range_decoder.ts";
export * from "./src/frame_format.ts";
export * from "./src/frame_encoder.ts";
export * from "./src/frame_decoder_stream.ts";
export * from "./src/frame_encoder_stream.ts";
export * from "./src/transport.ts";
export * from "./src/stream_transport.ts";
export * from "./src/websocket_transport.ts";
export * from "./src/proxy_header.ts";
export * from "./src/proxy_protocol.ts";
export * from "./src/proxy_transport.ts";
export * from "./src/handler.ts";
export * from "./src/server_stats.ts";
export * from "./src/server.ts";
export * from "./src/metrics.ts";
export * from "./src/latency_histogram.ts";
export * from "./src/client.ts";
export * from "./src/pool.ts";
export * from "./src/adapters/auto.ts";

// Run as a program on Deno (`deno run -A mod.ts serve`): the command line,
// loaded only then. Bun and Node have their own entry points
// (src/bun_main.ts, src/node_main.ts).
if ((import.meta as { main?: boolean }).main && "Deno" in globalThis) {
  import("./src/cli/hosts/deno.ts").then((cli) => cli.main());
}
