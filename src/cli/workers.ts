/**
 * `serve --workers N`: the primary process. It runs a {@linkcode WorkerPool}
 * of N workers (each a `serve` process with one event loop) sharing the
 * port, serves their summed and per-worker counters on the metrics port, and
 * on SIGINT or SIGTERM has each drain and waits for all of them.
 *
 * @module
 */
import { Server } from "../server.ts";
import { formatMetrics, METRICS_CONTENT_TYPE } from "../metrics.ts";
import type { CliHost, HttpResponse } from "./host.ts";
import { CONTROL_MAX_FRAME } from "./worker_control.ts";
import { WorkerPool } from "./worker_pool.ts";
import {
  drainDelay,
  healthResponse,
  listeningLine,
  maxConnectionsOf,
  NOT_FOUND,
  type Readiness,
  type ServeSettings,
  shutdownSignal,
  startAgent,
  startMetrics,
  statsDocument,
} from "./serve_common.ts";
import type { EventLog } from "./log.ts";

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
  readiness: () => Promise<Readiness>,
): Promise<HttpResponse> {
  const health = await healthResponse(path, readiness);
  if (health !== undefined) return health;
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
  const pool = new WorkerPool(host, log, count, settings.handler);
  const signal = shutdownSignal(host, () => {
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
  let agent: { close(): void } | undefined;
  let draining = false;
  const perWorker = maxConnectionsOf(settings.options);
  // The set is ready while no drain started and at least one running worker
  // is below its own maxConnections; it can take count x maxConnections.
  const readiness = async (): Promise<Readiness> => {
    if (draining) {
      return { draining, full: false, maxConnections: perWorker * count };
    }
    const { workers } = await pool.snapshot();
    return {
      draining,
      full: !workers.some((w) => w.stats.connections < perWorker),
      maxConnections: perWorker * count,
    };
  };
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
      (path) => respond(pool, count, path, readiness),
    );
    agent = await startAgent(host, settings, log, readiness);
  } catch (error) {
    agent?.close();
    await metrics?.close();
    pool.killAll();
    await pool.shutdown(0);
    await control.close();
    signal.unsubscribe();
    throw error;
  }
  await signal.requested;
  draining = true;
  await drainDelay(settings, log);
  log.info(
    "Shutting down: each worker stops accepting, answers the requests it received and closes idle connections with FIN",
    { event: "shutdown", workers: pool.running },
  );
  const clean = await pool.shutdown(settings.options.closeTimeout ?? 10_000);
  agent?.close();
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
  signal.unsubscribe();
  return clean ? 0 : 1;
}
