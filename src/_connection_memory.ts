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
  #lent: Uint8Array[] | null = null;
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
   * lent until `giveBackLent()`.
   */
  handedOut(request: Uint8Array): void {
    this.#frame = null;
    if (
      this.#assembling !== null && request.buffer === this.#assembling.buffer
    ) {
      (this.#lent ??= []).push(this.#assembling);
      this.#assembling = null;
    }
  }

  /** Whether pooled request buffers are lent. */
  get lending(): boolean {
    return this.#lent !== null;
  }

  /** Bytes of the pooled request buffers lent. */
  get lentBytes(): number {
    let bytes = 0;
    if (this.#lent !== null) {
      for (const buffer of this.#lent) bytes += buffer.length;
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

  /** Returns the lent buffers to the pool: nothing may use them any more. */
  giveBackLent(): void {
    if (this.#lent === null) return;
    for (const buffer of this.#lent) this.#pool!.give(buffer);
    this.#lent = null;
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
    if (!handlersRunning) this.giveBackLent();
    this.#lent = null;
    this.deferred = null;
    this.#limits.forget(this.#connection);
  }
}
