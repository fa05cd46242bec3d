// The adapters and runtime facilities available to the tests on the runtime
// that runs them.
import type { Network } from "../src/transport.ts";
import type { StreamDuplex } from "../src/stream_transport.ts";

// deno-lint-ignore no-explicit-any
const g = globalThis as any;
export const runtime: "deno" | "bun" | "node" = g.Bun
  ? "bun"
  : g.Deno
  ? "deno"
  : "node";

/** The adapters to test here, by name. */
export async function availableNetworks(): Promise<Array<[string, Network]>> {
  const networks: Array<[string, Network]> = [];
  if (runtime === "deno") {
    const { denoNetwork } = await import("../src/adapters/deno.ts");
    networks.push(["deno", denoNetwork]);
  }
  return networks;
}

/** Opens a real TCP connection as a Web Streams duplex, where the runtime has one. */
export async function connectStream(
  port: number,
): Promise<StreamDuplex | null> {
  if (runtime === "deno") {
    return await g.Deno.connect({ hostname: "127.0.0.1", port });
  }
  return null;
}

/**
 * Listens on 127.0.0.1 with the runtime's own API and hands each accepted
 * socket to `onStream` as a Web Streams duplex; null where the runtime has no
 * socket as Web Streams.
 */
export function listenStreams(
  onStream: (duplex: StreamDuplex) => void,
): { port: number; close(): void } | null {
  if (runtime !== "deno") return null;
  const listener = g.Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    try {
      for await (const conn of listener) onStream(conn);
    } catch {
      // closed
    }
  })();
  return { port: listener.addr.port, close: () => listener.close() };
}

/** The command that runs framewire's command line on this runtime. */
export function cliCommand(): { command: string; args: string[] } {
  const modPath = new URL("../mod.ts", import.meta.url).pathname;
  if (runtime === "deno") {
    return { command: g.Deno.execPath(), args: ["run", "-A", modPath] };
  }
  throw new Error(
    `Cannot run the command line: no entry point for ${runtime} yet`,
  );
}
