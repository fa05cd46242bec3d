/**
 * The rarer part of one server connection's share of the server's memory
 * budget: a large frame assembled in pooled memory, the pooled request
 * buffers its handlers hold, and a frame that waits for memory. The
 * connection counts the bytes it holds itself; it makes one of these only
 * when a frame spans reads, and drops it once it is {@linkcode idle}.
 */
import { type BufferPool, POOL_MIN_SIZE } from "./_buffer_pool.ts";
import type { ServerLimits, ServerLimitsEvents } from "./_server_limits.ts";

/**
 * A pooled buffer lent to a request, and the calls that still hold it: its
 * handler until the request's answer is queued (and, if it timed out, until
 * it settles), `onHandlerError` the same way. At 0 the buffer can go back
 * once the answers queued are written.
 */
export interface LentBuffer {
  readonly buffer: Uint8Array;
  holders: number;
}

/**
 * Reserves and gives back one connection's frame memory. A frame that does
 * not fit in the budget waits (`waiting`) until the limits admit the
 * connection with the memory reserved for it.
 */
export class ConnectionMemory {
  readonly #limits: ServerLimits;
  /** Reused memory for large frames, or null when requests are given away. */
  readonly #pool: BufferPool | null;
  readonly #connection: ServerLimitsEvents;
  /** A pooled buffer a large frame is being assembled in. */
  #assembling: Uint8Array | null = null;
  /** The buffer the frame being assembled is in, pooled or not. */
  #frame: Uint8Array | null = null;
  /** Pooled buffers of requests handed out, given back once nothing can use them. */
  #lent: LentBuffer[] | null = null;
  /** The limits reserved memory for the frame that waited. */
  #granted = false;
  /** A frame waits for memory: reading stays paused until `admitted()`. */
  waiting = false;
  /** The bytes from the waiting frame on, decoded once it is admitted. */
  deferred: Uint8Array | null = null;

  constructor(
    limits: ServerLimits,
    pool: BufferPool | null,
    connection: ServerLimitsEvents,
  ) {
    this.#limits = limits;
    this.#pool = pool;
    this.#connection = connection;
  }

  /** Whether a frame is being assembled (its memory is reserved). */
  get assembling(): boolean {
    return this.#frame !== null;
  }

  /**
   * The decoder's `allocate`: a `length`-byte buffer for a frame of
   * `frameLength` bytes, pooled when large and a pool is used, or null when
   * the frame must wait for memory. The frame's first buffer reserves the
   * whole frame in the budget (the connection counts `frameLength` more
   * bytes held); the larger ones it grows into need no more.
   */
  allocate(length: number, frameLength: number): Uint8Array | null {
    if (this.#frame !== null) {
      // Growing: reserved with the first buffer.
    } else if (this.#granted) {
      this.#granted = false; // reserved by the limits on admission
    } else if (!this.#limits.reserve(this.#connection, frameLength)) {
      this.waiting = true;
      return null;
    }
    const pool = this.#pool;
    if (pool !== null && frameLength >= POOL_MIN_SIZE) {
      // Reused memory for the whole frame, when there is some: its buffer
      // need not grow, and nothing new is allocated.
      const whole = pool.takeIdle(frameLength);
      if (whole !== null) return this.#frame = this.#assembling = whole;
    }
    if (length < POOL_MIN_SIZE || pool === null) {
      return this.#frame = new Uint8Array(length);
    }
    return this.#frame = this.#assembling = pool.take(length);
  }

  /**
   * The decoder's `release`: the frame outgrew `buffer`. A pooled one goes
   * back to the pool.
   */
  release(buffer: Uint8Array): void {
    if (buffer === this.#assembling) {
      this.#pool!.give(buffer);
      this.#assembling = null;
    }
  }

  /** The limits reserved memory for the waiting frame: it is allocated next. */
  admitted(): void {
    this.waiting = false;
    this.#granted = true;
  }

  /** Gives back the `need` bytes reserved on admission if no frame took them. */
  returnUnused(need: number): void {
    if (!this.#granted) return;
    this.#granted = false;
    this.#limits.account(-need);
  }

  /**
   * Notes an assembled request handed to the handler: a pooled buffer stays
   * lent, and is returned (to mark once the request is answered), or null.
   */
  handedOut(request: Uint8Array): LentBuffer | null {
    this.#frame = null;
    const assembling = this.#assembling;
    if (assembling === null || request.buffer !== assembling.buffer) {
      return null;
    }
    this.#assembling = null;
    const lent: LentBuffer = { buffer: assembling, holders: 1 };
    (this.#lent ??= []).push(lent);
    return lent;
  }

  /** Whether pooled request buffers are lent. */
  get lending(): boolean {
    return this.#lent !== null;
  }

  /** Bytes of the pooled request buffers lent. */
  get lentBytes(): number {
    let bytes = 0;
    if (this.#lent !== null) {
      for (const lent of this.#lent) bytes += lent.buffer.length;
    }
    return bytes;
  }

  /**
   * Nothing assembled, lent, reserved or waiting: the connection may drop
   * this object.
   */
  get idle(): boolean {
    return this.#frame === null && this.#lent === null &&
      !this.#granted && !this.waiting && this.deferred === null;
  }

  /**
   * Returns the lent buffers of answered requests to the pool (all of them
   * with `all`): the caller knows their answers are written.
   */
  giveBackLent(all = false): void {
    const lent = this.#lent;
    if (lent === null) return;
    let kept = 0;
    for (const entry of lent) {
      if (all || entry.holders === 0) this.#pool!.give(entry.buffer);
      else lent[kept++] = entry;
    }
    lent.length = kept;
    if (kept === 0) this.#lent = null;
  }

  /**
   * The connection closed: gives back its pooled memory, except buffers
   * that handlers still running hold, and leaves the queue for memory. (The
   * connection gives back the bytes it counted.)
   */
  close(handlersRunning: boolean): void {
    if (this.#assembling !== null) this.#pool!.give(this.#assembling);
    this.#assembling = null;
    this.#frame = null;
    if (!handlersRunning) this.giveBackLent(true);
    this.#lent = null;
    this.deferred = null;
    this.#limits.forget(this.#connection);
  }
}
