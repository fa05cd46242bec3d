/**
 * Server-wide limits shared by all connections: the memory budget for frames
 * being received and responses not yet sent, and the clock that drives the
 * idle, stalled-frame, stalled-write and handler timeouts.
 *
 * Timeouts are checked by one sweep over the connections every
 * {@linkcode SWEEP_MS} rather than by a timer per connection, so a busy
 * connection pays one integer store per read for them.
 */

/** How often timeouts are checked and the memory budget is recounted. */
export const SWEEP_MS = 250;

/** What the limits need from a connection. */
export interface LimitedConnection {
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
export function sweepsOf(ms: number): number {
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
  #waiting: Array<{ connection: LimitedConnection; need: number }> = [];
  #connections: Iterable<LimitedConnection>;
  #interval: ReturnType<typeof setInterval> | undefined;

  constructor(
    timeouts: TimeoutSettings,
    maxBufferedBytes: number,
    connections: Iterable<LimitedConnection>,
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

  /** Connections waiting for memory. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Asks for `need` bytes to receive a frame. Granted when they fit in the
   * budget and nobody waits ahead (first come, first served, so no
   * connection waits forever), or when nothing at all is held. Otherwise
   * the connection is queued, and `admit()`ed with the memory reserved for
   * it once that memory is free.
   */
  reserve(connection: LimitedConnection, need: number): boolean {
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
  forget(connection: LimitedConnection): void {
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
    for (const connection of this.#connections) connection.sweep(tick);
    if (this.#waiting.length > 0) this.#admitWaiting();
  }
}
