/**
 * The control channel between the primary of `serve --workers` and its
 * workers, in framewire's own protocol over loopback TCP. The primary
 * listens; each worker connects once it is serving and always keeps one
 * request outstanding. Each request carries the worker's news (hello, its
 * stats, stopped) and its response is the primary's next command (stats,
 * shutdown), sent when the primary has one. So the primary can reach a
 * worker at any time, and a worker sees its primary vanish as a closed
 * connection.
 *
 * @module
 */
import { Client } from "../client.ts";
import type { ServerStats } from "../server_stats.ts";
import type { Network } from "../transport.ts";
import type { LatencyHistogramSnapshot } from "../latency_histogram.ts";
import { ProtocolError } from "../errors.ts";

/** The environment variable that makes a `serve` process a worker. */
export const WORKER_ROLE_VARIABLE = "FRAMEWIRE_WORKER";

/** Largest control message: stats and a histogram are a few KiB. */
export const CONTROL_MAX_FRAME = 1024 * 1024;

/** What a worker is told through {@linkcode WORKER_ROLE_VARIABLE}. */
export interface WorkerRole {
  /** Its number, from 1. */
  id: number;
  /** The primary's control port on 127.0.0.1. */
  control: number;
  /** The secret that proves the worker was started by the primary. */
  token: string;
  /** The port to bind instead of `--port` (the one worker 1 bound), if any. */
  port: number | null;
  /**
   * The `file:` URL of the `--handler` module, as the primary resolved it,
   * so a worker imports the same file whatever its current directory.
   */
  handler?: string;
}

/** Formats a role for the environment. */
export function formatRole(role: WorkerRole): string {
  return JSON.stringify(role);
}

/**
 * Reads a role from the environment.
 *
 * @throws {ProtocolError} If it is malformed.
 */
export function parseRole(text: string): WorkerRole {
  let role: Partial<WorkerRole>;
  try {
    role = JSON.parse(text);
  } catch {
    role = {};
  }
  const isFileUrl = (url: unknown) =>
    typeof url === "string" && url.startsWith("file:") && URL.canParse(url);
  const isPort = (n: unknown) =>
    Number.isInteger(n) && (n as number) > 0 && (n as number) < 65536;
  if (
    typeof role !== "object" || role === null ||
    !Number.isInteger(role.id) || (role.id as number) < 1 ||
    !isPort(role.control) || typeof role.token !== "string" ||
    !(role.port === null || isPort(role.port)) ||
    !(role.handler === undefined || isFileUrl(role.handler))
  ) {
    throw new ProtocolError(
      `Cannot start worker: ${WORKER_ROLE_VARIABLE} is not a worker role: ${text}`,
    );
  }
  return role as WorkerRole;
}

/** A worker's counters and handler-time histogram. */
export interface WorkerReport {
  stats: ServerStats;
  handlerTime: LatencyHistogramSnapshot;
}

/** What a worker sends. */
export type WorkerMessage =
  | {
    type: "hello";
    token: string;
    id: number;
    pid: number;
    hostname: string;
    port: number;
  }
  | ({ type: "stats" } & WorkerReport)
  | ({ type: "stopped" } & WorkerReport);

/** What the primary answers: the worker's next command. */
export type PrimaryCommand =
  | { type: "stats" }
  | { type: "shutdown" }
  | { type: "bye" };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes a control message. */
export function encodeMessage(message: WorkerMessage | PrimaryCommand) {
  return encoder.encode(JSON.stringify(message));
}

/**
 * Decodes a control message.
 *
 * @throws {ProtocolError} If it is not JSON with a string `type`.
 */
export function decodeMessage<T extends { type: string }>(
  bytes: Uint8Array,
): T {
  let message: { type?: unknown };
  try {
    message = JSON.parse(decoder.decode(bytes));
  } catch (error) {
    throw new ProtocolError("Cannot read control message: not JSON", {
      cause: error,
    });
  }
  if (
    typeof message !== "object" || message === null ||
    typeof message.type !== "string"
  ) {
    throw new ProtocolError("Cannot read control message: no type");
  }
  return message as T;
}

/** What a worker's end of the control channel needs from its server. */
export interface WorkerLinkHost {
  /** Its current counters and histogram. */
  report(): WorkerReport;
  /** Called once, when the primary says shut down or is gone. */
  shutdown(): void;
}

/**
 * A worker's end of the control channel.
 *
 * @example
 * ```ts
 * import { WorkerLink } from "./worker_control.ts";
 *
 * async function work(...[network, role, hello, host]: Parameters<typeof WorkerLink.open>) {
 *   const link = await WorkerLink.open(network, role, hello, host);
 *   // ... serve until shutdown() is called, close the server, then:
 *   await link.stopped(host.report());
 * }
 * ```
 */
export class WorkerLink {
  #client: Client;
  #host: WorkerLinkHost;
  #shutdownCalled = false;
  #serving: Promise<void>;

  private constructor(
    client: Client,
    host: WorkerLinkHost,
    hello: Promise<Uint8Array>,
  ) {
    this.#client = client;
    this.#host = host;
    this.#serving = this.#answer(hello);
  }

  /**
   * Connects to the primary and says hello once the worker is listening.
   *
   * @returns The link, already answering the primary's commands.
   */
  static async open(
    network: Network,
    role: WorkerRole,
    hello: { pid: number; hostname: string; port: number },
    host: WorkerLinkHost,
  ): Promise<WorkerLink> {
    const transport = await network.connect({
      host: "127.0.0.1",
      port: role.control,
    });
    const client = new Client(transport, { maxFrameSize: CONTROL_MAX_FRAME });
    const first = client.request(
      encodeMessage({
        type: "hello",
        token: role.token,
        id: role.id,
        ...hello,
      }),
    );
    return new WorkerLink(client, host, first);
  }

  /** Answers each command with the request it asks for, until shutdown. */
  async #answer(pending: Promise<Uint8Array>): Promise<void> {
    try {
      for (;;) {
        const command = decodeMessage<PrimaryCommand>(await pending);
        if (command.type === "stats") {
          pending = this.#client.request(
            encodeMessage({ type: "stats", ...this.#host.report() }),
          );
        } else {
          break; // shutdown, or bye
        }
      }
    } catch {
      // The primary is gone (or spoke nonsense): stop serving.
    }
    this.#shutdown();
  }

  #shutdown(): void {
    if (this.#shutdownCalled) return;
    this.#shutdownCalled = true;
    this.#host.shutdown();
  }

  /**
   * Tells the primary this worker has stopped, with its final report, and
   * closes the link. Never throws: a primary that is gone is not told.
   */
  async stopped(report: WorkerReport): Promise<void> {
    this.#shutdownCalled = true;
    try {
      await this.#client.request(encodeMessage({ type: "stopped", ...report }));
    } catch {
      // The primary is gone.
    }
    await this.#client.close();
    await this.#serving;
  }
}
