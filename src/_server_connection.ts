import { FrameDecoder } from "./frame_decoder.ts";
import { assertFrameSize } from "./frame_encoder.ts";
import { COPY_LIMIT, Outbound } from "./_outbound.ts";
import { FRAME_HEADER_SIZE } from "./_frame_header.ts";
import { type BufferPool, POOL_MIN_SIZE } from "./_buffer_pool.ts";
import type { Transport, TransportEvents } from "./transport.ts";
import type { LimitedConnection, ServerLimits } from "./_server_limits.ts";
import { ConnectionTimeoutError } from "./errors.ts";
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
export class ServerConnection implements TransportEvents, LimitedConnection {
  readonly context: RequestContext;
  #host: ConnectionHost;
  #transport: Transport;
  #decoder: FrameDecoder;
  #outbound = new Outbound();
  #write: (bytes: Uint8Array) => void;
  /** Received bytes may be written back by reference (see Transport.readViewsWritable). */
  #readViewsWritable: boolean;
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
  /**
   * A run of requests answered with themselves (an echo), as byte offsets in
   * the chunk's buffer: their frames are sent as they arrived.
   */
  #echoStart = 0;
  #echoEnd = -1;
  /** Where the chunk starts in its buffer: an echoed frame's header must lie in it. */
  #chunkStart = 0;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #closedWaiters: Array<() => void> | null = null;
  /** A pooled buffer the decoder is assembling a large frame in. */
  #assembling: Uint8Array | null = null;
  /** Pooled buffers of requests handed out, returned once nothing can use them. */
  #lentLarge: Uint8Array[] | null = null;
  /** Bytes this connection counts against the server's memory budget. */
  #held = 0;
  /** A frame waits for memory: reading is paused and these bytes wait. */
  #deferred: Uint8Array | null = null;
  #waitingMemory = false;
  /** The limits reserved memory for the deferred frame. */
  #granted = false;
  /** Sweep of the last read; requests completed; stall trackers (-1: none). */
  #lastRead = 0;
  #frames = 0;
  #frameMark = 0;
  #frameStall = -1;
  #unsentSeen = 0;
  #writeStall = -1;

  constructor(host: ConnectionHost, transport: Transport, id: number) {
    this.#host = host;
    this.#transport = transport;
    this.context = {
      connectionId: id,
      remoteAddr: transport.remoteAddr,
      localAddr: transport.localAddr,
    };
    this.#decoder = new FrameDecoder(
      (frame, headerAt) => this.#onRequest(frame, headerAt),
      {
        maxFrameSize: host.maxFrameSize,
        allocate: (length) => {
          if (this.#granted) {
            this.#granted = false; // reserved by the limits on admission
          } else if (!host.limits.reserve(this, length)) {
            this.#waitingMemory = true;
            return null;
          }
          this.#held += length;
          if (length < POOL_MIN_SIZE) return new Uint8Array(length);
          return this.#assembling = host.pool.take(length);
        },
      },
    );
    this.#write = (bytes) => transport.write(bytes);
    this.#readViewsWritable = transport.readViewsWritable === true;
    this.#lastRead = host.limits.tick;
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
    this.#lastRead = host.limits.tick;
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
    this.#waitingMemory = false;
    this.#deferred = null;
    this.#granted = true;
    if (deferred !== null && this.#state === OPEN) this.#decode(deferred);
    if (this.#granted) {
      // Not used (the connection is closing): give the reservation back.
      this.#granted = false;
      this.#host.limits.account(-need);
    }
    this.#updateBackpressure();
  }

  #decode(chunk: Uint8Array): boolean {
    this.#chunkBuffer = chunk.buffer;
    this.#chunkStart = chunk.byteOffset;
    this.#chunkRetained = false;
    try {
      const consumed = this.#decoder.push(chunk);
      if (this.#waitingMemory) {
        this.#deferred = chunk.slice(consumed);
        this.#host.stats.memoryDeferrals++;
      }
    } catch (error) {
      // Only the decoder throws here: the handler is called inside a try.
      this.#host.stats.protocolErrors++;
      this.#host.report(error, this.context);
      this.#shutdown();
    }
    this.#endEcho();
    this.#chunkBuffer = null;
    this.#flush();
    return !this.#chunkRetained;
  }

  /** Brings this connection's share of the memory budget up to date. */
  #recount(): void {
    const held = this.#decoder.pendingFrameSize + this.#lentBytes() +
      this.#transport.bufferedAmount;
    if (held !== this.#held) {
      const delta = held - this.#held;
      this.#held = held;
      this.#host.limits.account(delta);
    }
  }

  #lentBytes(): number {
    const lent = this.#lentLarge;
    if (lent === null) return 0;
    let bytes = 0;
    for (const buffer of lent) bytes += buffer.length;
    return bytes;
  }

  /** Checks the timeouts and recounts memory; called by the server's sweep. */
  sweep(tick: number): void {
    if (this.#state >= FINISHED) return;
    const { sweeps, timeouts } = this.#host.limits;
    const unsent = this.#transport.bufferedAmount;
    // A peer that reads none of its responses.
    if (unsent > 0 && sweeps.writeTimeout > 0) {
      if (this.#writeStall < 0 || unsent < this.#unsentSeen) {
        this.#writeStall = tick;
      } else if (tick - this.#writeStall >= sweeps.writeTimeout) {
        this.#timedOut(
          new ConnectionTimeoutError(
            "write",
            timeouts.writeTimeout,
            `${unsent} bytes unsent`,
          ),
        );
        this.#transport.close();
        return;
      }
      this.#unsentSeen = unsent;
    } else {
      this.#writeStall = -1;
    }
    if (this.#state === OPEN) {
      const reading = !this.#paused;
      // A frame left incomplete: a stalled or trickling (slowloris) peer.
      const partial = this.#decoder.bufferedBytes;
      if (partial > 0 && reading && sweeps.frameTimeout > 0) {
        if (this.#frameStall < 0 || this.#frames !== this.#frameMark) {
          this.#frameStall = tick;
          this.#frameMark = this.#frames;
        } else if (tick - this.#frameStall >= sweeps.frameTimeout) {
          this.#timedOut(
            new ConnectionTimeoutError(
              "frame",
              timeouts.frameTimeout,
              `${partial} bytes of it received`,
            ),
          );
          this.#shutdown();
          return;
        }
      } else {
        this.#frameStall = -1;
      }
      // A peer that sends nothing while owed nothing.
      if (
        sweeps.idleTimeout > 0 && reading && unsent === 0 &&
        this.#pending === 0 && partial === 0 &&
        tick - this.#lastRead >= sweeps.idleTimeout
      ) {
        this.#timedOut(
          new ConnectionTimeoutError("idle", timeouts.idleTimeout),
        );
        this.#shutdown();
        return;
      }
    }
    // A handler that does not settle: the oldest unsettled one is first.
    if (this.#pending > 0 && sweeps.handlerTimeout > 0) {
      const slots = this.#slots;
      for (let i = this.#slotHead; i < slots.length; i++) {
        if (slots[i].response !== null) continue;
        if (tick - slots[i].tick >= sweeps.handlerTimeout) {
          this.#host.stats.handlerTimeouts++;
          this.#handlerFailed(
            new ConnectionTimeoutError("handler", timeouts.handlerTimeout),
          );
          return;
        }
        break;
      }
    }
    this.#settleMemory();
  }

  #timedOut(error: ConnectionTimeoutError): void {
    const stats = this.#host.stats;
    if (error.reason === "idle") stats.idleTimeouts++;
    else if (error.reason === "frame") stats.frameTimeouts++;
    else if (error.reason === "write") stats.writeTimeouts++;
    this.#host.report(error, this.context);
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
    if (this.#assembling !== null) this.#host.pool.give(this.#assembling);
    this.#assembling = null;
    // Requests of handlers still running stay theirs; the rest is free.
    if (this.#pending === 0 && this.#lentLarge !== null) {
      for (const buffer of this.#lentLarge) this.#host.pool.give(buffer);
    }
    this.#lentLarge = null;
    this.#deferred = null;
    this.#host.limits.forget(this);
    this.#host.limits.account(-this.#held);
    this.#held = 0;
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
    if (
      headerAt < 0 && this.#assembling !== null &&
      request.buffer === this.#assembling.buffer
    ) {
      (this.#lentLarge ??= []).push(this.#assembling);
      this.#assembling = null;
    }
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
        const start = this.#chunkStart + headerAt;
        if (start !== this.#echoEnd) {
          this.#endEcho();
          this.#echoStart = start;
        }
        this.#echoEnd = start + FRAME_HEADER_SIZE + request.length;
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
    for (const buffer of this.#lentLarge!) this.#host.pool.give(buffer);
    this.#lentLarge = null;
  }

  /** Queues the current echoed run, if any. */
  #endEcho(): void {
    if (this.#echoEnd < 0) return;
    this.#outbound.addFrames(
      new Uint8Array(
        this.#chunkBuffer!,
        this.#echoStart,
        this.#echoEnd - this.#echoStart,
      ),
      this.#readViewsWritable,
    );
    this.#echoEnd = -1;
  }

  #respond(response: Uint8Array): void {
    this.#endEcho();
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
    if (this.#lentLarge !== null) this.#releaseLarge();
    this.#recount();
    this.#updateBackpressure();
  }

  #updateBackpressure(): void {
    if (this.#state !== OPEN) return;
    const unsent = this.#transport.bufferedAmount;
    const over = unsent > this.#host.highWaterMark ||
      this.#pending >= this.#host.maxPendingRequests || this.#waitingMemory ||
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
    this.#endEcho();
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
