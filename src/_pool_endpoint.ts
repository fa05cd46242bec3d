// A Pool's endpoints: parsing "host:port" strings and objects into connect
// targets, and the counters kept for each.
import type { ConnectOptions } from "./transport.ts";

/** A server a pool connects to: `{ host, port }`, `{ path }` or `"host:port"`. */
export type PoolEndpoint =
  | { host?: string; port: number }
  | { path: string }
  | string;

/** An endpoint's target, its name in stats, and its counters. */
export interface EndpointRecord {
  name: string;
  target: ConnectOptions;
  sent: number;
  answered: number;
  retried: number;
  failed: number;
}

/** Parses one endpoint; throws a TypeError or RangeError naming it. */
export function parseEndpoint(endpoint: PoolEndpoint): EndpointRecord {
  const record = (name: string, target: ConnectOptions): EndpointRecord => ({
    name,
    target,
    sent: 0,
    answered: 0,
    retried: 0,
    failed: 0,
  });
  if (typeof endpoint === "string") {
    const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(endpoint);
    if (match === null) {
      throw new TypeError(
        `Cannot use endpoint: "${endpoint}" is not host:port`,
      );
    }
    const host = match[1] ?? match[2];
    return record(endpoint, {
      host: host === "" ? "127.0.0.1" : host,
      port: portNumber(Number(match[3]), endpoint),
    });
  }
  if (typeof endpoint !== "object" || endpoint === null) {
    throw new TypeError(
      `Cannot use endpoint: ${String(endpoint)} is not an object or string`,
    );
  }
  if ("path" in endpoint && typeof endpoint.path === "string") {
    return record(endpoint.path, { path: endpoint.path });
  }
  const { host = "127.0.0.1", port } = endpoint as {
    host?: string;
    port: number;
  };
  const name = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  return record(name, { host, port: portNumber(port, name) });
}

function portNumber(port: unknown, name: string): number {
  if (typeof port !== "number" || !Number.isInteger(port)) {
    throw new TypeError(`Cannot use endpoint ${name}: port is not an integer`);
  }
  if (port < 1 || port > 65535) {
    throw new RangeError(`Cannot use endpoint ${name}: port is out of range`);
  }
  return port;
}
