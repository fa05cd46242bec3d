/**
 * Which Node features the runtime's `node:net` has, by its Node version.
 *
 * @module
 */
import nodeProcess from "node:process";

const process = nodeProcess as unknown as {
  readonly versions: { readonly node: string };
};

/**
 * Whether `server.listen()` knows `reusePort`: Node 22.12 and later (and
 * the Node versions Bun and Deno report). Older ones ignore the option, so
 * a second listener would fail with EADDRINUSE instead.
 */
export function nodeHasReusePort(
  version: string = process.versions.node,
): boolean {
  const [major, minor] = version.split(".").map(Number);
  return major > 22 || (major === 22 && minor >= 12);
}
