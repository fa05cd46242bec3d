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
import { ConnectionTimeoutError } from "./errors.ts";
import { FRAME_HEADER_SIZE } from "./_frame_header.ts";
import type { LatencyHistogram } from "./latency_histogram.ts";
import type {
  Application,
  CloseReason,
  Handler,
  RequestContext,
} from "./handler.ts";
import type { ServerStats } from "./server_stats.ts";

/** One synchronous handler call in this many is timed. */
const SYNC_SAMPLE_MASK = 63;
let syncCalls = 0;

/** What a connection needs from its server. */
export interface ConnectionHost {
  readonly handler: Handler<unknown>;
  /** Requests are lent (views of reused memory), not given. */
  readonly zeroCopy: boolean;
  readonly onConnection: Application<unknown>["onConnection"];
  readonly onClose: Application<unknown>["onClose"];
  readonly onHandlerError: Application<unknown>["onHandlerError"];
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
  report(error: unknown, context: RequestContext<unknown>): void;
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
  readonly context: RequestContext<unknown>;
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
  /**
   * The chunk being decoded, and whether a view of it outlives the read. Its
   * `buffer` is read only when needed: on JavaScriptCore, reading the buffer
   * of a view the runtime made costs an allocation.
   */
  #chunk: Uint8Array | null = null;
  #chunkRetained = false;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #closeDeadline = Infinity;
  #closedWaiters: Array<() => void> | null = null;
  #memory: ConnectionMemory;
  /** A frame waits for memory: reading is paused and these bytes wait. */
  #deferred: Uint8Array | null = null;
  /** Requests received, for the frame timeout. */
  #frames = 0;
  #timeouts: ConnectionTimeouts;
  /** Why the connection is closing, once known, and the error behind it. */
  #closeReason: CloseReason | null = null;
  #closeError: unknown = undefined;

  constructor(host: ConnectionHost, transport: Transport, id: number) {
    this.#host = host;
    this.#transport = transport;
    this.context = {
      connectionId: id,
      remoteAddr: transport.remoteAddr,
      localAddr: transport.localAddr,
      state: {},
    };
    // A request is given to its handler, not lent, unless zeroCopy: large
    // frames are then assembled in fresh memory instead of pooled buffers.
    const memory = new ConnectionMemory(
      host.limits,
      host.zeroCopy ? host.pool : null,
      this,
    );
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

  /**
   * Calls `onConnection`, before the transport starts; false (reported) if
   * it threw: the connection is then closed once started.
   */
  opening(): boolean {
    const onConnection = this.#host.onConnection;
    if (onConnection === undefined) return true;
    try {
      onConnection(this.context);
      return true;
    } catch (error) {
      this.#host.stats.handlerErrors++;
      this.#host.report(error, this.context);
      this.#closing("handler", error);
      return false;
    }
  }

  /** Records why the connection closes, unless a reason came first. */
  #closing(reason: CloseReason, error?: unknown): void {
    if (this.#closeReason !== null) return;
    this.#closeReason = reason;
    this.#closeError = error;
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
    this.#chunk = chunk;
    this.#chunkRetained = false;
    this.#outbound.echoFrom(chunk);
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
      this.#closing("protocol", error);
      this.#shutdown();
    }
    this.#chunk = null;
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
    this.#closing("timeout", error);
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

  closed(error?: unknown): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSED;
    if (error !== undefined) this.#closing("error", error);
    else this.#closing("peer");
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
    const onClose = this.#host.onClose;
    if (onClose !== undefined) {
      try {
        onClose(this.context, this.#closeReason!, this.#closeError);
      } catch (hookError) {
        this.#host.report(hookError, this.context);
      }
    }
  }

  /**
   * Stops taking requests, answers those already received, then closes;
   * forced after the host's closeTimeout.
   */
  shutdown(closeTimeout = this.#host.closeTimeout): void {
    if (this.#state < FINISHED) this.#closing("shutdown");
    if (this.#state === OPEN) this.#shutdown(closeTimeout);
    else this.#armCloseTimer(closeTimeout); // already ending (the peer half-closed)
  }

  /** Closes at once: requests not yet answered get no answer. */
  abort(): void {
    this.#closing("shutdown");
    this.#transport.close();
  }

  #shutdown(closeTimeout = this.#host.closeTimeout): void {
    this.#state = ENDING;
    this.#armCloseTimer(closeTimeout);
    this.#finishIfDone();
  }

  /** Closes the transport after `closeTimeout` ms, whatever is left. */
  #armCloseTimer(closeTimeout: number): void {
    if (this.#state === CLOSED) return;
    const deadline = performance.now() + closeTimeout;
    if (this.#closeTimer !== undefined) {
      if (deadline >= this.#closeDeadline) return;
      clearTimeout(this.#closeTimer); // a shorter wait was asked for
    }
    this.#closeDeadline = deadline;
    this.#closeTimer = setTimeout(() => this.#transport.close(), closeTimeout);
  }

  /** `headerAt`: where the frame starts in the chunk, or -1 when assembled. */
  #onRequest(request: Uint8Array, headerAt: number): void {
    if (headerAt < 0) this.#memory.handedOut(request);
    this.#frames++;
    if (this.#state !== OPEN) return;
    const host = this.#host;
    host.stats.framesIn++;
    if (
      !host.zeroCopy &&
      (headerAt >= 0 || request.buffer === this.#chunk?.buffer)
    ) {
      this.#chunkRetained = true; // the handler owns a view of this read
    }
    let result: Uint8Array | Promise<unknown> | undefined;
    let recovered = false;
    // The clock is read for one call in 64 only: it costs as much as an echo.
    const sampled = (++syncCalls & SYNC_SAMPLE_MASK) === 0;
    const called = sampled ? performance.now() : 0;
    try {
      result = host.handler(request, this.context);
    } catch (error) {
      result = this.#recover(error, request);
      if (result === undefined) return;
      recovered = true;
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
        host.stats.bytesOut += FRAME_HEADER_SIZE + request.length;
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
    } else if (isPromise(result)) {
      this.#pending++;
      this.#chunkRetained = true; // the handler may still read the request view
      this.#await(slot, result, request, recovered);
    } else {
      const recovered = this.#recover(notBytes(result), request);
      if (recovered === undefined) return;
      if (recovered instanceof Uint8Array) slot.response = recovered;
      else {
        this.#pending++;
        this.#chunkRetained = true;
        this.#await(slot, recovered, request, true);
      }
    }
    if (this.#slots === NO_SLOTS) this.#slots = [];
    this.#slots.push(slot);
  }

  /**
   * Calls `onHandlerError` for a failed request: the response it gives (or
   * its promise), or undefined once the failure closes the connection.
   */
  #recover(
    error: unknown,
    request: Uint8Array,
  ): Uint8Array | Promise<unknown> | undefined {
    const onHandlerError = this.#host.onHandlerError;
    if (onHandlerError !== undefined && this.#state < FINISHED) {
      let response: unknown;
      try {
        response = onHandlerError(error, request, this.context);
      } catch (hookError) {
        this.#handlerFailed(hookError);
        return undefined;
      }
      if (response instanceof Uint8Array || isPromise(response)) {
        this.#host.stats.handlerErrors++;
        return response;
      }
      if (response !== undefined) {
        this.#handlerFailed(
          new TypeError(
            "Cannot send error response: onHandlerError returned " +
              `${typeOf(response)}, not a Uint8Array`,
            { cause: error },
          ),
        );
        return undefined;
      }
    }
    this.#handlerFailed(error);
    return undefined;
  }

  /** Waits for a handler's (or onHandlerError's) promise for `slot`. */
  #await(
    slot: Slot,
    promise: Promise<unknown>,
    request: Uint8Array,
    recovering: boolean,
  ): void {
    promise.then(
      (response) => {
        if (response instanceof Uint8Array) this.#settled(slot, response);
        else this.#failedAsync(slot, request, notBytes(response), recovering);
      },
      (error) => this.#failedAsync(slot, request, error, recovering),
    );
  }

  #failedAsync(
    slot: Slot,
    request: Uint8Array,
    error: unknown,
    recovering: boolean,
  ): void {
    let recovered: Uint8Array | Promise<unknown> | undefined;
    if (recovering) this.#handlerFailed(error);
    else recovered = this.#recover(error, request);
    if (recovered === undefined) {
      this.#pending--;
      return;
    }
    if (recovered instanceof Uint8Array) this.#settled(slot, recovered);
    else this.#await(slot, recovered, request, true);
  }

  #settled(slot: Slot, response: Uint8Array): void {
    this.#pending--;
    this.#host.handlerTime.record((performance.now() - slot.started) * 1000);
    if (this.#state >= FINISHED) return;
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
      response.length >= COPY_LIMIT && this.#chunk !== null &&
      response.buffer === this.#chunk.buffer
    ) {
      this.#chunkRetained = true; // written by reference after this read
    }
    const stats = this.#host.stats;
    stats.framesOut++;
    stats.bytesOut += FRAME_HEADER_SIZE + response.length;
    this.#outbound.add(response);
  }

  #handlerFailed(error: unknown): void {
    if (this.#state >= FINISHED) return;
    this.#host.stats.handlerErrors++;
    this.#host.report(error, this.context);
    this.#closing(
      error instanceof ConnectionTimeoutError ? "timeout" : "handler",
      error,
    );
    // Answers already in order go out; later ones are dropped with the connection.
    this.#slots = NO_SLOTS;
    this.#slotHead = 0;
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

function typeOf(value: unknown): string {
  return value === null ? "null" : typeof value;
}

function notBytes(value: unknown): TypeError {
  return new TypeError(
    `Cannot send response: handler returned ${typeOf(value)}, not a Uint8Array`,
  );
}

function isPromise(value: unknown): value is Promise<unknown> {
  return value !== null && typeof value === "object" && "then" in value &&
    typeof value.then === "function";
}
