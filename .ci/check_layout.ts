// Checks that framewire's layout shows its architecture, with Deno's own
// module graph (`deno info --json`), and fails naming the offending import:
//
// 1. The library (src/ outside src/adapters/ and src/cli/) never imports
//    src/cli/, and imports no adapter: only mod.ts may import the runtime
//    pick, src/adapters/auto.ts, which loads the adapters by dynamic import().
// 2. The static import graph of mod.ts (every dependency not marked
//    isDynamic, type-only imports aside) holds no src/cli/ module and no
//    node: module.
// 3. Adapters never import src/cli/.
// 4. src/ has no import cycles, type-only and dynamic imports included.
//
//   deno run -A .ci/check_layout.ts         (or: deno task check:layout)

interface Dependency {
  specifier: string;
  code?: { specifier: string; span: Span };
  type?: { specifier: string; span: Span };
  isDynamic?: boolean;
}
interface Span {
  start: { line: number };
}
interface ModuleInfo {
  specifier: string;
  dependencies?: Dependency[];
}

/** One import: from a file to a module, where, and of what kind. */
interface Edge {
  from: string;
  to: string;
  line: number;
  typeOnly: boolean;
  dynamic: boolean;
}

const root = new URL("..", import.meta.url).pathname;
Deno.chdir(root);
const rootUrl = new URL("..", import.meta.url).href;
const local = (specifier: string) =>
  specifier.startsWith(rootUrl) ? specifier.slice(rootUrl.length) : specifier;

async function moduleGraph(entry: string): Promise<ModuleInfo[]> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!output.success) throw new Error(`deno info ${entry} failed`);
  return JSON.parse(new TextDecoder().decode(output.stdout)).modules;
}

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* walk(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

// Every import of every module under src/ and of mod.ts, from Deno's graph.
const edges = new Map<string, Edge[]>();
const pending = ["mod.ts"];
for await (const path of walk("src")) pending.push(path);
pending.sort();
for (const entry of pending) {
  if (edges.has(entry)) continue;
  for (const module of await moduleGraph(entry)) {
    const from = local(module.specifier);
    if (edges.has(from) || !module.specifier.startsWith("file:")) continue;
    const out: Edge[] = [];
    for (const dependency of module.dependencies ?? []) {
      const target = dependency.code ?? dependency.type;
      if (target === undefined) continue;
      out.push({
        from,
        to: local(target.specifier),
        line: target.span.start.line + 1,
        typeOnly: dependency.code === undefined,
        dynamic: dependency.isDynamic === true,
      });
    }
    edges.set(from, out);
  }
}

const isCli = (path: string) => path.startsWith("src/cli/");
const isAdapter = (path: string) => path.startsWith("src/adapters/");
const ENTRY_POINTS = ["mod.ts", "src/bun_main.ts", "src/node_main.ts"];
const isLibrary = (path: string) =>
  path.startsWith("src/") && !isCli(path) && !isAdapter(path) &&
  !ENTRY_POINTS.includes(path);
const describe = (edge: Edge) =>
  `${edge.from}:${edge.line} imports ${edge.to}${
    edge.typeOnly ? " (type only)" : ""
  }${edge.dynamic ? " (dynamic)" : ""}`;

const failures: string[] = [];
function rule(name: string, offending: string[]): void {
  if (offending.length === 0) {
    console.log(`ok   ${name}`);
    return;
  }
  console.log(`FAIL ${name}`);
  for (const line of offending) console.log(`       ${line}`);
  failures.push(name);
}

const all = [...edges.values()].flat();
rule(
  "the library never imports src/cli/",
  all.filter((e) => isLibrary(e.from) && isCli(e.to)).map(describe),
);
rule(
  "the library imports no adapter; mod.ts only the runtime pick, which loads adapters by dynamic import()",
  all.filter((e) =>
    isAdapter(e.to) && !e.dynamic && (
      isLibrary(e.from) ||
      (e.from === "mod.ts" && e.to !== "src/adapters/auto.ts") ||
      e.from === "src/adapters/auto.ts"
    )
  ).map(describe),
);

// The static graph of mod.ts: what importing the library loads.
const staticGraph = new Set<string>();
const paths = new Map<string, string>(); // module -> how it was reached
const queue = ["mod.ts"];
staticGraph.add("mod.ts");
paths.set("mod.ts", "mod.ts");
while (queue.length > 0) {
  const from = queue.shift()!;
  for (const edge of edges.get(from) ?? []) {
    if (edge.dynamic || edge.typeOnly || staticGraph.has(edge.to)) continue;
    staticGraph.add(edge.to);
    paths.set(edge.to, `${paths.get(from)} -> ${edge.to} (line ${edge.line})`);
    if (edges.has(edge.to)) queue.push(edge.to);
  }
}
rule(
  `the static import graph of mod.ts (${staticGraph.size} modules) holds no src/cli/ and no node: module`,
  [...staticGraph]
    .filter((m) => isCli(m) || m.startsWith("node:"))
    .map((m) => paths.get(m)!),
);
rule(
  "adapters never import src/cli/",
  all.filter((e) => isAdapter(e.from) && isCli(e.to)).map(describe),
);

// Import cycles among src/ modules (Tarjan's strongly connected components).
const nodes = [...edges.keys()].filter((m) => m.startsWith("src/"));
const index = new Map<string, number>();
const lowLink = new Map<string, number>();
const stack: string[] = [];
const onStack = new Set<string>();
const cycles: string[][] = [];
let counter = 0;
function connect(node: string): void {
  index.set(node, counter);
  lowLink.set(node, counter++);
  stack.push(node);
  onStack.add(node);
  for (const edge of edges.get(node) ?? []) {
    if (!edge.to.startsWith("src/")) continue;
    if (!index.has(edge.to)) {
      connect(edge.to);
      lowLink.set(node, Math.min(lowLink.get(node)!, lowLink.get(edge.to)!));
    } else if (onStack.has(edge.to)) {
      lowLink.set(node, Math.min(lowLink.get(node)!, index.get(edge.to)!));
    }
  }
  if (lowLink.get(node) === index.get(node)) {
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    const selfLoop = (edges.get(node) ?? []).some((e) => e.to === node);
    if (component.length > 1 || selfLoop) cycles.push(component.sort());
  }
}
for (const node of nodes) if (!index.has(node)) connect(node);
rule(
  `src/ has no import cycles (${nodes.length} modules, type-only and dynamic imports included)`,
  cycles.flatMap((component) => [
    `cycle: ${component.join(", ")}`,
    ...all.filter((e) => component.includes(e.from) && component.includes(e.to))
      .map((e) => `  ${describe(e)}`),
  ]),
);

if (failures.length > 0) {
  console.error(`check:layout: ${failures.length} rule(s) broken`);
  Deno.exit(1);
}
console.log("check:layout: the layout rules hold");
