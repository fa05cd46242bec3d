/**
 * The soak test's server side (bench/soak.ts): starts the framewire command
 * line's `serve` on one runtime as a child process, keeps the tail of its
 * output, and measures it from outside through /proc (the server reports no
 * live figures of its own): the TCP sockets it holds and its RSS.
 *
 * @module
 */
import { transpileForNode } from "./_transpile_for_node.ts";

/** A runtime the server can run on. */
export type Runtime = "deno" | "bun" | "node";

/** How many lines of server output a failure report shows. */
const TAIL_LINES = 30;

/** A running `serve` process. */
export interface ServerProcess {
  runtime: Runtime;
  child: Deno.ChildProcess;
  /** The process that holds the listening socket (the child itself on all three runtimes). */
  pid: number;
  port: number;
  /** The last lines of stdout and stderr, prefixed with their stream. */
  tail: string[];
  /** stderr lines reporting a frame over maxFrameSize (one per closed bad connection). */
  protocolErrorLines: number;
  /** Other stderr lines. */
  otherErrorLines: number;
  /** The "Server stopped: ..." line printed after SIGTERM, once seen. */
  stoppedLine: string | null;
  /** Set once the process has exited. */
  exit: Deno.CommandStatus | null;
  /** The folder of the transpiled Node build, removed by `stopServer`. */
  tempDir: string | null;
}

async function followLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let partial = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    const lines = (partial + text).split("\n");
    partial = lines.pop()!;
    for (const line of lines) onLine(line);
  }
  if (partial !== "") onLine(partial);
}

/**
 * Starts `serve --host 127.0.0.1 --port 0` on `runtime` and waits for its
 * "listening on" line (at most 30 s).
 *
 * @param runtime Which runtime runs the server.
 * @param root The repository root, without a trailing slash.
 * @returns The running server with its port.
 */
export async function startServer(
  runtime: Runtime,
  root: string,
): Promise<ServerProcess> {
  let command: string = runtime;
  let args: string[];
  let tempDir: string | null = null;
  const serve = ["serve", "--host", "127.0.0.1", "--port", "0"];
  if (runtime === "deno") {
    args = ["run", "-A", `${root}/mod.ts`, ...serve];
  } else if (runtime === "bun") {
    args = ["run", `${root}/src/bun_main.ts`, ...serve];
  } else {
    // Node runs the command line transpiled into a temporary folder.
    tempDir = await Deno.makeTempDir({ prefix: "framewire_soak_node_" });
    const entry = await transpileForNode(root, "src/node_main.ts", tempDir);
    command = "node";
    args = [entry, ...serve];
  }
  const child = new Deno.Command(command, {
    args,
    cwd: root,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const server: ServerProcess = {
    runtime,
    child,
    pid: child.pid,
    port: 0,
    tail: [],
    protocolErrorLines: 0,
    otherErrorLines: 0,
    stoppedLine: null,
    exit: null,
    tempDir,
  };
  const remember = (line: string) => {
    server.tail.push(line);
    if (server.tail.length > TAIL_LINES) server.tail.shift();
  };
  followLines(child.stdout, (line) => {
    remember(`[stdout] ${line}`);
    const listening = /listening on .*:(\d+)\s*$/i.exec(line);
    if (listening && server.port === 0) server.port = Number(listening[1]);
    if (line.startsWith("Server stopped:")) server.stoppedLine = line;
  }).catch(() => {});
  followLines(child.stderr, (line) => {
    remember(`[stderr] ${line}`);
    if (/FrameTooLarge|exceeds maxFrameSize/.test(line)) {
      server.protocolErrorLines++;
    } else if (line.trim() !== "") server.otherErrorLines++;
  }).catch(() => {});
  child.status.then((status) => (server.exit = status));
  const deadline = Date.now() + 30_000;
  while (server.port === 0) {
    if (server.exit !== null || Date.now() > deadline) {
      if (server.exit === null) child.kill("SIGKILL");
      await child.status;
      await removeTemp(server);
      throw new Error(
        `Cannot start the ${runtime} server: ${
          server.exit === null ? "no 'listening on' line in 30 s" : "it exited"
        }\n${server.tail.join("\n")}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  server.pid = await listeningPid(child.pid, server.port);
  return server;
}

async function removeTemp(server: ServerProcess): Promise<void> {
  if (server.tempDir === null) return;
  await Deno.remove(server.tempDir, { recursive: true }).catch(() => {});
  server.tempDir = null;
}

/**
 * Stops the server with SIGTERM and waits up to `timeoutMs` for it to exit;
 * past that it is killed with SIGKILL.
 *
 * @returns The exit code (null if it had to be killed) and the time taken.
 */
export async function stopServer(
  server: ServerProcess,
  timeoutMs = 10_000,
): Promise<{ code: number | null; signal: string | null; ms: number }> {
  const started = performance.now();
  let timedOut = false;
  if (server.exit === null) {
    try {
      server.child.kill("SIGTERM");
    } catch { /* exited meanwhile */ }
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        server.child.kill("SIGKILL");
      } catch { /* exited meanwhile */ }
    }, timeoutMs);
    await server.child.status;
    clearTimeout(timer);
  }
  const status = await server.child.status;
  // Let the output readers take the last lines.
  await new Promise((resolve) => setTimeout(resolve, 50));
  await removeTemp(server);
  return {
    code: timedOut ? null : status.code,
    signal: timedOut ? "SIGKILL" : status.signal,
    ms: performance.now() - started,
  };
}

/** Kills the server at once (the hard deadline). */
export function killServer(server: ServerProcess): void {
  if (server.exit !== null) return;
  try {
    server.child.kill("SIGKILL");
  } catch { /* exited meanwhile */ }
}

/** Removes a Node build left behind (after `killServer`). */
export function removeTempSync(server: ServerProcess): void {
  if (server.tempDir === null) return;
  try {
    Deno.removeSync(server.tempDir, { recursive: true });
  } catch { /* already gone */ }
}

/** The socket inodes among a process's file descriptors, and how many descriptors it has. */
async function socketInodes(
  pid: number,
): Promise<{ inodes: Set<string>; fds: number }> {
  const inodes = new Set<string>();
  let fds = 0;
  for await (const entry of Deno.readDir(`/proc/${pid}/fd`)) {
    fds++;
    const target = await Deno.readLink(`/proc/${pid}/fd/${entry.name}`)
      .catch(() => "");
    const match = /^socket:\[(\d+)\]$/.exec(target);
    if (match) inodes.add(match[1]);
  }
  return { inodes, fds };
}

/** TCP sockets on local port `port`, by inode: their state (hex, "0A" is LISTEN). */
async function tcpSocketsOnPort(port: number): Promise<Map<string, string>> {
  const states = new Map<string, string>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const text = await Deno.readTextFile(file).catch(() => "");
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10) continue;
      const localPort = parseInt(fields[1].split(":").at(-1)!, 16);
      if (localPort === port) states.set(fields[9], fields[3]);
    }
  }
  return states;
}

/** The child or a descendant that holds the listening socket on `port`. */
async function listeningPid(pid: number, port: number): Promise<number> {
  const candidates = [pid];
  for (let i = 0; i < candidates.length; i++) {
    const children = await Deno.readTextFile(
      `/proc/${candidates[i]}/task/${candidates[i]}/children`,
    ).catch(() => "");
    for (const child of children.trim().split(/\s+/)) {
      if (child !== "") candidates.push(Number(child));
    }
  }
  const states = await tcpSocketsOnPort(port);
  for (const candidate of candidates) {
    const { inodes } = await socketInodes(candidate).catch(() => ({
      inodes: new Set<string>(),
    }));
    for (const inode of inodes) {
      if (states.get(inode) === "0A") return candidate;
    }
  }
  return pid;
}

/** What the server holds, seen from /proc. */
export interface SocketCount {
  /** TCP connections on the server's port held by the server, in any state but LISTEN. */
  connections: number;
  /** Of those, the ones ESTABLISHED. */
  established: number;
  /** All open file descriptors of the server. */
  fds: number;
}

/**
 * Counts the server's connections: its socket descriptors that are TCP
 * sockets on its port, other than the listener. A socket the server has not
 * closed counts whatever its state (ESTABLISHED, CLOSE_WAIT, ...).
 */
export async function countSockets(
  server: ServerProcess,
): Promise<SocketCount> {
  const { inodes, fds } = await socketInodes(server.pid);
  const states = await tcpSocketsOnPort(server.port);
  let connections = 0;
  let established = 0;
  for (const inode of inodes) {
    const state = states.get(inode);
    if (state === undefined || state === "0A") continue;
    connections++;
    if (state === "01") established++;
  }
  return { connections, established, fds };
}

/** The server's resident set size in bytes (VmRSS). */
export async function rssBytes(server: ServerProcess): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${server.pid}/status`);
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!match) throw new Error(`Cannot read RSS: no VmRSS for ${server.pid}`);
  return Number(match[1]) * 1024;
}
