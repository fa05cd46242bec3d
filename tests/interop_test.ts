// Cross-runtime interop: a server started as a real process on one runtime,
// answered to clients run as real processes on the others, with pipelining
// and a 32 MiB frame.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { cliArgs, runtime, sourceExtension } from "./_runtime.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

/** How to run a TypeScript program on each runtime found on this machine. */
function runtimes(): Array<
  { name: string; command: string; script: (path: string) => string[] }
> {
  const found = [];
  const has = (cmd: string) =>
    spawnSync(cmd, ["--version"], { stdio: "ignore" }).status === 0;
  if (has("deno")) {
    found.push({
      name: "deno",
      command: "deno",
      script: (p: string) => ["run", "-A", p],
    });
  }
  if (has("bun")) {
    found.push({
      name: "bun",
      command: "bun",
      script: (p: string) => ["run", p],
    });
  }
  // Node runs compiled files only: it joins when the suite runs from the npm build.
  if (runtime === "node") {
    found.push({
      name: "node",
      command: process.execPath,
      script: (p: string) => [p],
    });
  }
  return found;
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

const found = runtimes();
for (const server of found) {
  for (const client of found) {
    test(`interop: ${server.name} server answers a ${client.name} client`, async (t) => {
      if (found.length < 2) return t.skip("needs both deno and bun on PATH");
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
