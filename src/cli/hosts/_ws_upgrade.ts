/**
 * The answer of the gateway's HTTP servers to a request that is not a
 * WebSocket upgrade.
 *
 * @module
 */

/**
 * A 503 response once `accepting()` is false, a 426 response for a request
 * without `Upgrade: websocket`, or null for an upgrade request to take.
 *
 * @example
 * ```ts
 * import { upgradeRefusal } from "./_ws_upgrade.ts";
 *
 * const refusal = upgradeRefusal(new Headers(), undefined);
 * console.log(refusal?.status); // 426
 * ```
 */
export function upgradeRefusal(
  headers: Headers,
  accepting: (() => boolean) | undefined,
): Response | null {
  if (accepting !== undefined && !accepting()) {
    return new Response("framewire: shutting down\n", {
      status: 503,
      headers: { "content-type": "text/plain" },
    });
  }
  if (headers.get("upgrade")?.toLowerCase() === "websocket") return null;
  return new Response("framewire: WebSocket connections only\n", {
    status: 426,
    headers: { upgrade: "websocket", "content-type": "text/plain" },
  });
}
