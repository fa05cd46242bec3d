/**
 * What the command line needs from the runtime it runs on: arguments,
 * output, signals, files, the current directory, an HTTP server for metrics,
 * WebSocket connections for the gateway and worker processes.
 * Each runtime implements it in `hosts/`.
 *
 * @module
 */
import type { NetAddr, Network, TlsListenOptions } from "../transport.ts";
import type { WebSocketLike } from "../websocket_transport.ts";

/**
 * What the command line needs from the runtime it runs on.
 *
 * @example
 * ```ts
 * import { runCli } from "./main.ts";
 * import { denoCliHost } from "./hosts/deno.ts";
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
  /**
   * Serves small HTTP responses (the metrics endpoint) with the runtime's
   * own HTTP server; absent where the runtime has none.
   */
  serveHttp?(
    options: { host: string; port: number },
    respond: (path: string) => HttpResponse | Promise<HttpResponse>,
  ): Promise<HttpServerHandle>;
  /**
   * Accepts WebSocket connections (`serve --ws-port`) with the runtime's
   * own HTTP server: each upgraded socket goes to `accept`. Absent where
   * the runtime has none.
   */
  serveWebSockets?(
    options: WebSocketListenOptions,
    accept: (socket: WebSocketLike, peer: WebSocketPeer) => void,
  ): Promise<HttpServerHandle>;
  /**
   * The runtime's WebSocket client class (`bench --ws`): the global
   * `WebSocket`, or on Node 20, which has none, the npm `ws` package's.
   */
  webSocketClient?(): Promise<WebSocketClass>;
  /** Reads a UTF-8 file (TLS certificates and keys given by path). */
  readTextFile(path: string): Promise<string>;
  /**
   * Whether a file is at `url` (false when nothing, or a folder, is there);
   * rejects when it cannot tell (for example, reading is not permitted).
   */
  isFile(url: URL): Promise<boolean>;
  /** The current directory, an absolute path (`serve --handler FILE` resolves against it). */
  cwd(): string;
  /** Ends the process at once with `code`. */
  exit(code: number): never;
  /** This process's id. */
  pid: number;
  /**
   * Starts worker processes for `serve --workers`; absent where the
   * runtime's command line cannot.
   */
  workers?: WorkerHost;
  /** The program's name as a user types it, for usage text. */
  programName: string;
}

/**
 * How `serve --workers` starts its worker processes on one runtime.
 *
 * @example
 * ```ts
 * import type { WorkerHost } from "./host.ts";
 *
 * const describe = (w: WorkerHost) => `${w.cpuCount} CPUs, ports ${w.sharing}`;
 * ```
 */
export interface WorkerHost {
  /**
   * How workers share one port: `"reusePort"`, each binds it itself with
   * `SO_REUSEPORT` and the kernel spreads connections; `"shared"`, the
   * runtime hands every worker the primary's listener (`node:cluster`
   * before Node 22.12).
   */
  readonly sharing: "reusePort" | "shared";
  /** Logical CPUs of this machine, for `--workers auto`. */
  readonly cpuCount: number;
  /**
   * The `FRAMEWIRE_WORKER` environment variable of this process: set when
   * it is a worker started by a primary.
   */
  readonly role: string | undefined;
  /**
   * Starts this same program again with `args` (those after the program
   * name) and `env` added to its environment. Its standard output and error
   * are this process's.
   */
  spawn(args: readonly string[], env: Record<string, string>): WorkerProcess;
}

/**
 * A worker process started by {@linkcode WorkerHost.spawn}.
 *
 * @example
 * ```ts
 * import type { WorkerProcess } from "./host.ts";
 *
 * async function stop(worker: WorkerProcess) {
 *   worker.kill("SIGTERM");
 *   return (await worker.exited).code;
 * }
 * ```
 */
export interface WorkerProcess {
  /** The process id. */
  readonly pid: number;
  /** Settles when the process has ended: its exit code, or null and the signal. */
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  /** Sends the process a signal (nothing if it has ended). */
  kill(signal: "SIGTERM" | "SIGKILL"): void;
}

/**
 * A response of {@linkcode CliHost.serveHttp}.
 *
 * @example
 * ```ts
 * import type { HttpResponse } from "./host.ts";
 *
 * const notFound: HttpResponse = { status: 404, contentType: "text/plain", body: "Not found" };
 * ```
 */
export interface HttpResponse {
  status: number;
  contentType: string;
  body: string;
}

/**
 * A running HTTP server of {@linkcode CliHost.serveHttp}.
 *
 * @example
 * ```ts
 * import type { HttpServerHandle } from "./host.ts";
 *
 * const describe = (h: HttpServerHandle) => `${h.hostname}:${h.port}`;
 * ```
 */
export interface HttpServerHandle {
  /** The bound address and port. */
  hostname: string;
  port: number;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

/**
 * Where {@linkcode CliHost.serveWebSockets} listens: the TLS certificate
 * and key make it `wss:`.
 *
 * @example
 * ```ts
 * import type { WebSocketListenOptions } from "./host.ts";
 *
 * const options: WebSocketListenOptions = {
 *   host: "127.0.0.1",
 *   port: 8080,
 *   maxMessageSize: 33554432,
 * };
 * ```
 */
export interface WebSocketListenOptions {
  host: string;
  port: number;
  tls?: TlsListenOptions;
  /**
   * The largest message the runtime's server takes; a longer one closes
   * the socket with 1009 (the transport checks maxFrameSize too).
   */
  maxMessageSize: number;
  /**
   * Whether upgrades are still taken: once false, requests get 503 while
   * the sockets already open drain (closing the listener would cut them
   * on some runtimes).
   */
  accepting?: () => boolean;
}

/**
 * Who connected a WebSocket: the TCP peer, and the `X-Forwarded-For`
 * header an HTTP balancer added (null without one).
 *
 * @example
 * ```ts
 * import type { WebSocketPeer } from "./host.ts";
 *
 * const peer: WebSocketPeer = {
 *   remoteAddr: { transport: "websocket", hostname: "127.0.0.1", port: 50000 },
 *   forwardedFor: null,
 * };
 * ```
 */
export interface WebSocketPeer {
  remoteAddr: NetAddr;
  forwardedFor: string | null;
}

/**
 * A WebSocket client constructor of {@linkcode CliHost.webSocketClient}.
 *
 * @example
 * ```ts
 * import type { WebSocketClass } from "./host.ts";
 *
 * const open = (WebSocket: WebSocketClass) => new WebSocket("ws://127.0.0.1:8080/");
 * ```
 */
export type WebSocketClass = new (url: string) => WebSocketLike;
