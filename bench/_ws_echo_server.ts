// A raw WebSocket echo with no framewire: each message goes back as it came.
// bench/websocket.ts drives it with `bench --ws` as the floor of what each
// runtime's WebSocket stack costs: Deno.serve with Deno.upgradeWebSocket on
// Deno, Bun.serve's websocket handlers on Bun, and the npm `ws` package's
// WebSocketServer on Node (as the gateway uses them). Prints
// "listening on 127.0.0.1:PORT" once it accepts connections.
//
//   deno run -A bench/_ws_echo_server.ts [--port 0]
//   bun run bench/_ws_echo_server.ts [--port 0]
//   node <transpiled>/bench/_ws_echo_server.js [--port 0]
import process from "node:process";

/** The parts of Bun's server API this echo touches. */
interface BunEchoServer {
  upgrade(request: Request): boolean;
}
interface BunSocket {
  send(data: string | Uint8Array): number;
}
interface BunApi {
  serve(options: {
    hostname: string;
    port: number;
    fetch(
      request: Request,
      server: BunEchoServer,
    ): Response | undefined;
    websocket: {
      message(socket: BunSocket, message: string | Uint8Array): void;
    };
  }): { port: number };
}

const HOST = "127.0.0.1";
const args = process.argv.slice(2);
const at = args.indexOf("--port");
const port = at === -1 ? 0 : Number(args[at + 1]);
const listening = (actual: number) =>
  console.log(`listening on ${HOST}:${actual} (raw WebSocket echo)`);
const runtime = globalThis as { Bun?: BunApi; Deno?: typeof Deno };

if (runtime.Bun !== undefined) {
  const server = runtime.Bun.serve({
    hostname: HOST,
    port,
    fetch: (request, server) =>
      server.upgrade(request)
        ? undefined
        : new Response("WebSocket only", { status: 426 }),
    websocket: { message: (socket, message) => void socket.send(message) },
  });
  listening(server.port);
} else if (runtime.Deno !== undefined) {
  runtime.Deno.serve({
    hostname: HOST,
    port,
    onListen: (addr) => listening(addr.port),
  }, (request) => {
    const { socket, response } = runtime.Deno!.upgradeWebSocket(request);
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event) => socket.send(event.data);
    return response;
  });
} else {
  const { WebSocketServer } = await import("ws");
  const server = new WebSocketServer({ host: HOST, port });
  server.on("connection", (socket) => {
    socket.on("message", (data, binary) => socket.send(data, { binary }));
  });
  server.on("listening", () => {
    const addr = server.address();
    listening(typeof addr === "object" && addr !== null ? addr.port : port);
  });
}
