/**
 * The framewire command line, runtime-neutral: each runtime's entry point
 * hands it a {@linkcode CliHost} with its arguments, output and network.
 *
 * @module
 */
import { Client } from "../client.ts";
import { ConnectError, FrameTooLargeError } from "../errors.ts";
import type { FrameFormatOption } from "../frame_format.ts";
import {
  type Framing,
  framingOf,
  MAX_FRAME_SIZE_LIMIT,
} from "../_frame_header.ts";
import { wholeFrame } from "./_request_frames.ts";
import {
  ADDRESS_FLAGS,
  FRAMING_FLAGS,
  framingFlag,
  maxFrameSizeFlag,
  parseArgs,
  UsageError,
} from "./args.ts";
import { benchCommand } from "./bench.ts";
import { serveCommand } from "./serve.ts";
import {
  CONNECT_TRANSPORT_FLAGS,
  connectFlags,
  describeTarget,
} from "./transport_flags.ts";
import type { FlagSpec } from "./args.ts";
import type { CliHost } from "./host.ts";

const HELP = {
  main: (p: string) =>
    `framewire: a framed-message TCP server and pipelining client

Usage:
  ${p} [serve] [options]            run the echo server (the default command)
  ${p} client [options] [MESSAGE...] send messages and print the responses
  ${p} bench [options]              load-test a server

Run '${p} <command> --help' for a command's options.`,
  client: (p: string) =>
    `Usage: ${p} client [--host HOST] [--port PORT | --unix PATH] [--tls]
       [--tls-ca FILE] [--tls-server-name NAME] [--framing NAME|JSON]
       [--max-frame-size BYTES] [MESSAGE...]

Sends each MESSAGE as one request, all pipelined on one connection, and prints
each response's length and a preview. With no MESSAGE it sends a demo set:
"hello1", "hello2", "hello3", one 32 MiB message (or the most one frame of
the format carries, when less), "hello5".

Options:
  --host HOST              server host (default 127.0.0.1)
  --port PORT              server port (default 1234)
  --unix PATH              connect to a Unix domain socket instead of TCP
  --tls                    speak TLS, checking the server against the default roots
  --tls-ca FILE            trust the PEM CA certificates in FILE (implies --tls)
  --tls-server-name NAME   name to check the certificate against (implies --tls;
                           default the host)
  --framing NAME|JSON      the server's frame format: u32le (default), u32be,
                           u16be, varint, u32le-id, dns, or a FrameFormat as
                           JSON; with "initialBytesToStrip":0 each MESSAGE is
                           sent as a whole frame (zero bytes before the length
                           field, the field, MESSAGE) and responses are shown
                           whole; see docs/framing.md. With a request id
                           (u32le-id, dns) MESSAGE follows room for the id,
                           which the client fills in; each response is shown
                           after its id, with the id
  --max-frame-size BYTES   largest request or response; k/m suffixes allowed (default 32m)
  -h, --help               show this help`,
};

const HELP_FLAGS = ["-h", "--help"];

const CLIENT_FLAGS: FlagSpec = {
  ...ADDRESS_FLAGS,
  ...CONNECT_TRANSPORT_FLAGS,
  ...FRAMING_FLAGS,
};

/**
 * Runs the command line.
 *
 * @param host The runtime's arguments, output, signals and network.
 * @returns The exit code: 0 on success, 1 on a runtime failure, 2 on bad usage.
 *
 * @example
 * ```ts
 * import { runCli } from "./main.ts";
 * import { denoCliHost } from "./hosts/deno.ts";
 *
 * Deno.exit(await runCli(denoCliHost()));
 * ```
 */
export async function runCli(host: CliHost): Promise<number> {
  // With no command, or flags only, the program serves.
  const servesByDefault = host.args.length === 0 ||
    (host.args[0].startsWith("-") && !HELP_FLAGS.includes(host.args[0]));
  const [command, ...rest] = servesByDefault
    ? ["serve", ...host.args]
    : host.args;
  const p = host.programName;
  try {
    switch (command) {
      case "serve":
        return await serveCommand(host, rest);
      case "client":
        return await clientCommand(host, rest);
      case "bench":
        return await benchCommand(host, rest);
      case "help":
      case "-h":
      case "--help":
        host.print(HELP.main(p));
        return 0;
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      host.printError(`error: ${error.message}`);
      if (!error.hint) return 2;
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

/**
 * The demo's large message: 32 MiB, or the most a frame of `format` carries
 * when that is less: what its length field holds (65,535 bytes for u16be),
 * less the header for a format that keeps whole frames (the whole frame
 * must fit in `maxFrameSize`).
 */
function largeDemoSize(
  format: FrameFormatOption | undefined,
  maxFrameSize: number,
): number {
  const framing = framingOf(format, MAX_FRAME_SIZE_LIMIT);
  let size = 32 * 1024 * 1024;
  try {
    framing.checkPayload(size);
  } catch (error) {
    if (!(error instanceof FrameTooLargeError)) throw error;
    size = error.maxFrameSize;
  }
  if (framing.encodes === "whole") {
    const header = framing.offset + framing.headerSize(size);
    size = Math.max(0, Math.min(size, maxFrameSize - header));
  }
  // The room for the id comes first, within the frame.
  const room = idRoom(framing, size);
  return room === 0 ? size : Math.max(0, Math.min(size, maxFrameSize) - room);
}

/**
 * Zero bytes the client command puts before a message of `length` bytes so
 * that the frame handed out has room for the request id, which the Client
 * fills in: up to the id's end, less a whole frame's header.
 */
function idRoom(framing: Framing, length: number): number {
  const id = framing.id;
  if (id === null) return 0;
  if (framing.encodes !== "whole") return id.end;
  return Math.max(0, id.end - framing.offset - framing.headerSize(length));
}

function demoMessages(
  format: FrameFormatOption | undefined,
  maxFrameSize: number,
): Uint8Array[] {
  const encoder = new TextEncoder();
  const large = new Uint8Array(largeDemoSize(format, maxFrameSize));
  const pattern = encoder.encode("framewire-32MiB-");
  for (let i = 0; i < large.length; i += pattern.length) {
    large.set(pattern.subarray(0, large.length - i), i);
  }
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

/**
 * A response as the client command prints it: its length and a preview;
 * with a request id, the bytes after the id (a whole frame stays whole) and
 * the id.
 */
function shown(framing: Framing, response: Uint8Array): string {
  const id = framing.id;
  if (id === null || response.length < id.end) {
    return `${response.length} bytes ${preview(response)}`;
  }
  const body = framing.encodes === "whole"
    ? response
    : response.subarray(id.end);
  return `${body.length} bytes ${preview(body)} (id ${id.read(response, 0)})`;
}

async function clientCommand(host: CliHost, args: string[]): Promise<number> {
  const { flags, positional } = parseArgs(args, CLIENT_FLAGS);
  if (flags.help) {
    host.print(HELP.client(host.programName));
    return 0;
  }
  const maxFrameSize = maxFrameSizeFlag(flags);
  const format = framingFlag(flags, maxFrameSize);
  const framing = framingOf(format, maxFrameSize);
  const messages = positional.length > 0
    ? positional.map((text) => new TextEncoder().encode(text))
    : demoMessages(format, maxFrameSize);
  const target = await connectFlags(host, flags);
  const transport = await host.network.connect(target).catch((error) => {
    // A ConnectError names the address and the reason ("... (ECONNREFUSED)").
    if (error instanceof ConnectError) throw error;
    throw new Error(`Cannot connect to ${describeTarget(target)}`, {
      cause: error,
    });
  });
  const client = new Client(transport, { maxFrameSize, format });
  // Room for the id first, then the message; a format that keeps whole
  // frames is handed whole frames to send.
  const request = (message: Uint8Array) => {
    const room = idRoom(framing, message.length);
    let payload = message;
    if (room > 0) {
      payload = new Uint8Array(room + message.length);
      payload.set(message, room);
    }
    return client.request(
      framing.encodes === "whole" ? wholeFrame(framing, payload) : payload,
    );
  };
  const started = performance.now();
  try {
    const results = await Promise.allSettled(
      messages.map(async (m) => await request(m)),
    );
    let failures = 0;
    results.forEach((result, i) => {
      if (result.status === "fulfilled") {
        host.print(`${i + 1}: ${shown(framing, result.value)}`);
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
