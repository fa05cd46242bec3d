/**
 * The command line's transport flags: `--unix PATH` everywhere, `--tls-cert`
 * and `--tls-key` for `serve`, `--tls`, `--tls-ca` and `--tls-server-name`
 * for `client` and `bench`. Certificate files are read through the host.
 *
 * @module
 */
import {
  type FlagSpec,
  type ParsedArgs,
  portFlag,
  UsageError,
} from "./args.ts";
import { formatHost } from "../_log_format.ts";
import type { CliHost } from "./host.ts";
import type {
  ConnectOptions,
  ListenOptions,
  TlsConnectOptions,
} from "../transport.ts";

/** Transport flags of `serve`. */
export const SERVE_TRANSPORT_FLAGS: FlagSpec = {
  unix: "value",
  "tls-cert": "value",
  "tls-key": "value",
};

/** Transport flags of `client` and `bench`. */
export const CONNECT_TRANSPORT_FLAGS: FlagSpec = {
  unix: "value",
  tls: "boolean",
  "tls-ca": "value",
  "tls-server-name": "value",
};

const value = (flags: ParsedArgs["flags"], name: string) =>
  typeof flags[name] === "string" ? flags[name] as string : undefined;

/** Refuses `--unix` together with TCP or TLS flags. */
function checkUnix(flags: ParsedArgs["flags"], tcpOnly: string[]): void {
  if (flags.unix === undefined) return;
  const clash = ["host", "port", ...tcpOnly].find((name) =>
    flags[name] !== undefined
  );
  if (clash !== undefined) {
    throw new UsageError(
      `option '--unix' cannot be combined with '--${clash}'`,
    );
  }
}

/** Reads a PEM file named by `--flag`. */
async function readPem(
  host: CliHost,
  flag: string,
  path: string,
): Promise<string> {
  let text: string;
  try {
    text = await host.readTextFile(path);
  } catch (error) {
    throw new Error(`Cannot read --${flag} file '${path}'`, { cause: error });
  }
  if (!text.includes("-----BEGIN ")) {
    throw new Error(
      `Cannot use --${flag} file '${path}': it holds no PEM data`,
    );
  }
  return text;
}

/** Where `serve` listens, from `--host`, `--port`, `--unix`, `--tls-cert` and `--tls-key`. */
export async function listenFlags(
  host: CliHost,
  flags: ParsedArgs["flags"],
): Promise<ListenOptions> {
  checkUnix(flags, ["tls-cert", "tls-key"]);
  const path = value(flags, "unix");
  if (path !== undefined) return { path };
  const options: ListenOptions = {
    host: value(flags, "host") ?? "0.0.0.0",
    port: portFlag(flags),
  };
  const cert = value(flags, "tls-cert");
  const key = value(flags, "tls-key");
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError(
      "options '--tls-cert' and '--tls-key' must be given together",
    );
  }
  if (cert !== undefined && key !== undefined) {
    options.tls = {
      cert: await readPem(host, "tls-cert", cert),
      key: await readPem(host, "tls-key", key),
    };
  }
  return options;
}

/**
 * Where `client` and `bench` connect, from `--host`, `--port`, `--unix`,
 * `--tls`, `--tls-ca` and `--tls-server-name` (either of the last two
 * implies `--tls`).
 */
export async function connectFlags(
  host: CliHost,
  flags: ParsedArgs["flags"],
): Promise<ConnectOptions> {
  checkUnix(flags, ["tls", "tls-ca", "tls-server-name"]);
  const path = value(flags, "unix");
  if (path !== undefined) return { path };
  const options: ConnectOptions = {
    host: value(flags, "host") ?? "127.0.0.1",
    port: portFlag(flags),
  };
  const ca = value(flags, "tls-ca");
  const serverName = value(flags, "tls-server-name");
  if (flags.tls === true || ca !== undefined || serverName !== undefined) {
    const tls: TlsConnectOptions = {};
    if (ca !== undefined) tls.ca = await readPem(host, "tls-ca", ca);
    if (serverName !== undefined) tls.serverName = serverName;
    options.tls = tls;
  }
  return options;
}

/** An address as the command line prints it: `host:port`, `host:port (TLS)` or `unix:PATH`. */
export function describeTarget(
  target: { host?: string; port?: number; path?: string; tls?: unknown },
): string {
  if (target.path !== undefined) return `unix:${target.path}`;
  const address = `${formatHost(target.host ?? "")}:${target.port}`;
  return target.tls ? `${address} (TLS)` : address;
}
