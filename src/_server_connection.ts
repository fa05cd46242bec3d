import { FrameDecoder } from "./frame_decoder.ts";
import { assertFrameSize } from "./frame_encoder.ts";
import { COPY_LIMIT, Outbound } from "./_outbound.ts";
import type { BufferPool } from "./_buffer_pool.ts";
import { ConnectionMemory } from "./_connection_memory.ts";
import type { Transport, TransportEvents } from "./transport.ts";
import {
  ConnectionTimeouts,
  type ServerLimits,
  type ServerLimitsEvents,
} from "./_server_limits.ts";
import type { ConnectionTimeoutError } from "./errors.ts";
import type { LatencyHistogram } from "./latency_histogram.ts";
import type { Handler, RequestContext } from "./handler.ts";
import type { ServerStats } from "./server_stats.ts";

/** One synchronous handler call in this many is timed. */
const SYNC_SAMPLE_MASK = 63;
let syncCalls = 0;

/** What a connection needs from its server. */
export interface ConnectionHost {
  readonly handler: Handler;
  readonly maxFrameSize: number;
  readonly highWaterMark: number;
  readonly maxPendingRequests: number;
  readonly closeTimeout: number;
  readonly stats: ServerStats;
  /** Reused memory for large frames. */
  readonly pool: BufferPool;
  /** The memory budget and the timeouts. */
  readonly limits: ServerLimits;
  /** Handler time in microseconds: every async call, one sync call in 64. */
  readonly handlerTime: LatencyHistogram;
  report(error: unknown, context: RequestContext): void;
  removed(connection: ServerConnection): void;
}

/** A response slot held while an earlier or this handler result is awaited. */
interface Slot {
  response: Uint8Array | null;
  /** The sweep in which the request arrived (for handlerTimeout). */
  tick: number;
  /** When the handler was called (performance.now()), for its time. */
  started: number;
}

/** The shared empty slot list: a connection allocates its own on first use. */
const NO_SLOTS: Slot[] = [];

const OPEN = 0;
/** No more requests are taken: answer what was received, then close. */
const ENDING = 1;
/** Responses sent, FIN sent: waiting for the transport to close. */
const FINISHED = 2;
const CLOSED = 3;

/** Serves one connection: decode, call the handler, answer in order. */
export class ServerConnection implements TransportEvents, ServerLimitsEvents {
  readonly context: RequestContext;
  #host: ConnectionHost;
  #transport: Transport;
  #decoder: FrameDecoder;
  #outbound: Outbound;
  #write: (bytes: Uint8Array) => void;
  /** Responses from the first unanswered async request on, in request order. */
  #slots: Slot[] = NO_SLOTS;
  #slotHead = 0;
  /** Handler promises not yet settled. */
  #pending = 0;
  #state = OPEN;
  #paused = false;
  #flushScheduled = false;
  /** Buffer of the chunk being decoded, and whether a view of it outlives the read. */
  #chunkBuffer: ArrayBufferLike | null = null;
  #chunkRetained = false;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #closedWaiters: Array<() => void> | null = null;
  #memory: ConnectionMemory;
  /** A frame waits for memory: reading is paused and these bytes wait. */
  #deferred: Uint8Array | null = null;
  /** Requests received, for the frame timeout. */
  #frames = 0;
  #timeouts: ConnectionTimeouts;

  constructor(host: ConnectionHost, transport: Transport, id: number) {
    this.#host = host;
    this.#transport = transport;
    this.context = {
      connectionId: id,
      remoteAddr: transport.remoteAddr,
      localAddr: transport.localAddr,
    };
    const memory = new ConnectionMemory(host.limits, host.pool, this);
    this.#memory = memory;
    this.#decoder = new FrameDecoder(
      (frame, headerAt) => this.#onRequest(frame, headerAt),
      {
        maxFrameSize: host.maxFrameSize,
        allocate: (length) => memory.allocate(length),
      },
    );
    this.#write = (bytes) => transport.write(bytes);
    this.#outbound = new Outbound(transport.readViewsWritable === true);
    this.#timeouts = new ConnectionTimeouts(host.limits);
  }

  /** Resolves once the transport has closed. */
  waitClosed(): Promise<void> {
    if (this.#state === CLOSED) return Promise.resolve();
    return new Promise((resolve) => (this.#closedWaiters ??= []).push(resolve));
  }

  data(chunk: Uint8Array): boolean {
    if (this.#state !== OPEN) return true; // draining a closing peer: discard
    const host = this.#host;
    host.stats.bytesIn += chunk.length;
    this.#timeouts.read();
    if (this.#deferred !== null) {
      // Waiting for memory, reads paused: keep what was already on its way.
      const joined = new Uint8Array(this.#deferred.length + chunk.length);
      joined.set(this.#deferred);
      joined.set(chunk, this.#deferred.length);
      this.#deferred = joined;
      return true;
    }
    return this.#decode(chunk);
  }

  /**
   * The frame that waited for memory got `need` bytes reserved: decode on,
   * read on.
   */
  admit(need: number): void {
    const deferred = this.#deferred;
    this.#deferred = null;
    this.#memory.admitted();
    if (deferred !== null && this.#state === OPEN) this.#decode(deferred);
    this.#memory.returnUnused(need); // the connection is closing
    this.#updateBackpressure();
  }

  #decode(chunk: Uint8Array): boolean {
    const buffer = this.#chunkBuffer = chunk.buffer;
    this.#chunkRetained = false;
    this.#outbound.echoFrom(buffer, chunk.byteOffset);
    try {
      const consumed = this.#decoder.push(chunk);
      if (this.#memory.waiting) {
        this.#deferred = chunk.slice(consumed);
        this.#host.stats.memoryDeferrals++;
      }
    } catch (error) {
      // Only the decoder throws here: the handler is called inside a try.
      this.#host.stats.protocolErrors++;
      this.#host.report(error, this.context);
      this.#shutdown();
    }
    this.#chunkBuffer = null;
    this.#flush();
    return !this.#chunkRetained;
  }

  /** Checks the timeouts and recounts memory; called by the server's sweep. */
  sweep(tick: number): void {
    if (this.#state >= FINISHED) return;
    const expired = this.#timeouts.check(tick, {
      unsent: this.#transport.bufferedAmount,
      reading: this.#state === OPEN && !this.#paused,
      partial: this.#decoder.bufferedBytes,
      frames: this.#frames,
      pending: this.#pending,
      oldestPending: this.#pending > 0 ? this.#oldestPending() : -1,
    });
    if (expired === null) this.#settleMemory();
    else this.#timedOut(expired);
  }

  /** The sweep in which the oldest unsettled handler call began, or -1. */
  #oldestPending(): number {
    const slots = this.#slots;
    for (let i = this.#slotHead; i < slots.length; i++) {
      if (slots[i].response === null) return slots[i].tick;
    }
    return -1;
  }

  /**
   * Counts and reports an expired timeout and closes: at once for a peer
   * that reads nothing, else after answering what was received.
   */
  #timedOut(error: ConnectionTimeoutError): void {
    const stats = this.#host.stats;
    if (error.reason === "handler") {
      stats.handlerTimeouts++;
      this.#handlerFailed(error);
      return;
    }
    if (error.reason === "idle") stats.idleTimeouts++;
    else if (error.reason === "frame") stats.frameTimeouts++;
    else stats.writeTimeouts++;
    this.#host.report(error, this.context);
    if (error.reason === "write") this.#transport.close();
    else this.#shutdown();
  }

  end(): void {
    const discarded = this.#decoder.end();
    if (discarded > 0) {
      this.#host.stats.truncatedFrames++;
      this.#host.stats.truncatedBytes += discarded;
    }
    if (this.#state === OPEN) this.#state = ENDING;
    this.#finishIfDone();
  }

  drain(): void {
    this.#settleMemory();
  }

  closed(_error?: unknown): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSED;
    clearTimeout(this.#closeTimer);
    this.#slots = NO_SLOTS;
    this.#slotHead = 0;
    this.#decoder.end();
    this.#deferred = null;
    // Requests of handlers still running stay theirs; the rest is free.
    this.#memory.close(this.#pending !== 0);
    this.#host.removed(this);
    const waiters = this.#closedWaiters;
    this.#closedWaiters = null;
    if (waiters !== null) { for (const resolve of waiters) resolve(); }
  }

  /**
   * Stops taking requests, answers those already received, then closes;
   * forced after the host's closeTimeout.
   */
  shutdown(): void {
    if (this.#state === OPEN) this.#shutdown();
    else this.#armCloseTimer(); // already ending (e.g. the peer half-closed)
  }

  #shutdown(): void {
    this.#state = ENDING;
    this.#armCloseTimer();
    this.#finishIfDone();
  }

  /** Closes the transport after the host's closeTimeout, whatever is left. */
  #armCloseTimer(): void {
    if (this.#state === CLOSED || this.#closeTimer !== undefined) return;
    this.#closeTimer = setTimeout(
      () => this.#transport.close(),
      this.#host.closeTimeout,
    );
  }

  /** `headerAt`: where the frame starts in the chunk, or -1 when assembled. */
  #onRequest(request: Uint8Array, headerAt: number): void {
    if (headerAt < 0) this.#memory.handedOut(request);
    this.#frames++;
    if (this.#state !== OPEN) return;
    const host = this.#host;
    host.stats.framesIn++;
    let result: Uint8Array | Promise<Uint8Array>;
    // The clock is read for one call in 64 only: it costs as much as an echo.
    const sampled = (++syncCalls & SYNC_SAMPLE_MASK) === 0;
    const called = sampled ? performance.now() : 0;
    try {
      result = host.handler(request, this.context);
    } catch (error) {
      this.#handlerFailed(error);
      return;
    }
    if (sampled && result instanceof Uint8Array) {
      host.handlerTime.record((performance.now() - called) * 1000);
    }
    if (this.#slotHead === this.#slots.length && result instanceof Uint8Array) {
      // Fast path: no promise, nothing awaited ahead.
      if (result === request && headerAt >= 0) {
        // The response frame is the request frame, whole in this read.
        this.#outbound.echo(headerAt, request.length);
        host.stats.framesOut++;
        host.stats.bytesOut += request.length;
        return;
      }
      this.#respond(result);
      return;
    }
    const slot: Slot = {
      response: null,
      tick: host.limits.tick,
      // An async call is always timed: from its call when sampled, else
      // from the return of its promise.
      started: sampled ? called : performance.now(),
    };
    if (result instanceof Uint8Array) {
      slot.response = result;
    } else if (
      result !== null && typeof result === "object" && "then" in result
    ) {
      this.#pending++;
      this.#chunkRetained = true; // the handler may still read the request view
      result.then(
        (response) => this.#settled(slot, response),
        (error) => this.#handlerFailed(error),
      );
    } else {
      this.#handlerFailed(notBytes(result));
      return;
    }
    if (this.#slots === NO_SLOTS) this.#slots = [];
    this.#slots.push(slot);
  }

  #settled(slot: Slot, response: Uint8Array): void {
    this.#pending--;
    this.#host.handlerTime.record((performance.now() - slot.started) * 1000);
    if (this.#state >= FINISHED) return;
    if (!(response instanceof Uint8Array)) {
      this.#handlerFailed(notBytes(response));
      return;
    }
    slot.response = response;
    const slots = this.#slots;
    let head = this.#slotHead;
    while (head < slots.length && slots[head].response !== null) {
      this.#respond(slots[head].response!);
      head++;
    }
    if (head === slots.length) {
      this.#slots = NO_SLOTS;
      head = 0;
    }
    this.#slotHead = head;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => {
        this.#flushScheduled = false;
        this.#flush();
        this.#finishIfDone();
      });
    }
  }

  /**
   * Gives pooled request buffers back once no handler is running and every
   * write has gone out (a response may be the request itself).
   */
  #releaseLarge(): void {
    if (this.#pending !== 0 || this.#transport.bufferedAmount !== 0) return;
    if (this.#slotHead !== this.#slots.length) return;
    this.#memory.giveBackLent();
  }

  #respond(response: Uint8Array): void {
    try {
      assertFrameSize(response, this.#host.maxFrameSize);
    } catch (error) {
      this.#handlerFailed(error);
      return;
    }
    if (
      response.length >= COPY_LIMIT && response.buffer === this.#chunkBuffer
    ) {
      this.#chunkRetained = true; // written by reference after this read
    }
    const stats = this.#host.stats;
    stats.framesOut++;
    stats.bytesOut += response.length;
    this.#outbound.add(response);
  }

  #handlerFailed(error: unknown): void {
    if (this.#state >= FINISHED) return;
    this.#host.stats.handlerErrors++;
    this.#host.report(error, this.context);
    // Answers already in order go out; later ones are dropped with the connection.
    this.#slots = NO_SLOTS;
    this.#slotHead = 0;
    this.#pending = 0;
    if (this.#state === OPEN) this.#shutdown();
    else this.#finishIfDone();
  }

  #flush(): void {
    if (this.#state < FINISHED) this.#outbound.flush(this.#write);
    this.#settleMemory();
  }

  /**
   * After writes, completions or drains: gives back pooled request memory no
   * longer in use, recounts this connection's share of the budget, then
   * pauses or resumes reading with the count up to date.
   */
  #settleMemory(): void {
    const memory = this.#memory;
    if (memory.lending) this.#releaseLarge();
    memory.recount(
      this.#decoder.pendingFrameSize,
      this.#transport.bufferedAmount,
    );
    this.#updateBackpressure();
  }

  #updateBackpressure(): void {
    if (this.#state !== OPEN) return;
    const unsent = this.#transport.bufferedAmount;
    const over = unsent > this.#host.highWaterMark ||
      this.#pending >= this.#host.maxPendingRequests || this.#memory.waiting ||
      (unsent > 0 && this.#host.limits.overBudget);
    if (over && !this.#paused) {
      this.#paused = true;
      this.#host.stats.backpressurePauses++;
      this.#transport.pause();
    } else if (!over && this.#paused) {
      this.#paused = false;
      this.#transport.resume();
    }
  }

  #finishIfDone(): void {
    if (this.#state !== ENDING || this.#slotHead < this.#slots.length) return;
    this.#outbound.flush(this.#write);
    this.#state = FINISHED;
    // Read on (discarding) so the peer's FIN is seen and no reset is sent.
    if (this.#paused) {
      this.#paused = false;
      this.#transport.resume();
    }
    this.#transport.closeWrite();
  }
}

function notBytes(value: unknown): TypeError {
  const kind = value === null ? "null" : typeof value;
  return new TypeError(
    `Cannot send response: handler returned ${kind}, not a Uint8Array`,
  );
}
