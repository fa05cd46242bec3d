/**
 * Transpiles a TypeScript entry point and every relative module it imports to
 * JavaScript that Node 20 runs as ES modules: `.ts` import specifiers become
 * `.js`. Bare specifiers (npm packages) are left alone and resolve through a
 * `node_modules` symlink to the repository's, made beside the output.
 *
 * @module
 */
import ts from "typescript";

/**
 * Transpiles `entry` (a path under `root`) and its relative imports, transitively,
 * into `outDir`, keeping their paths relative to `root`.
 *
 * @param root The repository root.
 * @param entry The entry point, relative to `root`, such as `bench/codec.ts`.
 * @param outDir An empty folder to write into.
 * @returns The path of the entry point's JavaScript.
 */
export async function transpileForNode(
  root: string,
  entry: string,
  outDir: string,
): Promise<string> {
  const pending = [`${root}/${entry}`];
  const done = new Set<string>();
  while (pending.length > 0) {
    const path = pending.pop()!;
    if (done.has(path)) continue;
    done.add(path);
    const source = await Deno.readTextFile(path);
    const dir = path.slice(0, path.lastIndexOf("/"));
    for (const { fileName } of ts.preProcessFile(source, true).importedFiles) {
      if (fileName.startsWith(".") && fileName.endsWith(".ts")) {
        pending.push(new URL(fileName, `file://${dir}/`).pathname);
      }
    }
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: {
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.ESNext,
        rewriteRelativeImportExtensions: true,
        verbatimModuleSyntax: false,
      },
      fileName: path,
    });
    const target = `${outDir}/${
      path.slice(root.length + 1).replace(/\.ts$/, ".js")
    }`;
    await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), {
      recursive: true,
    });
    await Deno.writeTextFile(target, outputText);
  }
  await Deno.writeTextFile(`${outDir}/package.json`, '{ "type": "module" }\n');
  await Deno.symlink(`${root}/node_modules`, `${outDir}/node_modules`);
  return `${outDir}/${entry.replace(/\.ts$/, ".js")}`;
}
