/**
 * `serve` as one worker of `serve --workers`: it binds the shared port,
 * reports to its primary over the control channel, and drains on the
 * primary's word, on a signal, or when the primary is gone.
 *
 * @module
 */
import { Server } from "../server.ts";
import type { CliHost } from "./host.ts";
import type { ListenOptions } from "../transport.ts";
import {
  WorkerLink,
  type WorkerReport,
  type WorkerRole,
} from "./worker_control.ts";
import { type ServeSettings, shutdownSignal } from "./serve_common.ts";
import type { EventLog } from "./log.ts";

function reportOf(server: Server): WorkerReport {
  return {
    stats: server.stats(),
    handlerTime: server.handlerTimeHistogram().toJSON(),
  };
}

/** Serves as worker `role.id` until told to stop; returns the exit code. */
export async function serveWorker(
  host: CliHost,
  settings: ServeSettings,
  log: EventLog,
  role: WorkerRole,
): Promise<number> {
  const signal = shutdownSignal(host, () => {
    log.warn("Second signal: exiting without waiting for connections", {
      event: "forced",
    });
    host.exit(1);
  });
  const server = new Server({
    ...settings.options,
    onError: log.connectionClosed,
  });
  const listen: ListenOptions = { ...settings.listen };
  if (role.port !== null) listen.port = role.port;
  if (host.workers?.sharing === "reusePort") listen.reusePort = true;
  let link: WorkerLink;
  // The primary asks for the shutdown once its own drain delay has passed;
  // a signal sent to this worker itself (Ctrl-C to the process group) waits
  // for the delay here, cut short if the primary asks meanwhile.
  let primaryAsked!: () => void;
  const fromPrimary = new Promise<void>((resolve) => (primaryAsked = resolve));
  const shutdown = () => {
    primaryAsked();
    signal.request();
  };
  try {
    const addr = await server.listen(host.network, listen);
    link = await WorkerLink.open(host.network, role, {
      pid: host.pid,
      hostname: addr.hostname,
      port: addr.port,
    }, { report: () => reportOf(server), shutdown });
  } catch (error) {
    signal.unsubscribe();
    await server.close();
    throw error;
  }
  await signal.requested;
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    fromPrimary,
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, settings.drainDelay);
    }),
  ]);
  clearTimeout(timer);
  await server.close();
  await link.stopped(reportOf(server));
  signal.unsubscribe();
  return 0;
}
