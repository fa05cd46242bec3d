// Cross-runtime interop: a server started as a real process on one runtime,
// answered to clients run as real processes on the others, with pipelining
// and a 32 MiB frame.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { cliArgs, runtime, sourceExtension } from "./_runtime.ts";
import { type ProgramRequirement, requireProgram } from "./_requires.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

interface InteropRuntime {
  name: "deno" | "bun" | "node";
  command: string;
  script: (path: string) => string[];
  /** The program to find on PATH; null for the runtime running the tests. */
  needs: ProgramRequirement | null;
}

/**
 * How to run a TypeScript program on each runtime. The one running the tests
 * is its own executable; another must be on PATH, or the tests that use it
 * are skipped (failed under FRAMEWIRE_REQUIRE_ALL=1).
 */
function runtimes(): InteropRuntime[] {
  const all: Array<Pick<InteropRuntime, "name" | "script">> = [
    { name: "deno", script: (p) => ["run", "-A", p] },
    { name: "bun", script: (p) => ["run", p] },
  ];
  // Node runs compiled files only: it joins when the suite runs from the npm build.
  if (runtime === "node") all.push({ name: "node", script: (p) => [p] });
  return all.map((r) => {
    if (r.name === runtime) {
      return { ...r, command: process.execPath, needs: null };
    }
    return {
      ...r,
      command: r.name,
      needs: requireProgram(r.name, import.meta.url),
    };
  });
}

function run(command: string, args: string[], timeoutMs = 120_000) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>(
    (resolve) => {
      const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    },
  );
}

const all = runtimes();
for (const server of all) {
  for (const client of all) {
    const skip = server.needs?.skip || client.needs?.skip || false;
    const title =
      `interop: ${server.name} server answers a ${client.name} client`;
    test(title, { skip }, async () => {
      server.needs?.check();
      client.needs?.check();
      const serverArgs = [
        ...cliArgs(server.name, root),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
      ];
      const child = spawn(server.command, serverArgs, {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      child.stderr.on("data", (d) => (output += d));
      const port = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no server: ${output}`)),
          30_000,
        );
        child.stdout.on("data", (d) => {
          output += d;
          const match = /Server listening on 127\.0\.0\.1:(\d+)/.exec(output);
          if (match) {
            clearTimeout(timer);
            resolve(Number(match[1]));
          }
        });
      });
      try {
        const result = await run(client.command, [
          ...client.script(`${root}tests/_interop_client${sourceExtension}`),
          String(port),
        ]);
        assert.equal(result.code, 0, result.stdout + result.stderr);
        assert.match(
          result.stdout,
          new RegExp(
            `interop ok: ${client.name} client, 2001 pipelined responses verified`,
          ),
        );
      } finally {
        const exited = new Promise((resolve) => child.on("close", resolve));
        child.kill("SIGTERM");
        await exited;
      }
      assert.match(
        output,
        /Server stopped: 1 connections, 2001 requests served/,
      );
    });
  }
}
