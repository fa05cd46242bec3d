// What the server benchmarks share: finding lpload, starting a server
// process and waiting for its listening line, stopping it, running the load
// tester, and medians.
import { transpileForNode } from "./_transpile_for_node.ts";
import type { LoadTestResult } from "../src/cli/load_tester.ts";

/** The repository root, with a trailing slash. */
export const root = new URL("..", import.meta.url).pathname;

/** The value after `--name` among the script's arguments, if any. */
export function flag(name: string): string | undefined {
  const i = Deno.args.indexOf(`--${name}`);
  return i === -1 ? undefined : Deno.args[i + 1];
}

/**
 * `command` with `args`, run on CPU `cpu` by taskset when the script was
 * given --pin (a server on one core and its load generator on the other, so
 * they do not trade places between rounds), else as it is.
 */
export function pinned(
  cpu: number,
  command: string,
  args: string[],
): { command: string; args: string[] } {
  return Deno.args.includes("--pin")
    ? { command: "taskset", args: ["-c", String(cpu), command, ...args] }
    : { command, args };
}

/** Whether `path` exists. */
export async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/**
 * The folder holding lpload and refserver: `dir`, $FW_TOOLS or /tmp/fwtools,
 * built there from ../shared/tools when that folder is beside the checkout.
 *
 * @returns The folder, or null when lpload is nowhere to be had.
 */
export async function findTools(dir?: string): Promise<string | null> {
  const out = dir ?? Deno.env.get("FW_TOOLS") ?? "/tmp/fwtools";
  if (await exists(`${out}/lpload`)) return out;
  const source = `${root}../shared/tools`;
  if (!(await exists(`${source}/Makefile`))) return null;
  const make = await new Deno.Command("make", {
    args: ["-C", source, `OUT=${out}`],
    stdout: "null",
    stderr: "inherit",
  }).output();
  return make.success && (await exists(`${out}/lpload`)) ? out : null;
}

/** A server to benchmark: a name and the command that runs it. */
export interface ServerSpec {
  name: string;
  command: string;
  args: string[];
}

/** A server process that has printed its listening line. */
export interface Running {
  child: Deno.ChildProcess;
  pid: number;
  output(): string;
}

/**
 * Starts `spec` and resolves once its output matches `ready` (by default a
 * line with "listening on").
 */
export async function start(
  spec: ServerSpec,
  ready: RegExp = /listening on/i,
): Promise<Running> {
  const child = new Deno.Command(spec.command, {
    args: spec.args,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const decoder = new TextDecoder();
  const watch = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) output += decoder.decode(chunk);
  };
  watch(child.stdout);
  watch(child.stderr);
  const deadline = Date.now() + 20_000;
  while (!ready.test(output)) {
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${spec.name} did not start: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { child, pid: child.pid, output: () => output };
}

/** Stops a server with SIGTERM (SIGKILL after 10 s) and waits for its exit. */
export async function stop(server: Running): Promise<void> {
  server.child.kill("SIGTERM");
  const timer = setTimeout(() => server.child.kill("SIGKILL"), 10_000);
  await server.child.status;
  clearTimeout(timer);
}

/** The median of the finite numbers in `xs`, or NaN when there are none. */
export const median = (xs: number[]): number => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)];
};

/** CPU seconds used so far by `pid` and its children (its workers). */
export async function treeCpuSeconds(pid: number): Promise<number> {
  const ticksPerSecond = 100; // USER_HZ on Linux
  let ticks = 0;
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`).catch(
      () => "",
    );
    // Fields after the command name, which is in parentheses.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const self = Number(entry.name) === pid;
    if (!self && Number(fields[1]) !== pid) continue;
    ticks += Number(fields[11]) + Number(fields[12]); // utime + stime
  }
  return ticks / ticksPerSecond;
}

let nodeMain: string | undefined;

/**
 * framewire's command line with `args` on `runtime` (deno, bun, or node,
 * which runs src/node_main.ts transpiled once into a temporary folder), on
 * CPU `cpu` with --pin.
 */
export async function framewireOn(
  runtime: string,
  cpu: number,
  args: string[],
): Promise<{ command: string; args: string[] }> {
  if (runtime === "deno") {
    return pinned(cpu, "deno", ["run", "-A", "mod.ts", ...args]);
  }
  if (runtime === "bun") {
    return pinned(cpu, "bun", ["run", "src/bun_main.ts", ...args]);
  }
  nodeMain ??= await transpileForNode(
    root,
    "src/node_main.ts",
    await Deno.makeTempDir({ prefix: "framewire-bench-" }),
  );
  return pinned(cpu, "node", [nodeMain, ...args]);
}

/**
 * framewire's `serve` with `args` on `runtime` (see framewireOn), on CPU 1
 * with --pin.
 */
export async function serveOn(
  runtime: string,
  name: string,
  args: string[],
): Promise<ServerSpec> {
  return {
    name,
    ...(await framewireOn(runtime, 1, [
      "serve",
      "--host",
      "127.0.0.1",
      ...args,
    ])),
  };
}

/**
 * Runs framewire's load tester (`bench ... --verify --json`, on CPU 0 with
 * --pin) on `runtime` (default Deno) against 127.0.0.1:`target`, or the
 * WebSocket URL `target` (`bench --ws`), and returns its JSON result (an
 * empty object if it printed none) and whether it exited 0.
 */
export async function loadTest(
  target: number | string,
  args: string[],
  runtime = "deno",
): Promise<{ result: Partial<LoadTestResult>; success: boolean }> {
  const load = await framewireOn(runtime, 0, [
    "bench",
    ...(typeof target === "number"
      ? ["--port", String(target)]
      : ["--ws", target]),
    ...args,
    "--verify",
    "--json",
  ]);
  const out = await new Deno.Command(load.command, {
    args: load.args,
    cwd: root,
    stdout: "piped",
    stderr: "null",
  }).output();
  const line = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1);
  return { result: JSON.parse(line || "{}"), success: out.success };
}
