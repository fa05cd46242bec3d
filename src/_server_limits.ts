/**
 * Server-wide limits shared by all connections: the memory budget for frames
 * being received and responses not yet sent, and the clock that drives the
 * idle, stalled-frame, stalled-write and handler timeouts.
 *
 * Timeouts are checked by one sweep over the connections every
 * {@linkcode SWEEP_MS} rather than by a timer per connection, so a busy
 * connection pays one integer store per read for them, and an idle one keeps
 * only the sweep of its last read ({@linkcode expiredTimeout}); a
 * {@linkcode ConnectionStalls} while it holds part of a frame or unsent bytes.
 */
import { ConnectionTimeoutError } from "./errors.ts";

/** How often timeouts are checked and the memory budget is recounted. */
const SWEEP_MS = 250;

/** What the limits report to each connection. */
export interface ServerLimitsEvents {
  /** Checks its timeouts and recounts its memory; `tick` counts sweeps. */
  sweep(tick: number): void;
  /** Takes the memory reserved for it, `need` bytes, and reads on. */
  admit(need: number): void;
}

/** Timeouts in sweeps (0: off), with their lengths in milliseconds for messages. */
export interface TimeoutSettings {
  idleTimeout: number;
  frameTimeout: number;
  writeTimeout: number;
  handlerTimeout: number;
}

/** Converts a timeout in milliseconds into sweeps, rounding up (0 stays off). */
function sweepsOf(ms: number): number {
  return ms === 0 ? 0 : Math.max(1, Math.ceil(ms / SWEEP_MS));
}

/**
 * The memory budget and the sweep clock of one server.
 */
export class ServerLimits {
  /** Milliseconds, as configured. */
  readonly timeouts: TimeoutSettings;
  /** The same, in sweeps. */
  readonly sweeps: TimeoutSettings;
  /** Largest number of bytes held for partial frames and unsent responses. */
  readonly maxBufferedBytes: number;
  /** Bytes held now, summed over connections. */
  bufferedBytes = 0;
  /** Sweeps since the server started. */
  tick = 0;
  #waiting: Array<{ connection: ServerLimitsEvents; need: number }> = [];
  #connections: { forEach(visit: (c: ServerLimitsEvents) => void): void };
  #interval: ReturnType<typeof setInterval> | undefined;

  constructor(
    timeouts: TimeoutSettings,
    maxBufferedBytes: number,
    connections: { forEach(visit: (c: ServerLimitsEvents) => void): void },
  ) {
    this.timeouts = timeouts;
    this.sweeps = {
      idleTimeout: sweepsOf(timeouts.idleTimeout),
      frameTimeout: sweepsOf(timeouts.frameTimeout),
      writeTimeout: sweepsOf(timeouts.writeTimeout),
      handlerTimeout: sweepsOf(timeouts.handlerTimeout),
    };
    this.maxBufferedBytes = maxBufferedBytes;
    this.#connections = connections;
  }

  /** Whether the bytes held exceed the budget. */
  get overBudget(): boolean {
    return this.bufferedBytes > this.maxBufferedBytes;
  }

  /**
   * Asks for `need` bytes to receive a frame. Granted when they fit in the
   * budget and nobody waits ahead (first come, first served, so no
   * connection waits forever), or when nothing at all is held. Otherwise
   * the connection is queued, and `admit()`ed with the memory reserved for
   * it once that memory is free.
   */
  reserve(connection: ServerLimitsEvents, need: number): boolean {
    if (
      this.bufferedBytes === 0 ||
      (this.#waiting.length === 0 &&
        this.bufferedBytes + need <= this.maxBufferedBytes)
    ) {
      this.bufferedBytes += need;
      return true;
    }
    this.#waiting.push({ connection, need });
    return false;
  }

  /** Adds a change in a connection's bytes held; admits waiters when memory frees. */
  account(delta: number): void {
    this.bufferedBytes += delta;
    if (delta < 0 && this.#waiting.length > 0) this.#admitWaiting();
  }

  /** Drops a closed connection from the queue. */
  forget(connection: ServerLimitsEvents): void {
    const i = this.#waiting.findIndex((w) => w.connection === connection);
    if (i !== -1) this.#waiting.splice(i, 1);
    if (i === 0) this.#admitWaiting();
  }

  #admitWaiting(): void {
    const waiting = this.#waiting;
    while (waiting.length > 0) {
      const { connection, need } = waiting[0];
      if (
        this.bufferedBytes !== 0 &&
        this.bufferedBytes + need > this.maxBufferedBytes
      ) return;
      waiting.shift();
      this.bufferedBytes += need;
      connection.admit(need);
    }
  }

  /** Starts the sweep clock when there are connections; stops it when none. */
  update(connectionCount: number): void {
    if (connectionCount > 0 && this.#interval === undefined) {
      this.#interval = setInterval(() => this.#sweep(), SWEEP_MS);
      // The sweep alone must not keep a process alive (Node and Bun timers
      // have unref(); the connections' own sockets keep it running).
      (this.#interval as { unref?: () => void }).unref?.();
    } else if (connectionCount === 0 && this.#interval !== undefined) {
      clearInterval(this.#interval);
      this.#interval = undefined;
    }
  }

  #sweep(): void {
    const tick = ++this.tick;
    this.#connections.forEach((connection) => connection.sweep(tick));
    if (this.#waiting.length > 0) this.#admitWaiting();
  }
}

/** What a connection's timeouts look at, read at each sweep. */
export interface ConnectionActivity {
  /** The sweep of the connection's last read. */
  lastRead: number;
  /** Response bytes handed to the transport and not yet sent. */
  unsent: number;
  /** Whether requests are being read: still taken, and reading not paused. */
  reading: boolean;
  /** Bytes of an incomplete request frame held. */
  partial: number;
  /** Requests received so far. */
  frames: number;
  /** Handler calls not yet settled. */
  pending: number;
  /** The sweep in which the oldest unsettled handler call began, or -1. */
  oldestPending: number;
}

/**
 * What a connection's stalled-frame and stalled-write timeouts remember
 * between sweeps: the sweep a stall was first seen (-1: none) and what was
 * seen then. Only a connection holding part of a frame or unsent bytes needs
 * one ({@linkcode ConnectionStalls.needed}); one whose stalls are both -1
 * ({@linkcode ConnectionStalls.clear}) is the same as none, so an idle
 * connection keeps no such object.
 */
export class ConnectionStalls {
  frameMark = 0;
  frameStall = -1;
  unsentSeen = 0;
  writeStall = -1;

  /** Whether a connection of `limits` doing `activity` has a stall to track. */
  static needed(limits: ServerLimits, activity: ConnectionActivity): boolean {
    const { sweeps } = limits;
    return (activity.unsent > 0 && sweeps.writeTimeout > 0) ||
      (activity.partial > 0 && activity.reading && sweeps.frameTimeout > 0);
  }

  /** Nothing is being tracked: the object may be dropped. */
  get clear(): boolean {
    return this.frameStall < 0 && this.writeStall < 0;
  }
}

/**
 * The idle timeout of a connection that is read from, sends nothing, and is
 * owed nothing, whose last read was in sweep `lastRead`: expired at sweep
 * `tick` of `limits`, or null.
 */
export function idleExpired(
  limits: ServerLimits,
  tick: number,
  lastRead: number,
): ConnectionTimeoutError | null {
  const sweeps = limits.sweeps.idleTimeout;
  // The last read came after sweep `lastRead`: `sweeps` more sweeps may
  // take a little less than the timeout, one more never does.
  return sweeps > 0 && tick - lastRead > sweeps
    ? new ConnectionTimeoutError("idle", limits.timeouts.idleTimeout)
    : null;
}

/**
 * Checks the idle, stalled-frame, stalled-write and handler timeouts of one
 * connection at sweep `tick` of `limits`. `stalls` must not be null
 * whenever {@linkcode ConnectionStalls.needed} says a stall is tracked; it is
 * updated.
 *
 * @returns The timeout that expired, or null.
 */
export function expiredTimeout(
  limits: ServerLimits,
  tick: number,
  activity: ConnectionActivity,
  stalls: ConnectionStalls | null,
): ConnectionTimeoutError | null {
  const { sweeps, timeouts } = limits;
  const { unsent, partial, reading } = activity;
  // A peer that reads none of its responses.
  if (unsent > 0 && sweeps.writeTimeout > 0) {
    if (stalls!.writeStall < 0 || unsent < stalls!.unsentSeen) {
      stalls!.writeStall = tick;
    } else if (tick - stalls!.writeStall >= sweeps.writeTimeout) {
      return new ConnectionTimeoutError(
        "write",
        timeouts.writeTimeout,
        `${unsent} bytes unsent`,
      );
    }
    stalls!.unsentSeen = unsent;
  } else if (stalls !== null) {
    stalls.writeStall = -1;
  }
  // A frame left incomplete: a stalled or trickling (slowloris) peer.
  if (partial > 0 && reading && sweeps.frameTimeout > 0) {
    if (stalls!.frameStall < 0 || activity.frames !== stalls!.frameMark) {
      stalls!.frameStall = tick;
      stalls!.frameMark = activity.frames;
    } else if (tick - stalls!.frameStall >= sweeps.frameTimeout) {
      return new ConnectionTimeoutError(
        "frame",
        timeouts.frameTimeout,
        `${partial} bytes of it received`,
      );
    }
  } else if (stalls !== null) {
    stalls.frameStall = -1;
  }
  // A peer that sends nothing while owed nothing.
  if (reading && unsent === 0 && activity.pending === 0 && partial === 0) {
    const idle = idleExpired(limits, tick, activity.lastRead);
    if (idle !== null) return idle;
  }
  // A handler that does not settle: the oldest unsettled one is first.
  if (
    activity.pending > 0 && sweeps.handlerTimeout > 0 &&
    activity.oldestPending >= 0 &&
    tick - activity.oldestPending >= sweeps.handlerTimeout
  ) {
    return new ConnectionTimeoutError("handler", timeouts.handlerTimeout);
  }
  return null;
}
