/**
 * The workers of `serve --workers`, seen from the primary: it starts them
 * (the first alone, to learn the port), restarts one that dies with a
 * growing delay, asks them for their counters over the control channel and
 * sums them, and has them all drain on shutdown.
 *
 * @module
 */
import { Server } from "../server.ts";
import type { RequestContext } from "../handler.ts";
import {
  type HandlerTimeStats,
  handlerTimeStats,
  type ServerStats,
} from "../server_stats.ts";
import { LatencyHistogram } from "../latency_histogram.ts";
import { sumStats } from "../metrics.ts";
import type { CliHost, WorkerProcess } from "./host.ts";
import { ProtocolError } from "../errors.ts";
import {
  decodeMessage,
  formatRole,
  WORKER_ROLE_VARIABLE,
  type WorkerMessage,
} from "./worker_control.ts";
import { WorkerChannel } from "./worker_channel.ts";
import type { EventLog } from "./log.ts";

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
  /** Its control connection's id and channel, once it said hello. */
  connectionId: number;
  channel: WorkerChannel | null;
  onHello: ((addr: { hostname: string; port: number }) => void) | null;
  onFailed: ((error: Error) => void) | null;
  startedAt: number;
  quickDeaths: number;
  restartTimer: ReturnType<typeof setTimeout> | null;
}

const describeExit = (exit: { code: number | null; signal: string | null }) =>
  exit.signal === null ? `code ${exit.code}` : `signal ${exit.signal}`;

/** A snapshot of every worker's counters, summed and one by one. */
export interface PoolSnapshot {
  total: { stats: ServerStats; handlerTime: HandlerTimeStats };
  workers: Array<{
    id: number;
    pid: number;
    stats: ServerStats;
    handlerTime: HandlerTimeStats;
  }>;
}

/**
 * The primary's workers: starting, restarting and stopping them, and its
 * end of their control channel (`handle` is the control server's handler).
 *
 * @example
 * ```ts
 * import { Server } from "../server.ts";
 * import type { CliHost } from "./host.ts";
 * import type { EventLog } from "./log.ts";
 * import { WorkerPool } from "./worker_pool.ts";
 *
 * async function startWorkers(host: CliHost, log: EventLog) {
 *   const pool = new WorkerPool(host, log, 2);
 *   const control = new Server({ handler: pool.handle, idleTimeout: 0 });
 *   const { port } = await control.listen(host.network, { host: "127.0.0.1", port: 0 });
 *   await pool.start(port);
 * }
 * ```
 */
export class WorkerPool {
  readonly #host: CliHost;
  readonly #log: EventLog;
  readonly #token: string;
  readonly #handler: string | undefined;
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

  /**
   * @param handler The `file:` URL of the `--handler` module each worker
   * imports, if any.
   */
  constructor(
    host: CliHost,
    log: EventLog,
    count: number,
    handler?: string,
  ) {
    this.#host = host;
    this.#log = log;
    this.#handler = handler;
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    this.#token = Array.from(bytes, (b) => b.toString(16).padStart(2, "0"))
      .join("");
    this.#slots = Array.from({ length: count }, (_, i) => ({
      id: i + 1,
      process: null,
      exited: Promise.resolve(),
      connectionId: -1,
      channel: null,
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
    const channel = this.#byConnection.get(context.connectionId)?.channel;
    if (channel === null || channel === undefined) {
      return this.#hello(message, context.connectionId);
    }
    if (message.type === "stats" || message.type === "stopped") {
      channel.reported({
        stats: message.stats,
        handlerTime: message.handlerTime,
      });
    }
    if (message.type === "stopped") channel.end();
    return channel.next();
  };

  /** A new control connection: its first message must be a worker's hello. */
  #hello(
    message: WorkerMessage,
    connectionId: number,
  ): Uint8Array | Promise<Uint8Array> {
    const slot = message.type === "hello" && message.token === this.#token
      ? this.#slots[message.id - 1]
      : undefined;
    if (
      slot === undefined || message.type !== "hello" ||
      slot.process === null || slot.channel !== null
    ) {
      throw new ProtocolError(
        "Cannot accept control connection: it did not start with the hello of a worker being started",
      );
    }
    slot.connectionId = connectionId;
    slot.channel = new WorkerChannel();
    this.#byConnection.set(connectionId, slot);
    slot.onHello?.({ hostname: message.hostname, port: message.port });
    return slot.channel.next();
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
        handler: this.#handler,
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
    const channel = slot.channel;
    const failed = slot.onFailed;
    this.#byConnection.delete(slot.connectionId);
    slot.process = null;
    slot.connectionId = -1;
    slot.channel = null;
    slot.onHello = slot.onFailed = null;
    channel?.end();
    if (channel?.last) {
      const { stats, handlerTime } = channel.last;
      this.#retired = sumStats([
        this.#retired,
        { ...stats, connections: 0, bufferedBytes: 0 },
      ]);
      this.#retiredTime.merge(LatencyHistogram.fromJSON(handlerTime));
    }
    if (channel === null) {
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

  /** Each serving worker's report, and their sum with exited workers' counters. */
  async snapshot(): Promise<PoolSnapshot> {
    const reports = await Promise.all(
      this.#slots.map(async (slot) => ({
        slot,
        pid: slot.process?.pid ?? 0,
        report: await (slot.channel?.query(STATS_TIMEOUT_MS) ?? null),
      })),
    );
    const workers: PoolSnapshot["workers"] = [];
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
      if (slot.channel === null) child.kill("SIGTERM");
      else slot.channel.send({ type: "shutdown" });
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
