// Every name the docs present as framewire's API is exported by the module
// they name it from. README.md and docs/*.md are read by three rules:
//
// 1. Imports: each name of an `import { ... }` or `import type { ... }` from
//    "framewire" or a subpath (in code blocks and inline code), and of a
//    `const { ... } = require("framewire...")`, comes from that module.
// 2. Tables: a row whose first cell is one backticked name and another cell
//    a backticked specifier (`framewire/node`) names an export of it.
// 3. docs/api.md, which says everything on it is exported: an inline code
//    span outside code blocks that starts with a name the source declares
//    with `export` (`Server`, `encodeFrame(payload)`, `new Client(t)`,
//    `Client.fromStream(d)`), or that is one PascalCase name (`ConnectError`,
//    `Server(options)`, `Handler<State>`) other than a global of the runtime,
//    one of OUTSIDE_NAMES or a type parameter of the source (`State`), names
//    an export of some public module.
//
// Values are checked on the imported modules; types by scanning each
// module's export graph (`export *`, `export { ... } from`, declarations) in
// the source, a scan checked against the modules' run-time exports. The
// public modules are the `framewire` specifiers of deno.json's `imports`.
// Runs under deno test, bun test and, compiled, node --test (the npm build),
// reading the docs and sources at the repository's root.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as framewire from "../mod.ts";
import * as nodeAdapter from "../src/adapters/node.ts";
import * as bunAdapter from "../src/adapters/bun.ts";
import * as denoAdapter from "../src/adapters/deno.ts";
import * as cli from "../src/cli/mod.ts";
import { sourceExtension } from "./_runtime.ts";

/** Each public module as imported here, by the specifier the docs use. */
const MODULES: Record<string, object> = {
  "framewire": framewire,
  "framewire/node": nodeAdapter,
  "framewire/bun": bunAdapter,
  "framewire/deno": denoAdapter,
  "framewire/cli": cli,
};

/** The repository: this file runs from tests/, or compiled from npm/esm/tests/. */
const root = fileURLToPath(
  new URL(sourceExtension === ".js" ? "../../../" : "../", import.meta.url),
);
const read = (path: string) => readFileSync(`${root}${path}`, "utf8");

/** deno.json's `imports`: each public specifier's source file. */
const MODULE_FILES: Record<string, string> = Object.fromEntries(
  Object.entries(
    JSON.parse(read("deno.json")).imports as Record<string, string>,
  )
    .filter(([name]) => name === "framewire" || name.startsWith("framewire/"))
    .map(([name, path]) => [name, path.replace(/^\.\//, "")]),
);

type Kind = "value" | "type";
const DECLARATION =
  /^export\s+(?:declare\s+)?(?:async\s+)?(?:abstract\s+)?(function\*?|class|interface|type|const|let|var|enum)\s+([A-Za-z_$][\w$]*)/gm;

/** Drops comments, so that the examples of doc comments are not read as code. */
function code(file: string): string {
  return read(file).replace(/\/\*[\s\S]*?\*\//g, "").replace(
    /^\s*\/\/.*$/gm,
    "",
  );
}

const resolve = (from: string, specifier: string) =>
  new URL(specifier, `file:///${from}`).pathname.slice(1);

const graphs = new Map<string, Map<string, Kind>>();

/** The names `file` exports, following its re-exports, with their kind. */
function exportsOf(file: string): Map<string, Kind> {
  const known = graphs.get(file);
  if (known !== undefined) return known;
  const names = new Map<string, Kind>();
  graphs.set(file, names);
  const text = code(file);
  for (const [, keyword, name] of text.matchAll(DECLARATION)) {
    names.set(
      name,
      keyword === "interface" || keyword === "type" ? "type" : "value",
    );
  }
  for (
    const [, typeOnly, from] of text.matchAll(
      /^export\s+(type\s+)?\*\s+from\s+["']([^"']+)["']/gm,
    )
  ) {
    for (const [name, kind] of exportsOf(resolve(file, from))) {
      names.set(name, typeOnly ? "type" : kind);
    }
  }
  for (
    const [, name] of text.matchAll(
      /^export\s+\*\s+as\s+([A-Za-z_$][\w$]*)\s+from/gm,
    )
  ) names.set(name, "value");
  for (
    const [, allTypes, list, from] of text.matchAll(
      /^export\s+(type\s+)?\{([^}]*)\}(?:\s*from\s+["']([^"']+)["'])?/gm,
    )
  ) {
    const source = from === undefined ? null : exportsOf(resolve(file, from));
    for (const item of list.split(",").map((s) => s.trim()).filter(Boolean)) {
      const parts = /^(type\s+)?([\w$]+)(?:\s+as\s+([\w$]+))?$/.exec(item);
      if (parts === null) throw new Error(`Cannot read export: '${item}'`);
      const [, typeOnly, local, exported = local] = parts;
      const localType = new RegExp(`(?:interface|type)\\s+${local}\\b`);
      names.set(
        exported,
        allTypes || typeOnly
          ? "type"
          : source?.get(local) ?? (localType.test(text) ? "type" : "value"),
      );
    }
  }
  return names;
}

/** Whether `module` exports `name`: a value at run time, or a type in its source. */
function isExported(module: string, name: string): boolean {
  return name in MODULES[module] ||
    exportsOf(MODULE_FILES[module]).get(name) === "type";
}

/** A name the docs present as API, where, and from which module (null: any public one). */
interface Mention {
  where: string;
  name: string;
  module: string | null;
}

const DOCS = [
  "README.md",
  ...readdirSync(`${root}docs`).filter((f) => f.endsWith(".md")).sort()
    .map((f) => `docs/${f}`),
];
const SPECIFIER = `["'](framewire(?:/[\\w-]+)?)["']`;
const lineOf = (text: string, index: number) =>
  text.slice(0, index).split("\n").length;

/** Rules 1 and 2: imports, requires and table rows that name a module. */
function namesWithModules(doc: string): Mention[] {
  const text = read(doc);
  const mentions: Mention[] = [];
  const patterns = [
    new RegExp(
      `import\\s+(?:type\\s+)?(?:[\\w$]+\\s*,\\s*)?\\{([^}]*)\\}\\s*from\\s*${SPECIFIER}`,
      "g",
    ),
    new RegExp(`\\{([^}]*)\\}\\s*=\\s*require\\(\\s*${SPECIFIER}\\s*\\)`, "g"),
  ];
  for (const pattern of patterns) {
    for (const match of text.matchAll(pattern)) {
      for (const item of match[1].split(",").map((s) => s.trim())) {
        const name = /^(?:type\s+)?([A-Za-z_$][\w$]*)/.exec(item)?.[1];
        if (name === undefined) continue;
        const where = `${doc}:${lineOf(text, match.index)}`;
        mentions.push({ where, name, module: match[2] });
      }
    }
  }
  text.split("\n").forEach((line, i) => {
    if (!line.startsWith("|")) return;
    const cells = line.split("|").slice(1, -1).map((cell) => cell.trim());
    const name = /^`([A-Za-z_$][\w$]*)`$/.exec(cells[0] ?? "")?.[1];
    const module = cells.map((cell) =>
      /^`(framewire(?:\/[\w-]+)?)`$/.exec(cell)
    )
      .find((m) => m !== null)?.[1];
    if (name !== undefined && module !== undefined) {
      mentions.push({ where: `${doc}:${i + 1}`, name, module });
    }
  });
  return mentions;
}

/**
 * The names src/ declares with `export`, and the names of its type
 * parameters (`State` of `Handler<State = ...>`), which are no exports.
 */
function sourceNames(): { declared: Set<string>; typeParameters: Set<string> } {
  const declared = new Set<string>();
  const typeParameters = new Set<string>();
  const visit = (dir: string) => {
    for (const entry of readdirSync(`${root}${dir}`, { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) visit(path);
      else if (entry.name.endsWith(".ts")) {
        const text = code(path);
        for (const [, , name] of text.matchAll(DECLARATION)) declared.add(name);
        for (
          const [, name] of text.matchAll(
            /[<,]\s*([A-Z][\w$]*)\s*(?:extends\b|=[^=>])/g,
          )
        ) typeParameters.add(name);
      }
    }
  };
  visit("src");
  return { declared, typeParameters };
}

/**
 * PascalCase names of other software that docs/api.md may write as code,
 * including web globals that some supported runtimes lack (Node 20 has no
 * global `WebSocket`).
 */
const OUTSIDE_NAMES = new Set(["Buffer", "WebTransport", "WebSocket"]);

/** Rule 3: the code spans of docs/api.md that name one of the source's exports. */
function apiPageNames(doc: string): Mention[] {
  const { declared, typeParameters } = sourceNames();
  const pascalCase = (span: string) => {
    const name = /^(?:new\s+)?([A-Z][A-Za-z0-9]*)(?:\(.*\)|<.*>)?$/.exec(span)
      ?.[1];
    return name !== undefined && /[a-z]/.test(name) &&
        !(name in globalThis) && !OUTSIDE_NAMES.has(name) &&
        !typeParameters.has(name)
      ? name
      : undefined;
  };
  const mentions: Mention[] = [];
  let fenced = false;
  read(doc).split("\n").forEach((line, i) => {
    if (line.startsWith("```")) fenced = !fenced;
    if (fenced || line.startsWith("```")) return;
    for (const [, span] of line.matchAll(/`([^`]+)`/g)) {
      const lead = /^(?:new\s+|await\s+)?([A-Za-z_$][\w$]*)/.exec(span)?.[1];
      const name = lead !== undefined && declared.has(lead)
        ? lead
        : pascalCase(span);
      if (name !== undefined) {
        mentions.push({ where: `${doc}:${i + 1}`, name, module: null });
      }
    }
  });
  return mentions;
}

/** The mentions no module exports, one line each. */
function failures(mentions: Mention[]): string[] {
  return mentions.flatMap(({ where, name, module }) => {
    if (module === null) {
      return Object.keys(MODULES).some((m) => isExported(m, name))
        ? []
        : [`${where}: ${name} is exported by no public module`];
    }
    if (!(module in MODULES)) return [`${where}: no module ${module}`];
    return isExported(module, name) ? [] : [
      `${where}: ${name} is not exported by ${module} (${
        MODULE_FILES[module]
      })`,
    ];
  });
}

test("documented names: deno.json's framewire specifiers are the modules checked here", () => {
  assert.deepEqual(
    Object.keys(MODULE_FILES).sort(),
    Object.keys(MODULES).sort(),
  );
});

test("documented names: the export scan of each module agrees with its run-time exports", () => {
  for (const [module, namespace] of Object.entries(MODULES)) {
    const scanned = exportsOf(MODULE_FILES[module]);
    const values = [...scanned].filter(([, kind]) => kind === "value")
      .map(([name]) => name).sort();
    assert.deepEqual(values, Object.keys(namespace).sort(), module);
  }
  assert.equal(exportsOf(MODULE_FILES["framewire"]).get("Handler"), "type");
  assert.equal(
    exportsOf(MODULE_FILES["framewire/cli"]).get("LoadTestResult"),
    "type",
  );
});

test("documented names: every name imported from framewire in README.md and docs/ is exported there", () => {
  const mentions = DOCS.flatMap(namesWithModules);
  assert.ok(mentions.length > 30, `only ${mentions.length} names found`);
  assert.deepEqual(failures(mentions), []);
});

test("documented names: every API name on docs/api.md is exported by a public module", () => {
  const mentions = apiPageNames("docs/api.md");
  assert.ok(mentions.length > 30, `only ${mentions.length} names found`);
  assert.deepEqual(failures(mentions), []);
});
