/**
 * A small HTTP server with `node:http` (Node; Bun's entry point uses
 * `Bun.serve` instead): the metrics endpoint of `serve --metrics-port`.
 *
 * @module
 */
import * as nodeHttp from "node:http";
import type { HttpResponse, HttpServerHandle } from "../host.ts";

/** The part of an `http.ServerResponse` used here. */
interface NodeResponse {
  writeHead(status: number, headers: Record<string, string>): void;
  end(body: string): void;
}

/** The part of an `http.Server` used here. */
interface NodeHttpServer extends ListeningServer {
  closeAllConnections?(): void;
}

const http = nodeHttp as unknown as {
  createServer(
    handler: (request: { url?: string }, response: NodeResponse) => void,
  ): NodeHttpServer;
};

/**
 * Serves `respond(path)` for every request on `host:port`.
 *
 * @example
 * ```ts
 * import { nodeServeHttp } from "./_node_http.ts";
 *
 * const handle = await nodeServeHttp({ host: "127.0.0.1", port: 0 }, () => ({
 *   status: 200, contentType: "text/plain", body: "ok\n",
 * }));
 * await handle.close();
 * ```
 */
export function nodeServeHttp(
  options: { host: string; port: number },
  respond: (path: string) => HttpResponse | Promise<HttpResponse>,
): Promise<HttpServerHandle> {
  const server = http.createServer(async (request, response) => {
    const path = (request.url ?? "/").split("?")[0];
    let reply: HttpResponse;
    try {
      reply = await respond(path);
    } catch (error) {
      reply = { status: 500, contentType: "text/plain", body: `${error}\n` };
    }
    response.writeHead(reply.status, { "content-type": reply.contentType });
    response.end(reply.body);
  });
  return listenOn(server, options, () => server.closeAllConnections?.());
}

/** The part of a Node HTTP(S) server {@linkcode listenOn} uses. */
export interface ListeningServer {
  listen(options: { host: string; port: number }, callback: () => void): void;
  address(): { address: string; port: number } | string | null;
  close(callback: () => void): void;
  once(event: "error", listener: (error: Error) => void): void;
  removeListener(event: "error", listener: (error: Error) => void): void;
}

/**
 * Binds `server` to `host:port` and resolves with its handle, whose
 * `close()` stops listening after calling `closing` (which may close the
 * open connections).
 *
 * @example
 * ```ts ignore
 * const handle = await listenOn(server, { host: "127.0.0.1", port: 0 }, () => {});
 * ```
 */
export function listenOn(
  server: ListeningServer,
  options: { host: string; port: number },
  closing: () => void,
): Promise<HttpServerHandle> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: options.host, port: options.port }, () => {
      server.removeListener("error", reject);
      const address = server.address();
      const bound = typeof address === "object" && address !== null
        ? address
        : { address: options.host, port: options.port };
      resolve({
        hostname: bound.address,
        port: bound.port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            closing();
          }),
      });
    });
  });
}
