/**
 * The public API of framewire's program, `framewire/cli` (`./cli` in
 * `deno.json`): the pieces of the command line meant to be used from code.
 * The library, `framewire`, exports none of them.
 *
 * - {@linkcode runLoadTest}, the load tester behind `bench`, with its
 *   options and result types.
 * - {@linkcode EventLog}, the event log of `serve`: text or JSON lines,
 *   filtered by level, with an `onError` for a server.
 *
 * The commands themselves run as a program: `deno run -A mod.ts`,
 * `bun run src/bun_main.ts` or the npm package's `framewire` bin. The
 * function behind them, `runCli()`, is not exported: it needs the program's
 * contract with a runtime (`CliHost`), which each runtime implements in
 * `src/cli/hosts/` with that runtime's own APIs.
 *
 * This module loads no `node:` module and no runtime API; pass
 * `runLoadTest()` an adapter (`defaultNetwork()`, or `nodeNetwork` from
 * `framewire/node`, ...).
 *
 * @example Load-test an echo server for one second
 * ```ts
 * import { defaultNetwork, serve } from "../../mod.ts";
 * import { runLoadTest } from "./mod.ts";
 *
 * await using server = await serve({ host: "127.0.0.1", port: 0 });
 * const result = await runLoadTest({
 *   network: await defaultNetwork(),
 *   port: server.addr!.port,
 *   connections: 4,
 *   pipeline: 16,
 *   duration: 1,
 *   warmup: 0,
 *   verify: true,
 * });
 * console.log(result.errorCount); // 0
 * ```
 *
 * @example Log a server's closed connections as JSON lines
 * ```ts
 * import { serve } from "../../mod.ts";
 * import { EventLog } from "./mod.ts";
 *
 * const log = new EventLog(
 *   { print: console.log, printError: console.error },
 *   { format: "json", level: "warn" },
 * );
 * await using server = await serve({
 *   host: "127.0.0.1",
 *   port: 0,
 *   onError: log.connectionClosed,
 * });
 * log.warn("listening", { port: server.addr!.port }); // {"time":...,"level":"warn","msg":"listening","port":...}
 * ```
 *
 * @module
 */
export {
  type LoadTestErrors,
  type LoadTestOptions,
  type LoadTestProgress,
  type LoadTestResult,
  runLoadTest,
} from "./load_tester.ts";
export { EventLog, type LogFormat } from "./log.ts";
export {
  LOG_LEVELS,
  type LogEvent,
  type LogFields,
  type LogLevel,
} from "../_log_format.ts";
