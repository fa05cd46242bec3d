// Fails when runtime APIs leak into framewire's core: `Deno.*`, `Bun.*` and
// `node:*` imports may appear only in src/adapters/ and the entry points.
const ENTRY_POINTS = new Set(["src/bun_main.ts", "src/node_main.ts"]);
// Each runtime's host of the command line (its HTTP server, processes, signals).
const RUNTIME_DIRS = ["src/adapters/", "src/cli/hosts/"];
const PATTERN =
  /\b(Deno|Bun)\.[A-Za-z]|\bfrom\s+["']node:|\bimport\(\s*["']node:|\brequire\(\s*["']node:/;

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* walk(path);
    else if (entry.isFile && /\.(ts|js|mjs)$/.test(entry.name)) yield path;
  }
}

const root = new URL("..", import.meta.url).pathname;
Deno.chdir(root);
const leaks: string[] = [];
for await (const path of walk("src")) {
  if (
    RUNTIME_DIRS.some((dir) => path.startsWith(dir)) || ENTRY_POINTS.has(path)
  ) continue;
  const lines = (await Deno.readTextFile(path)).split("\n");
  lines.forEach((line, i) => {
    const code = line.replace(/^\s*(\*|\/\/).*$/, ""); // doc and line comments may name runtimes
    if (PATTERN.test(code)) leaks.push(`${path}:${i + 1}: ${line.trim()}`);
  });
}
if (leaks.length > 0) {
  console.error(
    "check:portable: runtime APIs outside src/adapters/ and the entry points:",
  );
  for (const leak of leaks) console.error(`  ${leak}`);
  Deno.exit(1);
}
console.log("check:portable: the core under src/ uses no runtime-specific API");
