/**
 * `serve --handler FILE`: an application's own module, imported by the
 * command line. Its default export is a handler function or an application
 * object (`{ handler, zeroCopy, onConnection, onClose, onHandlerError }`);
 * it is checked before the server listens, and any fault is one usage error
 * naming the file (exit code 2).
 *
 * @module
 */
import type { Application } from "../handler.ts";
import type { CliHost } from "./host.ts";
import { UsageError } from "./args.ts";

/** The fields of an application object, each with the type it must have. */
const FIELDS: Record<keyof Application, "function" | "boolean"> = {
  handler: "function",
  zeroCopy: "boolean",
  onConnection: "function",
  onClose: "function",
  onHandlerError: "function",
};

/** A Windows path's drive (`C:`) as one path segment. */
const DRIVE = /^[A-Za-z]:$/;

/**
 * The `file:` URL of `file`, a path resolved against the absolute folder
 * `cwd`. Each segment is percent-encoded, so a name with `#`, `?`, `%` or a
 * space stays one file; `.` and `..` are resolved.
 *
 * @param cwd The folder relative paths start from (the current directory).
 * @param file An absolute or relative path, as a user typed it.
 * @returns The module's URL, for `import()`.
 *
 * @example
 * ```ts
 * import { moduleUrl } from "./handler_module.ts";
 *
 * console.log(moduleUrl("/srv/app", "./kv.ts").href); // "file:///srv/app/kv.ts"
 * ```
 */
export function moduleUrl(cwd: string, file: string): URL {
  const windows = /^[A-Za-z]:[\\/]/.test(cwd);
  const slashes = (path: string) => windows ? path.replaceAll("\\", "/") : path;
  let path = slashes(file);
  if (!path.startsWith("/") && !/^[A-Za-z]:\//.test(path)) {
    path = `${slashes(cwd).replace(/\/$/, "")}/${path}`;
  }
  const encoded = path.split("/").map((segment) =>
    DRIVE.test(segment) ? segment : encodeURIComponent(segment)
  ).join("/");
  return new URL(`file://${encoded.startsWith("/") ? "" : "/"}${encoded}`);
}

/** What a value is, for an error message: "a string", "null", "an array". */
function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  const type = typeof value;
  return type === "undefined"
    ? "undefined"
    : `${/^[aeiou]/.test(type) ? "an" : "a"} ${type}`;
}

/** One line saying why an import failed, with the place of a syntax error. */
function importFailure(error: unknown, url: URL): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (
    code === "ERR_UNKNOWN_FILE_EXTENSION" && /\.[cm]?ts$/.test(url.pathname)
  ) {
    return "this runtime cannot import TypeScript; compile the module to JavaScript, or run it with Deno, Bun or Node 22.18 or later";
  }
  if (!(error instanceof Error)) return String(error);
  const lines = error.message.split("\n");
  // Bun reports a syntax error as a BuildMessage.
  const name = error.name === "BuildMessage" ? "SyntaxError" : error.name;
  const first = /^\w*Error\b/.test(lines[0])
    ? lines[0]
    : `${name}: ${lines[0]}`;
  // Deno names the place in the message, Bun in `position`.
  const place = lines.map((line) => /^\s*at (file:\S+:\d+:\d+)\s*$/.exec(line))
    .find((match) => match !== null)?.[1];
  const position = (error as { position?: Record<string, unknown> }).position;
  const at = place ??
    (typeof position?.file === "string" && typeof position.line === "number"
      ? `${position.file}:${position.line}:${position.column}`
      : undefined);
  return at === undefined ? first : `${first} (at ${at})`;
}

/**
 * Imports the module at `url` and returns its default export as an
 * {@linkcode Application}: a function becomes `{ handler }`, an object is
 * checked field by field (an unknown field is refused, so a misspelt hook
 * does not go unnoticed).
 *
 * @param host Tells whether the file exists.
 * @param url The module, from {@linkcode moduleUrl}.
 * @param shownAs How errors name the module: the path as the user gave it.
 * @returns The application, a new object holding the module's fields.
 * @throws {UsageError} Without the `--help` hint, naming `shownAs`, if the
 * file is missing, its import fails (a syntax error, a TypeScript file on a
 * runtime that cannot load one, an exception at its top level) or its
 * default export has the wrong shape.
 *
 * @example
 * ```ts
 * import { loadHandlerModule, moduleUrl } from "./handler_module.ts";
 * import type { CliHost } from "./host.ts";
 *
 * async function load(host: CliHost, file: string) {
 *   const { handler } = await loadHandlerModule(host, moduleUrl(host.cwd(), file), file);
 *   return handler;
 * }
 * ```
 */
export async function loadHandlerModule(
  host: Pick<CliHost, "isFile">,
  url: URL,
  shownAs: string,
): Promise<Application> {
  const fail = (detail: string) =>
    new UsageError(`Cannot load handler module ${shownAs}: ${detail}`, {
      hint: false,
    });
  const path = decodeURIComponent(url.pathname);
  let exists: boolean;
  try {
    exists = await host.isFile(url);
  } catch (error) {
    throw fail(importFailure(error, url));
  }
  if (!exists) throw fail(`no file at ${path}`);
  let namespace: Record<string, unknown>;
  try {
    namespace = await import(url.href);
  } catch (error) {
    throw fail(importFailure(error, url));
  }
  const exported = namespace.default;
  if (typeof exported === "function") {
    return { handler: exported as Application["handler"] };
  }
  const expected =
    "a handler function or an application object ({ handler, onConnection, onClose, onHandlerError, zeroCopy })";
  if (!("default" in namespace)) {
    throw fail(`it has no default export; export default ${expected}`);
  }
  if (
    typeof exported !== "object" || exported === null || Array.isArray(exported)
  ) {
    throw fail(`its default export is ${kindOf(exported)}, not ${expected}`);
  }
  const fields = exported as Record<string, unknown>;
  for (const name of Object.keys(fields)) {
    if (!Object.hasOwn(FIELDS, name)) {
      throw fail(
        `its default export has an unknown field '${name}'; an application has ${
          Object.keys(FIELDS).join(", ")
        }`,
      );
    }
  }
  if (typeof fields.handler !== "function") {
    throw fail(
      `its default export's handler is ${
        kindOf(fields.handler)
      }, not a function`,
    );
  }
  const application: Record<string, unknown> = {};
  for (const [name, type] of Object.entries(FIELDS)) {
    const value = fields[name];
    if (value === undefined) continue;
    const actual: string = typeof value;
    if (actual !== type) {
      throw fail(
        `its default export's ${name} is ${kindOf(value)}, not a ${type}`,
      );
    }
    application[name] = value;
  }
  return application as unknown as Application;
}
