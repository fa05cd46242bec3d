// Runs framewire's command line as a real process on this runtime.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { cliCommand, runtime } from "./_runtime.ts";

export interface Run {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Runs the command line with `args` to its end. */
export function runCli(args: string[], timeoutMs = 60_000): Promise<Run> {
  const { command, args: base } = cliCommand();
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...base, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/**
 * Runs `bench --json` with `args` to its end and checks its exit code
 * (0 unless `code` says otherwise); the run and its parsed JSON result,
 * the last line bench printed.
 */
export async function runBench(
  args: string[],
  code = 0,
  // deno-lint-ignore no-explicit-any
): Promise<{ run: Run; result: any }> {
  const run = await runCli(["bench", ...args, "--json"]);
  assert.equal(run.code, code, run.stdout + run.stderr);
  return { run, result: JSON.parse(run.stdout.trim().split("\n").at(-1)!) };
}

/** A `serve` process that printed its "Server listening on" line. */
export interface ServeProcess {
  child: ChildProcess;
  /** The match of `listening` in its output. */
  match: RegExpExecArray;
  /** Everything it printed so far, stdout and stderr. */
  output(): string;
}

/**
 * Starts `serve` with `args` and resolves once its output matches
 * `listening`; rejects (and kills it) if it exits or prints nothing matching
 * within 30 s. `subcommand` is what comes before `args`: `["serve"]`, or
 * `[]` to rely on serve being the default command.
 */
export function startServeProcess(
  args: string[],
  listening: RegExp,
  subcommand: string[] = ["serve"],
): Promise<ServeProcess> {
  const { command, args: base } = cliCommand();
  const child = spawn(command, [...base, ...subcommand, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`serve did not start: ${output}`));
    }, 30_000);
    child.stderr!.on("data", (d) => (output += d));
    child.stdout!.on("data", (d) => {
      output += d;
      const match = listening.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ child, match, output: () => output });
      }
    });
    child.on("error", reject);
    child.on("close", () => {
      clearTimeout(timer);
      reject(new Error(`serve exited before listening: ${output}`));
    });
  });
}

/**
 * Resolves with the exit code. Deno's node:child_process reports a child it
 * sent a signal to as killed by that signal even when the child exited with
 * code 0 (Deno.Command reports 0), so there a graceful stop is read as 0.
 */
export function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    const done = (code: number | null, signal: string | null) =>
      resolve(
        code === null && (signal === "SIGTERM" || signal === "SIGINT") &&
          runtime === "deno"
          ? 0
          : code,
      );
    if (child.exitCode !== null || child.signalCode !== null) {
      done(child.exitCode, child.signalCode);
    } else child.on("close", done);
  });
}

/** Stops a `serve` process with SIGTERM; resolves with its exit code. */
export function stopServe(server: ServeProcess): Promise<number | null> {
  const exit = exited(server.child);
  server.child.kill("SIGTERM");
  return exit;
}
