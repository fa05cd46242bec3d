/**
 * Unix socket files through `node:fs` and `node:net`, for the adapters that
 * run on Node-compatible runtimes (the `node:net` adapter, and the Bun
 * adapter, since Bun has no file API of its own for this).
 *
 * @module
 */
import * as nodeFs from "node:fs";
import * as nodeNet from "node:net";
import type { UnixPathOps } from "../_transport_options.ts";

/** The part of `fs.Stats` this module reads. */
interface NodeStats {
  readonly dev: number;
  readonly ino: number;
  isSocket(): boolean;
}

/** The part of `node:fs` this module uses. */
interface NodeFs {
  lstatSync(path: string): NodeStats;
  unlinkSync(path: string): void;
}

/** The part of a `net.Socket` a probe uses. */
interface ProbeSocket {
  once(event: "connect", listener: () => void): void;
  once(
    event: "error",
    listener: (error: Error & { code?: string }) => void,
  ): void;
  destroy(): void;
}

const fs = nodeFs as unknown as NodeFs;
const net = nodeNet as unknown as {
  connect(options: { path: string }): ProbeSocket;
};

function lstat(path: string): NodeStats | null {
  try {
    return fs.lstatSync(path);
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") return null;
    throw error;
  }
}

/**
 * Whether the folder that would hold `path` does not exist (Node 20's libuv
 * reports binding a Unix socket there as EACCES, not ENOENT).
 */
export function folderMissing(path: string): boolean {
  const slash = path.lastIndexOf("/");
  const folder = slash === -1 ? "." : slash === 0 ? "/" : path.slice(0, slash);
  try {
    return lstat(folder) === null;
  } catch {
    return false;
  }
}

/** {@linkcode UnixPathOps} with `fs.lstatSync`, `fs.unlinkSync` and `net.connect`. */
export const nodeUnixPathOps: UnixPathOps = {
  kind(path) {
    const stats = lstat(path);
    return stats === null ? null : stats.isSocket() ? "socket" : "other";
  },
  probe(path) {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ path });
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", (error) => {
        socket.destroy();
        if (error.code === "ECONNREFUSED" || error.code === "ENOENT") {
          resolve(false);
        } else reject(error);
      });
    });
  },
  remove: (path) => fs.unlinkSync(path),
};
