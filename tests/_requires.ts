// Tests that need a program from outside (HAProxy, openssl, dnsmasq, dig,
// memcached, another runtime): on a machine without it they are skipped,
// with one line naming the program and how to install it, so that
// `deno test -A` passes with Deno alone; under FRAMEWIRE_REQUIRE_ALL=1 (CI)
// they fail instead, saying the same. Use node:test's `skip` option, not
// `t.skip()`: Deno reports a test that calls `t.skip()` as passed, while all
// three runners honour `skip`.
//
//   const haproxy = requireProgram("haproxy", import.meta.url);
//   test("haproxy: ...", { skip: haproxy.skip }, async () => {
//     haproxy.check();
//     ...
//   });
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join } from "node:path";
import process from "node:process";

/** How to install each outside program the tests use. */
export const INSTALL_HINTS = {
  haproxy: "apt-get install -y haproxy",
  openssl: "apt-get install -y openssl",
  dnsmasq: "apt-get install -y --no-install-recommends dnsmasq-base",
  dig: "apt-get install -y bind9-dnsutils",
  memcached: "apt-get install -y memcached",
  bun: "npm i -g bun@1.4.5",
  deno: "npm i -g deno@2.9.6",
  node: "Node 20 or later",
  workerd: "npm i -g workerd@1.20261117.1",
  esbuild: "npm i -g esbuild@0.28.2",
  chromium: "apt-get install -y chromium",
} as const;

/** An outside program that some tests need. */
export type OutsideProgram = keyof typeof INSTALL_HINTS;

/** What a test file learns about one outside program. */
export interface ProgramRequirement {
  /** Whether the program is on PATH. */
  readonly installed: boolean;
  /**
   * For node:test's `test(name, { skip }, fn)`: why the test is skipped when
   * the program is missing, or false to run it (the program is on PATH, or
   * FRAMEWIRE_REQUIRE_ALL=1 asks for a failure instead).
   */
  readonly skip: string | false;
  /**
   * Throws, naming the program and its install command, when it is missing.
   * Call it first in each test that passes `skip`, so that under
   * FRAMEWIRE_REQUIRE_ALL=1 the test fails with that message.
   */
  check(): void;
}

/** Whether `FRAMEWIRE_REQUIRE_ALL=1` asks missing programs to fail tests. */
export const requireAll = process.env.FRAMEWIRE_REQUIRE_ALL === "1";

/** The first executable file called `program` in a directory of PATH, if any. */
export function findOnPath(program: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue;
    const path = join(dir, program);
    try {
      accessSync(path, constants.X_OK);
      if (statSync(path).isFile()) return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Whether an executable file called `program` is in a directory of PATH. */
export function onPath(program: string): boolean {
  return findOnPath(program) !== undefined;
}

const announced = new Set<string>();

/**
 * Looks `program` up on PATH for the test file at `testFileUrl` (its
 * `import.meta.url`). When it is missing and missing programs may be skipped,
 * prints once per file and program: `skip: tests/FILE needs PROGRAM (HINT)`.
 */
export function requireProgram(
  program: OutsideProgram,
  testFileUrl: string,
): ProgramRequirement {
  const file = `tests/${new URL(testFileUrl).pathname.split("/").pop()}`;
  const hint = INSTALL_HINTS[program];
  const installed = onPath(program);
  const reason = `needs ${program} (${hint})`;
  if (!installed && !requireAll && !announced.has(`${file} ${program}`)) {
    announced.add(`${file} ${program}`);
    console.error(`skip: ${file} ${reason}`);
  }
  return {
    installed,
    skip: installed || requireAll ? false : reason,
    check() {
      if (installed) return;
      throw new Error(
        `Cannot run ${file}: ${program} is not on PATH (install it: ${hint}); ` +
          "FRAMEWIRE_REQUIRE_ALL=1 makes a missing program fail, not skip",
      );
    },
  };
}
