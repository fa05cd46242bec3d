/**
 * A small HTTP server with `Deno.serve`: the metrics endpoint of
 * `serve --metrics-port` on Deno.
 *
 * @module
 */
import type { HttpResponse, HttpServerHandle } from "../host.ts";

/** The part of `Deno.serve` used here. */
interface DenoServe {
  serve(
    options: {
      hostname: string;
      port: number;
      onListen: (addr: { hostname: string; port: number }) => void;
      onError?: (error: unknown) => Response;
    },
    handler: (request: Request) => Promise<Response>,
  ): { shutdown(): Promise<void>; finished: Promise<void> };
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
 * import { denoServeHttp } from "./_deno_http.ts";
 *
 * const handle = await denoServeHttp({ host: "127.0.0.1", port: 0 }, () => ({
 *   status: 200, contentType: "text/plain", body: "ok\n",
 * }));
 * await handle.close();
 * ```
 */
export function denoServeHttp(
  options: { host: string; port: number },
  respond: (path: string) => HttpResponse | Promise<HttpResponse>,
): Promise<HttpServerHandle> {
  const runtime = (globalThis as unknown as { Deno: DenoServe }).Deno;
  return new Promise((resolve, reject) => {
    try {
      const server = runtime.serve(
        {
          hostname: options.host,
          port: options.port,
          onListen: (addr) =>
            resolve({
              hostname: addr.hostname,
              port: addr.port,
              close: () => server.shutdown(),
            }),
        },
        async (request) => {
          const { status, contentType, body } = await respond(
            pathOf(request.url),
          );
          return new Response(body, {
            status,
            headers: { "content-type": contentType },
          });
        },
      );
    } catch (error) {
      reject(error);
    }
  });
}
