/**
 * The framewire command line, runtime-neutral: each runtime's entry point
 * hands it a {@linkcode CliHost} with its arguments, output and network.
 *
 * @module
 */
import { Client } from "./client.ts";
import { Server, type ServerOptions } from "./server.ts";
import {
  durationFlag,
  maxFrameSizeFlag,
  parseArgs,
  parseSize,
  UsageError,
} from "./_cli_args.ts";
import { benchCommand } from "./_cli_bench.ts";
import {
  CONNECT_TRANSPORT_FLAGS,
  connectFlags,
  describeTarget,
  listenFlags,
  SERVE_TRANSPORT_FLAGS,
} from "./_cli_transport.ts";
import type { FlagSpec } from "./_cli_args.ts";
import type { Network } from "./transport.ts";

/**
 * What the command line needs from the runtime it runs on.
 *
 * @example
 * ```ts ignore
 * import { runCli } from "./cli.ts";
 * import { denoCliHost } from "./adapters/deno.ts";
 *
 * Deno.exit(await runCli(denoCliHost()));
 * ```
 */
export interface CliHost {
  /** The arguments after the program name. */
  args: readonly string[];
  /** The runtime's network adapter. */
  network: Network;
  /** Writes one line to standard output. */
  print(line: string): void;
  /** Writes one line to standard error. */
  printError(line: string): void;
  /**
   * Calls `listener` on SIGINT or SIGTERM until the returned function is
   * called.
   */
  onShutdownSignal(listener: () => void): () => void;
  /** Whether standard output is a terminal (for the load tester's progress line). */
  isTerminal: boolean;
  /** Writes text to standard output with no newline (a progress line). */
  printPartial(text: string): void;
  /** Reads a UTF-8 file (TLS certificates and keys given by path). */
  readTextFile(path: string): Promise<string>;
  /** Ends the process at once with `code`. */
  exit(code: number): never;
  /** The program's name as a user types it, for usage text. */
  programName: string;
}

const HELP = {
  main: (p: string) =>
    `framewire: a framed-message TCP server and pipelining client

Usage:
  ${p} serve [options]              run the echo server
  ${p} client [options] [MESSAGE...] send messages and print the responses
  ${p} bench [options]              load-test a server

Run '${p} <command> --help' for a command's options.`,
  serve: (p: string) =>
    `Usage: ${p} serve [--host HOST] [--port PORT | --unix PATH]
       [--tls-cert FILE --tls-key FILE] [--max-frame-size BYTES] [limits]

Serves the echo application until SIGINT or SIGTERM, then closes gracefully:
stops accepting, answers every request already received, closes each
connection (by force after --drain-timeout). A second signal exits at once.

Options:
  --host HOST                 interface to bind (default 0.0.0.0)
  --port PORT                 port to bind, 0 for any free one (default 1234)
  --unix PATH                 listen on a Unix domain socket instead of TCP; a
                              stale socket file there is replaced, the file is
                              removed on exit
  --tls-cert FILE             serve TLS with this PEM certificate chain
  --tls-key FILE              ... and this PEM private key
  --max-frame-size BYTES      largest request accepted; k/m suffixes allowed (default 32m)
  --max-connections N         connections served at once; more are closed (default 10000)
  --max-buffered-bytes BYTES  memory for frames being received and responses
                              not yet sent, server-wide (default 256m)
  --idle-timeout TIME         close a connection silent this long, 0 = never (default 120s)
  --frame-timeout TIME        close a connection whose frame takes longer (default 30s)
  --write-timeout TIME        close a peer that reads no response this long (default 30s)
  --drain-timeout TIME        on shutdown, force connections closed after (default 10s)
  -h, --help                  show this help

TIME is milliseconds, or a number with ms, s or m: 500ms, 30s, 2m.`,
  client: (p: string) =>
    `Usage: ${p} client [--host HOST] [--port PORT | --unix PATH] [--tls]
       [--tls-ca FILE] [--tls-server-name NAME] [--max-frame-size BYTES] [MESSAGE...]

Sends each MESSAGE as one request, all pipelined on one connection, and prints
each response's length and a preview. With no MESSAGE it sends a demo set:
"hello1", "hello2", "hello3", one 32 MiB message, "hello5".

Options:
  --host HOST              server host (default 127.0.0.1)
  --port PORT              server port (default 1234)
  --unix PATH              connect to a Unix domain socket instead of TCP
  --tls                    speak TLS, checking the server against the default roots
  --tls-ca FILE            trust the PEM CA certificates in FILE (implies --tls)
  --tls-server-name NAME   name to check the certificate against (implies --tls;
                           default the host)
  --max-frame-size BYTES   largest request or response; k/m suffixes allowed (default 32m)
  -h, --help               show this help`,
};

const ADDRESS_FLAGS: FlagSpec = {
  host: "value",
  port: "value",
  "max-frame-size": "value",
};
const CLIENT_FLAGS: FlagSpec = { ...ADDRESS_FLAGS, ...CONNECT_TRANSPORT_FLAGS };
const SERVE_FLAGS: FlagSpec = {
  ...ADDRESS_FLAGS,
  ...SERVE_TRANSPORT_FLAGS,
  "max-connections": "value",
  "max-buffered-bytes": "value",
  "idle-timeout": "value",
  "frame-timeout": "value",
  "write-timeout": "value",
  "drain-timeout": "value",
};

/**
 * Runs the command line.
 *
 * @param host The runtime's arguments, output, signals and network.
 * @returns The exit code: 0 on success, 1 on a runtime failure, 2 on bad usage.
 *
 * @example
 * ```ts ignore
 * import { runCli } from "./cli.ts";
 * import { denoCliHost } from "./adapters/deno.ts";
 *
 * Deno.exit(await runCli(denoCliHost()));
 * ```
 */
export async function runCli(host: CliHost): Promise<number> {
  const [command, ...rest] = host.args;
  const p = host.programName;
  try {
    switch (command) {
      case "serve":
        return await serveCommand(host, rest);
      case "client":
        return await clientCommand(host, rest);
      case "bench":
        return await benchCommand(host, rest);
      case undefined:
      case "help":
      case "-h":
      case "--help":
        host.print(HELP.main(p));
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      host.printError(`error: ${error.message}`);
      const known = ["serve", "client", "bench"].includes(command ?? "");
      host.printError(
        `Run '${p} ${known ? command + " " : ""}--help' for usage.`,
      );
      return 2;
    }
    host.printError(`error: ${describe(error)}`);
    return 1;
  }
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? ` (${error.cause.message})` : "";
  return `${error.message}${cause}`;
}

async function serveCommand(host: CliHost, args: string[]): Promise<number> {
  const { flags, positional } = parseArgs(args, SERVE_FLAGS);
  if (flags.help) {
    host.print(HELP.serve(host.programName));
    return 0;
  }
  if (positional.length > 0) {
    throw new UsageError(`unexpected argument '${positional[0]}'`);
  }
  const maxFrameSize = maxFrameSizeFlag(flags);
  const options: ServerOptions = {
    maxFrameSize,
    idleTimeout: durationFlag(flags, "idle-timeout"),
    frameTimeout: durationFlag(flags, "frame-timeout"),
    writeTimeout: durationFlag(flags, "write-timeout"),
    closeTimeout: durationFlag(flags, "drain-timeout"),
  };
  if (typeof flags["max-connections"] === "string") {
    const text = flags["max-connections"];
    if (!/^[1-9]\d*$/.test(text)) {
      throw new UsageError(
        `option '--max-connections' expects a positive integer, got '${text}'`,
      );
    }
    options.maxConnections = Number(text);
  }
  if (typeof flags["max-buffered-bytes"] === "string") {
    options.maxBufferedBytes = parseSize(
      "max-buffered-bytes",
      flags["max-buffered-bytes"],
      Number.MAX_SAFE_INTEGER,
    );
    if (options.maxBufferedBytes < maxFrameSize) {
      throw new UsageError(
        `option '--max-buffered-bytes' must be at least --max-frame-size (${maxFrameSize}), got ${options.maxBufferedBytes}`,
      );
    }
  }
  // Listen for signals before binding, so no signal can find the default action.
  let signals = 0;
  let shutdown!: () => void;
  const shutdownRequested = new Promise<void>((
    resolve,
  ) => (shutdown = resolve));
  const unsubscribe = host.onShutdownSignal(() => {
    if (++signals === 1) shutdown();
    else {
      host.printError("Second signal: exiting without waiting for connections");
      host.exit(1);
    }
  });
  const server = new Server(options);
  try {
    const listen = await listenFlags(host, flags);
    const addr = await server.listen(host.network, listen);
    host.print(
      `Server listening on ${
        describeTarget(
          addr.transport === "unix"
            ? { path: addr.hostname }
            : { host: addr.hostname, port: addr.port, tls: listen.tls },
        )
      }`,
    );
  } catch (error) {
    unsubscribe();
    throw error;
  }
  await shutdownRequested;
  host.print("Shutting down: answering requests already received");
  await server.close();
  const stats = server.stats();
  host.print(
    `Server stopped: ${stats.totalConnections} connections, ${stats.framesIn} requests served`,
  );
  unsubscribe();
  return 0;
}

function demoMessages(): Uint8Array[] {
  const encoder = new TextEncoder();
  const large = new Uint8Array(32 * 1024 * 1024);
  const pattern = encoder.encode("framewire-32MiB-");
  for (let i = 0; i < large.length; i += pattern.length) large.set(pattern, i);
  return [
    encoder.encode("hello1"),
    encoder.encode("hello2"),
    encoder.encode("hello3"),
    large,
    encoder.encode("hello5"),
  ];
}

function preview(bytes: Uint8Array): string {
  const text = new TextDecoder().decode(bytes.subarray(0, 40));
  const printable = text.replace(/[^\x20-\x7e]/g, ".");
  return JSON.stringify(printable) + (bytes.length > 40 ? "..." : "");
}

async function clientCommand(host: CliHost, args: string[]): Promise<number> {
  const { flags, positional } = parseArgs(args, CLIENT_FLAGS);
  if (flags.help) {
    host.print(HELP.client(host.programName));
    return 0;
  }
  const maxFrameSize = maxFrameSizeFlag(flags);
  const messages = positional.length > 0
    ? positional.map((text) => new TextEncoder().encode(text))
    : demoMessages();
  const target = await connectFlags(host, flags);
  const transport = await host.network.connect(target).catch((error) => {
    throw new Error(`Cannot connect to ${describeTarget(target)}`, {
      cause: error,
    });
  });
  const client = new Client(transport, { maxFrameSize });
  const started = performance.now();
  try {
    const results = await Promise.allSettled(
      messages.map((m) => client.request(m)),
    );
    let failures = 0;
    results.forEach((result, i) => {
      if (result.status === "fulfilled") {
        host.print(
          `${i + 1}: ${result.value.length} bytes ${preview(result.value)}`,
        );
      } else {
        failures++;
        host.printError(`${i + 1}: failed: ${describe(result.reason)}`);
      }
    });
    const ms = (performance.now() - started).toFixed(1);
    host.print(
      `${
        results.length - failures
      } of ${results.length} responses in ${ms} ms from ${
        describeTarget(target)
      }`,
    );
    return failures === 0 ? 0 : 1;
  } finally {
    await client.close();
  }
}
