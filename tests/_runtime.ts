// The adapters and runtime facilities available to the tests on the runtime
// that runs them: Deno tests the Deno and node:net adapters, Bun the Bun and
// node:net adapters, Node the node:net adapter.
import * as net from "node:net";
import { Duplex } from "node:stream";
import process from "node:process";
import { fileURLToPath } from "node:url";
import type { Network } from "../src/transport.ts";
import type { StreamDuplex } from "../src/stream_transport.ts";
import { denoNetwork } from "../src/adapters/deno.ts";
import { bunNetwork } from "../src/adapters/bun.ts";
import { nodeNetwork } from "../src/adapters/node.ts";

const g = globalThis as { Bun?: unknown; Deno?: unknown };
export const runtime: "deno" | "bun" | "node" = g.Bun !== undefined
  ? "bun"
  : g.Deno !== undefined
  ? "deno"
  : "node";

/** The adapters to test here, by name. */
export function availableNetworks(): Array<[string, Network]> {
  if (runtime === "deno") {
    return [["deno", denoNetwork], ["node:net on deno", nodeNetwork]];
  }
  if (runtime === "bun") {
    return [["bun", bunNetwork], ["node:net on bun", nodeNetwork]];
  }
  return [["node", nodeNetwork]];
}

function toStreams(socket: unknown): StreamDuplex {
  return (Duplex as unknown as { toWeb(s: unknown): StreamDuplex }).toWeb(
    socket,
  );
}

/** Opens a real TCP connection as a Web Streams duplex (`Duplex.toWeb`, or a `Deno.Conn`). */
export async function connectStream(port: number): Promise<StreamDuplex> {
  if (runtime === "deno") {
    const deno = (globalThis as unknown as {
      Deno: {
        connect(o: { hostname: string; port: number }): Promise<StreamDuplex>;
      };
    }).Deno;
    return await deno.connect({ hostname: "127.0.0.1", port });
  }
  const socket = net.connect({ host: "127.0.0.1", port, allowHalfOpen: true });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  return toStreams(socket);
}

/**
 * Listens on 127.0.0.1 with node:net and hands each accepted socket to
 * `onStream` as a Web Streams duplex.
 */
export async function listenStreams(
  onStream: (duplex: StreamDuplex) => void,
): Promise<{ port: number; close(): void }> {
  // Node 20's Duplex.toWeb() never ends the readable of a half-open socket
  // (the peer's FIN is not reported), so on Node the socket is not half-open:
  // the FIN ends the readable and Node ends the writable itself. Deno's and
  // Bun's toWeb() report the FIN on half-open sockets.
  const allowHalfOpen = runtime !== "node";
  const server = net.createServer(
    { allowHalfOpen },
    (socket) => onStream(toStreams(socket)),
  );
  await new Promise<void>((resolve) =>
    server.listen({ host: "127.0.0.1", port: 0 }, resolve)
  );
  const { port } = server.address() as { port: number };
  return { port, close: () => server.close() };
}

const root = fileURLToPath(new URL("..", import.meta.url));

/** ".ts" when the tests run from source, ".js" when they run compiled (the npm build). */
export const sourceExtension = import.meta.url.endsWith(".js") ? ".js" : ".ts";

/** Arguments that run framewire's command line with `runtimeName`'s executable. */
export function cliArgs(runtimeName: string, base: string = root): string[] {
  const ext = sourceExtension;
  if (runtimeName === "deno") return ["run", "-A", `${base}mod${ext}`];
  if (runtimeName === "bun") return ["run", `${base}src/bun_main${ext}`];
  return [`${base}src/node_main${ext}`];
}

/** The command that runs framewire's command line on this runtime. */
export function cliCommand(): { command: string; args: string[] } {
  return { command: process.execPath, args: cliArgs(runtime) };
}

/** Whether a TCP port of 0.0.0.0 can be bound now. */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen({ host: "0.0.0.0", port }, () => {
      server.close(() => resolve(true));
    });
  });
}
