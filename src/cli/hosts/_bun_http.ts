/**
 * A small HTTP server with `Bun.serve`: the metrics endpoint of
 * `serve --metrics-port` on Bun.
 *
 * @module
 */
import type { HttpResponse, HttpServerHandle } from "../host.ts";

/** The part of `Bun.serve` used here. */
interface BunServe {
  serve(options: {
    hostname: string;
    port: number;
    fetch: (request: Request) => Promise<Response>;
  }): { hostname: string; port: number; stop(closeActive?: boolean): unknown };
}

/**
 * The path of a request's URL. A request without a Host header (HTTP/1.0,
 * as HAProxy's `option httpchk` sends) has a URL that Bun cannot make
 * absolute, so it is read against a placeholder base.
 */
function pathOf(url: string): string {
  return new URL(url, "http://localhost").pathname;
}

/**
 * Serves `respond(path)` for every request on `host:port`.
 *
 * @example
 * ```ts
 * import { bunServeHttp } from "./_bun_http.ts";
 *
 * const handle = await bunServeHttp({ host: "127.0.0.1", port: 0 }, () => ({
 *   status: 200, contentType: "text/plain", body: "ok\n",
 * }));
 * await handle.close();
 * ```
 */
export function bunServeHttp(
  options: { host: string; port: number },
  respond: (path: string) => HttpResponse | Promise<HttpResponse>,
): Promise<HttpServerHandle> {
  const runtime = (globalThis as unknown as { Bun: BunServe }).Bun;
  try {
    const server = runtime.serve({
      hostname: options.host,
      port: options.port,
      async fetch(request) {
        const { status, contentType, body } = await respond(
          pathOf(request.url),
        );
        return new Response(body, {
          status,
          headers: { "content-type": contentType },
        });
      },
    });
    return Promise.resolve({
      hostname: server.hostname,
      port: server.port,
      close: async () => {
        await server.stop(true);
      },
    });
  } catch (error) {
    return Promise.reject(error);
  }
}
