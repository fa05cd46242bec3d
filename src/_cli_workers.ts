/**
 * `serve --workers N`: the primary process. It starts N workers (each a
 * `serve` process with one event loop) that share the port, restarts one
 * that dies, sums their counters for the metrics port, and on SIGINT or
 * SIGTERM has each drain and waits for all of them.
 *
 * @module
 */
import { handlerTimeStats, Server, type ServerStats } from "./server.ts";
import type { RequestContext } from "./server.ts";
import { LatencyHistogram } from "./latency_histogram.ts";
import { formatMetrics, METRICS_CONTENT_TYPE, sumStats } from "./metrics.ts";
import type { CliHost, HttpResponse, WorkerProcess } from "./cli.ts";
import { ProtocolError } from "./errors.ts";
import {
  CONTROL_MAX_FRAME,
  decodeMessage,
  encodeMessage,
  formatRole,
  type PrimaryCommand,
  WORKER_ROLE_VARIABLE,
  type WorkerMessage,
  type WorkerReport,
} from "./_worker_control.ts";
import {
  type EventLog,
  listeningLine,
  NOT_FOUND,
  onSignals,
  type ServeSettings,
  startMetrics,
  statsDocument,
} from "./_cli_serve_common.ts";

/** A worker must say hello (it is listening) within this. */
const START_TIMEOUT_MS = 60_000;
/** A worker that does not answer a stats query in time is reported as of its last answer. */
const STATS_TIMEOUT_MS = 2_000;
/** Restart delays double from the first to the last after each quick death. */
const RESTART_FIRST_MS = 250;
const RESTART_MAX_MS = 10_000;
/** A worker that ran this long before dying is restarted after the first delay again. */
const STABLE_MS = 10_000;
/** On shutdown, workers still running this long after the drain timeout are killed. */
const KILL_GRACE_MS = 5_000;

interface Slot {
  readonly id: number;
  process: WorkerProcess | null;
  exited: Promise<unknown>;
  /** Its control connection, once it said hello. */
  connectionId: number;
  /** The pending control request, waiting for a command. */
  parked: ((command: PrimaryCommand) => void) | null;
  commands: PrimaryCommand[];
  query: Promise<WorkerReport | null> | null;
  answer: ((report: WorkerReport) => void) | null;
  last: WorkerReport | null;
  onHello: ((addr: { hostname: string; port: number }) => void) | null;
  onFailed: ((error: Error) => void) | null;
  startedAt: number;
  quickDeaths: number;
  restartTimer: ReturnType<typeof setTimeout> | null;
}

const describeExit = (exit: { code: number | null; signal: string | null }) =>
  exit.signal === null ? `code ${exit.code}` : `signal ${exit.signal}`;

/** The primary's workers and its end of their control channel. */
class WorkerPool {
  readonly #host: CliHost;
  readonly #log: EventLog;
  readonly #token: string;
  readonly #slots: Slot[];
  readonly #byConnection = new Map<number, Slot>();
  #controlPort = 0;
  /** The port every worker binds with reusePort, once the first bound it. */
  #port: number | null = null;
  #started = false;
  #stopping = false;
  /** Counters of workers that have exited, as of their last report. */
  #retired: ServerStats;
  readonly #retiredTime = new LatencyHistogram();
  restarts = 0;

  constructor(host: CliHost, log: EventLog, count: number) {
    this.#host = host;
    this.#log = log;
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    this.#token = Array.from(bytes, (b) => b.toString(16).padStart(2, "0"))
      .join("");
    this.#slots = Array.from({ length: count }, (_, i) => ({
      id: i + 1,
      process: null,
      exited: Promise.resolve(),
      connectionId: -1,
      parked: null,
      commands: [],
      query: null,
      answer: null,
      last: null,
      onHello: null,
      onFailed: null,
      startedAt: 0,
      quickDeaths: 0,
      restartTimer: null,
    }));
    const zero = new Server().stats();
    for (const key of Object.keys(zero) as Array<keyof ServerStats>) {
      zero[key] = 0;
    }
    this.#retired = zero;
  }

  /** The control server's handler: one request per worker message. */
  readonly handle = (
    request: Uint8Array,
    context: RequestContext,
  ): Promise<Uint8Array> | Uint8Array => {
    const message = decodeMessage<WorkerMessage>(request);
    let slot = this.#byConnection.get(context.connectionId);
    if (slot === undefined) {
      slot = message.type === "hello" && message.token === this.#token
        ? this.#slots[message.id - 1]
        : undefined;
      if (
        slot === undefined || message.type !== "hello" ||
        slot.process === null || slot.connectionId !== -1
      ) {
        throw new ProtocolError(
          "Cannot accept control connection: it did not start with the hello of a worker being started",
        );
      }
      slot.connectionId = context.connectionId;
      this.#byConnection.set(context.connectionId, slot);
      slot.onHello?.({ hostname: message.hostname, port: message.port });
    } else if (message.type === "stats") {
      slot.last = { stats: message.stats, handlerTime: message.handlerTime };
      slot.answer?.(slot.last);
    } else if (message.type === "stopped") {
      slot.last = { stats: message.stats, handlerTime: message.handlerTime };
      this.#send(slot, { type: "bye" });
      return encodeMessage({ type: "bye" });
    }
    const queued = slot.commands.shift();
    if (queued !== undefined) return encodeMessage(queued);
    return new Promise((resolve) => {
      slot.parked = (command) => resolve(encodeMessage(command));
    });
  };

  #send(slot: Slot, command: PrimaryCommand): void {
    const parked = slot.parked;
    if (parked !== null) {
      slot.parked = null;
      parked(command);
    } else if (command.type !== "bye") {
      slot.commands.push(command);
    }
  }

  /**
   * Starts every worker: the first alone (its port is everyone's when they
   * bind with reusePort), then the rest together.
   *
   * @returns The address they serve.
   * @throws If a worker exits or stays silent before it is listening.
   */
  async start(
    controlPort: number,
  ): Promise<{ hostname: string; port: number }> {
    this.#controlPort = controlPort;
    const addr = await this.#spawn(this.#slots[0]);
    if (this.#host.workers!.sharing === "reusePort") this.#port = addr.port;
    await Promise.all(this.#slots.slice(1).map((slot) => this.#spawn(slot)));
    this.#started = true;
    return addr;
  }

  /** Spawns the worker of `slot`; resolves with its address once it says hello. */
  #spawn(slot: Slot): Promise<{ hostname: string; port: number }> {
    const env = {
      [WORKER_ROLE_VARIABLE]: formatRole({
        id: slot.id,
        control: this.#controlPort,
        token: this.#token,
        port: this.#port,
      }),
    };
    const child = this.#host.workers!.spawn(this.#host.args, env);
    slot.process = child;
    slot.startedAt = Date.now();
    const hello = new Promise<{ hostname: string; port: number }>((
      resolve,
      reject,
    ) => {
      slot.onHello = resolve;
      slot.onFailed = reject;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), START_TIMEOUT_MS);
    hello.then(() => clearTimeout(timer), () => clearTimeout(timer));
    slot.exited = child.exited.then((exit) => this.#exited(slot, child, exit));
    return hello;
  }

  #exited(
    slot: Slot,
    child: WorkerProcess,
    exit: { code: number | null; signal: string | null },
  ): void {
    const wasServing = slot.connectionId !== -1;
    const failed = slot.onFailed;
    this.#byConnection.delete(slot.connectionId);
    slot.process = null;
    slot.connectionId = -1;
    slot.onHello = slot.onFailed = null;
    slot.parked?.({ type: "bye" });
    slot.parked = null;
    slot.commands = [];
    slot.answer = null;
    if (slot.last !== null) {
      const { stats, handlerTime } = slot.last;
      this.#retired = sumStats([
        this.#retired,
        { ...stats, connections: 0, bufferedBytes: 0 },
      ]);
      this.#retiredTime.merge(LatencyHistogram.fromJSON(handlerTime));
      slot.last = null;
    }
    if (!wasServing) {
      failed?.(
        new Error(
          `Cannot start worker ${slot.id}: it exited with ${
            describeExit(exit)
          } before listening`,
        ),
      );
    }
    if (this.#stopping || !this.#started) return;
    const ranFor = Date.now() - slot.startedAt;
    slot.quickDeaths = ranFor >= STABLE_MS ? 1 : slot.quickDeaths + 1;
    const delay = Math.min(
      RESTART_MAX_MS,
      RESTART_FIRST_MS * 2 ** (slot.quickDeaths - 1),
    );
    this.#log.warn(
      `Worker ${slot.id} (pid ${child.pid}) exited with ${
        describeExit(exit)
      }; restarting it in ${delay} ms`,
      {
        event: "worker_exited",
        worker: slot.id,
        pid: child.pid,
        code: exit.code ?? undefined,
        signal: exit.signal ?? undefined,
      },
    );
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = null;
      if (this.#stopping) return;
      this.restarts++;
      this.#spawn(slot).then(
        () =>
          this.#log.info(
            `Worker ${slot.id} restarted (pid ${slot.process?.pid})`,
            {
              event: "worker_restarted",
              worker: slot.id,
              pid: slot.process?.pid,
            },
          ),
        () => {}, // its exit schedules the next attempt
      );
    }, delay);
  }

  /** Asks a serving worker for its report; its last one if it is slow. */
  #query(slot: Slot): Promise<WorkerReport | null> {
    if (slot.connectionId === -1) return Promise.resolve(slot.last);
    if (slot.query === null) {
      let timer: ReturnType<typeof setTimeout>;
      slot.query = new Promise<WorkerReport | null>((resolve) => {
        slot.answer = resolve;
        timer = setTimeout(() => resolve(slot.last), STATS_TIMEOUT_MS);
      }).finally(() => {
        clearTimeout(timer);
        slot.query = slot.answer = null;
      });
      this.#send(slot, { type: "stats" });
    }
    return slot.query;
  }

  /** Each serving worker's report, and their sum with exited workers' counters. */
  async snapshot() {
    const reports = await Promise.all(
      this.#slots.map(async (slot) => ({
        slot,
        pid: slot.process?.pid ?? 0,
        report: await this.#query(slot),
      })),
    );
    const workers = [];
    const time = new LatencyHistogram();
    time.merge(this.#retiredTime);
    const all = [this.#retired];
    for (const { slot, pid, report } of reports) {
      if (report === null || slot.process === null) continue;
      const histogram = LatencyHistogram.fromJSON(report.handlerTime);
      time.merge(histogram);
      all.push(report.stats);
      workers.push({
        id: slot.id,
        pid,
        stats: report.stats,
        handlerTime: handlerTimeStats(histogram),
      });
    }
    return {
      total: { stats: sumStats(all), handlerTime: handlerTimeStats(time) },
      workers,
    };
  }

  /** Workers running now. */
  get running(): number {
    return this.#slots.filter((slot) => slot.process !== null).length;
  }

  /**
   * Has every worker drain and exit, killing those still running after
   * `drainTimeout` plus a grace period.
   *
   * @returns Whether every worker exited with code 0.
   */
  async shutdown(drainTimeout: number): Promise<boolean> {
    this.#stopping = true;
    let clean = true;
    const exits = this.#slots.map((slot) => {
      if (slot.restartTimer !== null) clearTimeout(slot.restartTimer);
      const child = slot.process;
      if (child === null) return Promise.resolve();
      if (slot.connectionId === -1) child.kill("SIGTERM");
      else this.#send(slot, { type: "shutdown" });
      return child.exited.then((exit) => {
        if (exit.code !== 0) {
          clean = false;
          this.#log.warn(
            `Worker ${slot.id} (pid ${child.pid}) exited with ${
              describeExit(exit)
            }`,
            { event: "worker_exited", worker: slot.id, pid: child.pid },
          );
        }
      });
    });
    const killer = setTimeout(
      () => this.killAll(),
      drainTimeout + KILL_GRACE_MS,
    );
    await Promise.all(exits);
    await Promise.all(this.#slots.map((slot) => slot.exited));
    clearTimeout(killer);
    return clean;
  }

  /** Kills every worker at once. */
  killAll(): void {
    this.#stopping = true;
    for (const slot of this.#slots) {
      if (slot.restartTimer !== null) clearTimeout(slot.restartTimer);
      slot.process?.kill("SIGKILL");
    }
  }
}

/** The `framewire_workers` gauges, after the summed counters. */
function workerMetrics(pool: WorkerPool, configured: number): string {
  return [
    "# HELP framewire_workers Worker processes running now.",
    "# TYPE framewire_workers gauge",
    `framewire_workers ${pool.running}`,
    "# HELP framewire_workers_configured Worker processes asked for (--workers).",
    "# TYPE framewire_workers_configured gauge",
    `framewire_workers_configured ${configured}`,
    "# HELP framewire_worker_restarts_total Workers restarted after dying.",
    "# TYPE framewire_worker_restarts_total counter",
    `framewire_worker_restarts_total ${pool.restarts}`,
    "",
  ].join("\n");
}

/** The metrics port of the primary: summed, per worker, and JSON. */
async function respond(
  pool: WorkerPool,
  configured: number,
  path: string,
): Promise<HttpResponse> {
  const perWorker = /^\/workers\/(\d+)\/metrics$/.exec(path);
  if (path !== "/metrics" && path !== "/stats" && perWorker === null) {
    return NOT_FOUND;
  }
  const snapshot = await pool.snapshot();
  if (path === "/stats") return statsDocument(snapshot.total, snapshot.workers);
  if (perWorker !== null) {
    const worker = snapshot.workers.find((w) => w.id === Number(perWorker[1]));
    if (worker === undefined) return NOT_FOUND;
    return {
      status: 200,
      contentType: METRICS_CONTENT_TYPE,
      body: formatMetrics(worker.stats, worker.handlerTime),
    };
  }
  return {
    status: 200,
    contentType: METRICS_CONTENT_TYPE,
    body: formatMetrics(snapshot.total.stats, snapshot.total.handlerTime) +
      workerMetrics(pool, configured),
  };
}

/** Runs `settings.workers` workers until a signal; returns the exit code. */
export async function servePrimary(
  host: CliHost,
  settings: ServeSettings,
  log: EventLog,
): Promise<number> {
  if (host.workers === undefined) {
    throw new Error(
      "Cannot serve with --workers: this runtime's command line cannot start processes",
    );
  }
  const count = settings.workers;
  const pool = new WorkerPool(host, log, count);
  let shutdown!: () => void;
  const shutdownRequested = new Promise<void>((
    resolve,
  ) => (shutdown = resolve));
  const unsubscribe = onSignals(host, () => shutdown(), () => {
    host.printError("Second signal: killing the workers and exiting");
    pool.killAll();
    host.exit(1);
  });
  const control = new Server({
    handler: pool.handle,
    maxFrameSize: CONTROL_MAX_FRAME,
    idleTimeout: 0,
    onError: () => {}, // a stranger's connection is closed; workers never err
  });
  let metrics;
  try {
    const { port: controlPort } = await control.listen(host.network, {
      host: "127.0.0.1",
      port: 0,
    });
    const { hostname, port } = await pool.start(controlPort);
    const addr = { transport: "tcp" as const, hostname, port };
    log.info(`${listeningLine(addr, settings.listen)} with ${count} workers`, {
      event: "listening",
      address: hostname,
      port,
      workers: count,
    });
    metrics = await startMetrics(
      host,
      settings,
      log,
      (path) => respond(pool, count, path),
    );
  } catch (error) {
    pool.killAll();
    await pool.shutdown(0);
    await control.close();
    unsubscribe();
    throw error;
  }
  await shutdownRequested;
  log.info("Shutting down: each worker answers the requests it received", {
    event: "shutdown",
    workers: pool.running,
  });
  const clean = await pool.shutdown(settings.options.closeTimeout ?? 10_000);
  await metrics?.close();
  await control.close();
  const { total } = await pool.snapshot();
  log.info(
    `Server stopped: ${total.stats.totalConnections} connections, ${total.stats.framesIn} requests served by ${count} workers`,
    {
      event: "stopped",
      connections: total.stats.totalConnections,
      requests: total.stats.framesIn,
      workers: count,
    },
  );
  unsubscribe();
  return clean ? 0 : 1;
}
