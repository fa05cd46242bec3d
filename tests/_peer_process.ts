// A real peer (dnsmasq, memcached, HAProxy) run as a child process on a free loopback
// port: started, waited for until it accepts TCP connections, and stopped by
// its own PID. Written with node:child_process and node:net, so the tests
// (and bench/memcached.ts) that use it run on Deno, Bun and Node alike.
import { type ChildProcess, spawn } from "node:child_process";
import { createConnection, createServer } from "node:net";
import process from "node:process";

/** A port on 127.0.0.1 that was free a moment ago (bound to 0, then closed). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen({ host: "127.0.0.1", port: 0 }, () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** Whether a TCP connection to 127.0.0.1:`port` is accepted. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** A running peer process. */
export interface PeerProcess {
  /** The port it listens on, on 127.0.0.1. */
  readonly port: number;
  /** Its process id. */
  readonly pid: number;
  /** What it printed so far (stdout and stderr). */
  output(): string;
  /** Stops it with SIGTERM (SIGKILL after 3 s) and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Starts `command` with `args(port)` on a free port and resolves once it
 * accepts TCP connections on 127.0.0.1:port; fails, with its output, when it
 * exits first or is not ready within `timeoutMs`.
 */
export async function startPeer(
  command: string,
  args: (port: number) => string[],
  timeoutMs = 10_000,
): Promise<PeerProcess> {
  const port = await freePort();
  const child: ChildProcess = spawn(command, args(port), {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once("exit", () => {
      exited = true;
      resolve();
    });
    child.once("error", (error) => {
      output += `${error}\n`;
      exited = true;
      resolve();
    });
  });
  child.stdout!.on("data", (data) => (output += data));
  child.stderr!.on("data", (data) => (output += data));
  const pid = child.pid ?? 0;
  const stop = async () => {
    if (exited) return;
    process.kill(pid, "SIGTERM");
    const timer = setTimeout(() => {
      if (!exited) process.kill(pid, "SIGKILL");
    }, 3000);
    await exit;
    clearTimeout(timer);
  };
  const deadline = Date.now() + timeoutMs;
  while (!exited && !(await accepts(port))) {
    if (Date.now() > deadline) {
      await stop();
      throw new Error(
        `Cannot start ${command}: not accepting on 127.0.0.1:${port} after ${timeoutMs} ms; it said: ${output}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (exited) {
    throw new Error(`Cannot start ${command}: it exited; it said: ${output}`);
  }
  return { port, pid, output: () => output, stop };
}

/**
 * An HAProxy configuration for the tests: TCP mode, frontend 127.0.0.1:
 * `frontend`, at most `maxconn` connections, short timeouts, a refused
 * connect retried on another server, and the backend `framewire` balanced
 * round robin, whose check and `server` lines are `backend` (each line
 * indented and ending in a newline).
 */
export function haproxyTcpConfig(
  frontend: number,
  maxconn: number,
  backend: string,
): string {
  return `global
  maxconn ${maxconn}

defaults
  mode tcp
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  timeout check 1s
  retries 2
  option redispatch

frontend framewire
  bind 127.0.0.1:${frontend}
  default_backend framewire

backend framewire
  balance roundrobin
${backend}`;
}
