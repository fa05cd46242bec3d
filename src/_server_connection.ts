import { FrameDecoder } from "./frame_decoder.ts";
import { assertFrameSize } from "./frame_encoder.ts";
import { COPY_LIMIT, Outbound } from "./_outbound.ts";
import type { BufferPool } from "./_buffer_pool.ts";
import { ConnectionMemory, type LentBuffer } from "./_connection_memory.ts";
import type { Transport, TransportEvents } from "./transport.ts";
import {
  type ConnectionActivity,
  ConnectionStalls,
  expiredTimeout,
  idleExpired,
  type ServerLimits,
  type ServerLimitsEvents,
} from "./_server_limits.ts";
import { ConnectionTimeoutError, FrameTooLargeError } from "./errors.ts";
import {
  FRAME_HEADER_SIZE,
  type Framing,
  readFrameLength,
} from "./_frame_header.ts";
import type { LatencyHistogram } from "./latency_histogram.ts";
import type {
  Application,
  CloseReason,
  Handler,
  RequestContext,
} from "./handler.ts";
import type { ServerStats } from "./server_stats.ts";
import type { FrameFormatOption } from "./frame_format.ts";
import type { Listed } from "./_connection_list.ts";

/** One synchronous handler call in this many is timed. */
const SYNC_SAMPLE_MASK = 63;
let syncCalls = 0;

/** What a connection needs from its server. */
export interface ConnectionHost {
  readonly handler: Handler<unknown>;
  /**
   * The handler is the built-in echo: each request is its own response, and
   * no context is made for it.
   */
  readonly echo: boolean;
  /** Requests are lent (views of reused memory), not given. */
  readonly zeroCopy: boolean;
  readonly onConnection: Application<unknown>["onConnection"];
  readonly onClose: Application<unknown>["onClose"];
  readonly onHandlerError: Application<unknown>["onHandlerError"];
  readonly maxFrameSize: number;
  /** The frame format, resolved with maxFrameSize. */
  readonly framing: Framing;
  /**
   * Responses go out as their handlers settle (`ordering: "any"`), not in
   * request order; only with a request id field.
   */
  readonly anyOrder: boolean;
  /** The queues of reads' responses, by `readViewsWritable` (see readOutboundsFor). */
  readonly readOutbounds: readonly Outbound[];
  readonly highWaterMark: number;
  readonly maxPendingRequests: number;
  readonly closeTimeout: number;
  /** The drain notice written before the FIN of a connection closed by the server, or null. */
  readonly drainNotice: Uint8Array | null;
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

/**
 * An async handler call, and the response slot held while it or an earlier
 * one is awaited.
 */
interface Slot {
  /** The response; {@linkcode ANSWERED} once written ahead of its turn, or given up. */
  response: Uint8Array | null;
  /** The sweep in which the request arrived (for handlerTimeout). */
  tick: number;
  /** When the handler was called (performance.now()), for its time. */
  started: number;
  /** The request's id, or an 8-byte id's low and high 32 bits (0 without an id field). */
  idLow: number;
  idHigh: number;
  /** The request, for `onHandlerError` if it times out (`ordering: "any"`); else null. */
  request: Uint8Array | null;
  /** Its handler timed out (`ordering: "any"`): what it settles with is discarded. */
  dropped: boolean;
  /** The pooled buffer lent to its request (`zeroCopy`), or null. */
  lent: LentBuffer | null;
}

/** The response of a slot answered ahead of the slots before it, or given up. */
const ANSWERED = new Uint8Array(0);

/** The shared empty slot list: a connection allocates its own on first use. */
const NO_SLOTS: Slot[] = [];

const OPEN = 0;
/** No more requests are taken: answer what was received, then close. */
const ENDING = 1;
/** Responses sent, FIN sent: waiting for the transport to close. */
const FINISHED = 2;
const CLOSED = 3;

/** How a connection closes, once it starts to: made on first need. */
interface Ending {
  /** Why, once known, and the error behind it. */
  reason: CloseReason | null;
  error: unknown;
  /** Closes the transport by force once the close timeout expires. */
  timer: ReturnType<typeof setTimeout> | undefined;
  deadline: number;
  /** `waitClosed()` callers. */
  waiters: Array<() => void> | null;
  /**
   * A request was given up on and left unanswered (`ordering: "any"`): the
   * connection may not end with a drain notice, which tells the client
   * that every unanswered request was never processed.
   */
  unanswered: boolean;
}

/**
 * The connection whose read is being decoded, and the queue its responses go
 * to. Every connection's reads share one queue per kind of transport, since
 * each read's responses are flushed before `data()` returns; a read decoded
 * inside another (a handler writing to an in-process transport) gets a queue
 * of its own. Responses of async handlers wait in the connection's own queue.
 */
let decoding: ServerConnection | null = null;
let decodingOutbound: Outbound | null = null;
const readOutbounds = [new Outbound(false), new Outbound(true)];

/**
 * The queues of reads' responses for a server of `framing`: the default
 * format's are shared by every server.
 */
export function readOutboundsFor(framing: Framing): readonly Outbound[] {
  return framing.isDefault
    ? readOutbounds
    : [new Outbound(false, framing), new Outbound(true, framing)];
}

/** The transport `Outbound.flush` writes to, so no connection needs a closure of its own. */
let writeTarget: Transport | null = null;
const writeToTarget = (bytes: Uint8Array) => writeTarget!.write(bytes);
const discard = () => {};

/** Flushes `outbound` into `transport`, or discards it when null. */
function flushTo(outbound: Outbound, transport: Transport | null): void {
  const previous = writeTarget;
  writeTarget = transport;
  try {
    outbound.flush(transport === null ? discard : writeToTarget);
  } finally {
    writeTarget = previous;
  }
}

/** What `sweep()` hands the timeout check, reused: the check is synchronous. */
const activity: ConnectionActivity = {
  lastRead: 0,
  unsent: 0,
  reading: false,
  partial: 0,
  frames: 0,
  pending: 0,
  oldestPending: -1,
};

/**
 * Serves one connection: decode, call the handler, answer in order.
 *
 * An idle connection holds little: this object and its transport. The
 * request context, a decoder for frames that span reads, the stall trackers,
 * the memory bookkeeping of large frames, the closing state and the queue of
 * async responses are made when first needed, and the ones that empty out
 * again are dropped.
 */
export class ServerConnection
  implements TransportEvents, ServerLimitsEvents, Listed<ServerConnection> {
  /** Its neighbours in its server's list of open connections. */
  listPrev: ServerConnection | null = null;
  listNext: ServerConnection | null = null;
  #host: ConnectionHost;
  #transport: Transport;
  #id: number;
  /** Made on first use (see `#context()`). */
  #contextObject: RequestContext<unknown> | null = null;
  /** Assembles a frame that spans reads; null while reads hold whole frames. */
  #decoder: FrameDecoder | null = null;
  /** Responses of async handlers waiting to be flushed, or null. */
  #outbound: Outbound | null = null;
  /** Responses from the first unanswered async request on, in request order. */
  #slots: Slot[] = NO_SLOTS;
  #slotHead = 0;
  /** Handler promises not yet settled, whose answers are awaited. */
  #pending = 0;
  /**
   * Handler promises given up on (timed out, `ordering: "any"`) and not yet
   * settled: their requests are still theirs.
   */
  #abandoned = 0;
  #state = OPEN;
  #paused = false;
  #flushScheduled = false;
  /**
   * Responses of handlers (not echoed frames) are queued and not yet
   * written, or being written: a lent request buffer one of them may view
   * cannot go back yet.
   */
  #unwritten = false;
  /**
   * The chunk being decoded, and whether a view of it outlives the read. Its
   * `buffer` is read only when needed: on JavaScriptCore, reading the buffer
   * of a view the runtime made costs an allocation.
   */
  #chunk: Uint8Array | null = null;
  #chunkRetained = false;
  /** Bytes counted against the server's budget: partial frame, lent buffers, unsent responses. */
  #held = 0;
  /** Large-frame memory and a frame waiting for memory, or null. */
  #memory: ConnectionMemory | null = null;
  /** Requests received, for the frame timeout. */
  #frames = 0;
  /** The sweep of the last read, for the idle timeout. */
  #lastRead: number;
  /** Stalled-frame and stalled-write tracking, while there is a stall to watch. */
  #stalls: ConnectionStalls | null = null;
  /** Why and how it closes, once it starts to. */
  #ending: Ending | null = null;

  constructor(host: ConnectionHost, transport: Transport, id: number) {
    this.#host = host;
    this.#transport = transport;
    this.#id = id;
    this.#lastRead = host.limits.tick;
  }

  /**
   * The context handlers and hooks see, made on first use. A server with
   * hooks makes it as the connection opens, so its addresses are those of
   * the open socket whatever happens later.
   */
  #context(): RequestContext<unknown> {
    return this.#contextObject ??= {
      connectionId: this.#id,
      remoteAddr: this.#transport.remoteAddr,
      localAddr: this.#transport.localAddr,
      state: {},
    };
  }

  /**
   * Calls `onConnection`, before the transport starts; false (reported) if
   * it threw: the connection is then closed once started.
   */
  opening(): boolean {
    const host = this.#host;
    if (host.onConnection === undefined && host.onClose === undefined) {
      return true;
    }
    const context = this.#context();
    const onConnection = host.onConnection;
    if (onConnection === undefined) return true;
    try {
      onConnection(context);
      return true;
    } catch (error) {
      host.stats.handlerErrors++;
      host.report(error, context);
      this.#closing("handler", error);
      return false;
    }
  }

  #end(): Ending {
    return this.#ending ??= {
      reason: null,
      error: undefined,
      timer: undefined,
      deadline: Infinity,
      waiters: null,
      unanswered: false,
    };
  }

  /** Records why the connection closes, unless a reason came first. */
  #closing(reason: CloseReason, error?: unknown): void {
    const ending = this.#end();
    if (ending.reason !== null) return;
    ending.reason = reason;
    ending.error = error;
  }

  /** Resolves once the transport has closed. */
  waitClosed(): Promise<void> {
    if (this.#state === CLOSED) return Promise.resolve();
    const ending = this.#end();
    return new Promise((resolve) => (ending.waiters ??= []).push(resolve));
  }

  data(chunk: Uint8Array): boolean {
    if (this.#state !== OPEN) return true; // draining a closing peer: discard
    const host = this.#host;
    host.stats.bytesIn += chunk.length;
    this.#lastRead = host.limits.tick;
    const memory = this.#memory;
    if (memory !== null && memory.deferred !== null) {
      // Waiting for memory, reads paused: keep what was already on its way.
      const deferred = memory.deferred;
      const joined = new Uint8Array(deferred.length + chunk.length);
      joined.set(deferred);
      joined.set(chunk, deferred.length);
      memory.deferred = joined;
      return true;
    }
    return this.#decode(chunk);
  }

  /**
   * The frame that waited for memory got `need` bytes reserved: decode on,
   * read on.
   */
  admit(need: number): void {
    const memory = this.#memory!;
    const deferred = memory.deferred;
    memory.deferred = null;
    memory.admitted();
    if (deferred !== null && this.#state === OPEN) this.#decode(deferred);
    memory.returnUnused(need); // the connection is closing
    this.#updateBackpressure();
  }

  #decode(chunk: Uint8Array): boolean {
    this.#chunk = chunk;
    this.#chunkRetained = false;
    const outerConnection = decoding;
    const outerOutbound = decodingOutbound;
    // Responses of async handlers still queued go out first, in order.
    let outbound = this.#outbound;
    if (outbound === null) {
      const byReference = this.#transport.readViewsWritable === true;
      outbound = outerConnection === null
        ? this.#host.readOutbounds[byReference ? 1 : 0]
        : this.#outbound = new Outbound(byReference, this.#host.framing);
    }
    decoding = this;
    decodingOutbound = outbound;
    let done = false;
    try {
      outbound.echoFrom(chunk);
      try {
        const decoder = this.#decoder;
        const consumed = decoder === null
          ? this.#decodeWhole(chunk)
          : decoder.push(chunk);
        const memory = this.#memory;
        if (memory !== null && memory.waiting) {
          memory.deferred = chunk.slice(consumed);
          this.#host.stats.memoryDeferrals++;
        }
        // Back on a frame boundary: reads of whole frames need no decoder.
        if (this.#decoder?.bufferedBytes === 0) this.#decoder = null;
      } catch (error) {
        // Only decoding throws here: the handler is called inside a try.
        this.#host.stats.protocolErrors++;
        this.#host.report(error, this.#context());
        this.#closing("protocol", error);
        this.#shutdown();
      }
      this.#chunk = null;
      this.#flush();
      // A close during the read (a handler closed the server) finishes now,
      // after the answers of the read's handlers.
      if (this.#state === ENDING) this.#finishIfDone();
      done = true;
    } finally {
      decoding = outerConnection;
      decodingOutbound = outerOutbound;
      if (!done && outbound !== this.#outbound) {
        // A hook (onError) threw out of this read: the answers it queued
        // in the shared queue go out now, not in another connection's write.
        flushTo(outbound, this.#state < FINISHED ? this.#transport : null);
      }
    }
    return !this.#chunkRetained;
  }

  /**
   * Hands each whole frame of `chunk` to `#onRequest` as a view, as
   * `FrameDecoder.push()` does, without a decoder; a frame that continues in
   * the next read starts one.
   *
   * @returns The bytes of `chunk` consumed (see `FrameDecoder.push()`).
   */
  #decodeWhole(chunk: Uint8Array): number {
    const end = chunk.length;
    const host = this.#host;
    if (!host.framing.isDefault) return this.#decodeFramed(chunk);
    const max = host.maxFrameSize;
    // The built-in echo needs no view of its requests: each is its own
    // response. (On JavaScriptCore, a view costs an ArrayBuffer object for
    // the runtime's read buffer too.)
    const echo = host.echo;
    let buffer: ArrayBufferLike | null = null;
    let offset = 0;
    while (end - offset >= FRAME_HEADER_SIZE) {
      const length = readFrameLength(chunk, offset);
      if (length > max) throw new FrameTooLargeError("decode", length, max);
      const start = offset + FRAME_HEADER_SIZE;
      if (start + length > end) break;
      if (echo && this.#slotHead === this.#slots.length) {
        this.#onEcho(offset, start + length);
      } else {
        buffer ??= chunk.buffer;
        this.#onRequest(
          new Uint8Array(buffer, chunk.byteOffset + start, length),
          offset,
        );
      }
      offset = start + length;
    }
    return this.#decodeRest(chunk, offset);
  }

  /** `#decodeWhole()` for a frame format other than the default. */
  #decodeFramed(chunk: Uint8Array): number {
    const end = chunk.length;
    const host = this.#host;
    const framing = host.framing;
    const echo = host.echo;
    let buffer: ArrayBufferLike | null = null;
    let offset = 0;
    while (offset < end) {
      const frameEnd = framing.frameEnd(chunk, offset, end);
      if (frameEnd === -2) throw framing.error;
      if (frameEnd < 0 || frameEnd > end) break;
      if (echo && this.#slotHead === this.#slots.length) {
        const id = framing.id;
        if (id !== null && frameEnd - framing.start < id.end) {
          throw id.tooShort("read request id", frameEnd - framing.start);
        }
        this.#onEcho(offset, frameEnd);
      } else {
        buffer ??= chunk.buffer;
        const start = framing.start;
        this.#onRequest(
          new Uint8Array(buffer, chunk.byteOffset + start, frameEnd - start),
          offset,
        );
      }
      offset = frameEnd;
    }
    return this.#decodeRest(chunk, offset);
  }

  /**
   * Starts a decoder for the frame at `offset` in `chunk`, which continues
   * in the next read, and hands it the rest of the chunk.
   */
  #decodeRest(chunk: Uint8Array, offset: number): number {
    const end = chunk.length;
    if (offset === end) return end;
    const decoder = this.#decoder = new FrameDecoder(
      (frame, headerAt) => this.#onRequest(frame, headerAt),
      {
        // The server's format, already resolved with its maxFrameSize.
        format: this.#host.framing as unknown as FrameFormatOption,
        allocate: (length, frameLength) => this.#allocate(length, frameLength),
        release: (buffer) => this.#memory?.release(buffer),
      },
    );
    return offset + decoder.push(chunk.subarray(offset));
  }

  /**
   * The decoder's `allocate`: memory for a frame that spans reads, or null
   * to wait. The whole frame is counted against the budget when its first
   * buffer is asked for; the buffer itself grows as its bytes arrive.
   */
  #allocate(length: number, frameLength: number): Uint8Array | null {
    const host = this.#host;
    // A request is given to its handler, not lent, unless zeroCopy: large
    // frames are then assembled in fresh memory instead of pooled buffers.
    const memory = this.#memory ??= new ConnectionMemory(
      host.limits,
      host.zeroCopy ? host.pool : null,
      this,
    );
    const first = !memory.assembling;
    const buffer = memory.allocate(length, frameLength);
    // Reserved in the budget with the frame's first buffer.
    if (buffer !== null && first) this.#held += frameLength;
    return buffer;
  }

  /** Checks the timeouts and recounts memory; called by the server's sweep. */
  sweep(tick: number): void {
    if (this.#state >= FINISHED) return;
    const limits = this.#host.limits;
    const unsent = this.#transport.bufferedAmount;
    if (
      unsent === 0 && this.#held === 0 && this.#pending === 0 &&
      this.#abandoned === 0 &&
      this.#decoder === null && this.#memory === null &&
      this.#stalls === null && !this.#paused
    ) {
      // Quiet, as most connections are: only the idle timeout can expire,
      // and there is nothing to recount.
      const expired = this.#state === OPEN
        ? idleExpired(limits, tick, this.#lastRead)
        : null;
      if (expired !== null) this.#timedOut(expired);
      return;
    }
    activity.lastRead = this.#lastRead;
    activity.unsent = unsent;
    activity.reading = this.#state === OPEN && !this.#paused;
    activity.partial = this.#decoder?.bufferedBytes ?? 0;
    activity.frames = this.#frames;
    activity.pending = this.#pending;
    activity.oldestPending = this.#pending > 0 ? this.#oldestPending() : -1;
    let stalls = this.#stalls;
    if (stalls === null && ConnectionStalls.needed(limits, activity)) {
      stalls = this.#stalls = new ConnectionStalls();
    }
    const expired = expiredTimeout(limits, tick, activity, stalls);
    if (stalls !== null && stalls.clear) this.#stalls = null;
    if (expired === null) this.#settleMemory();
    else this.#timedOut(expired);
  }

  /** The oldest unsettled handler call, or null. */
  #oldestSlot(): Slot | null {
    const slots = this.#slots;
    for (let i = this.#slotHead; i < slots.length; i++) {
      if (slots[i].response === null) return slots[i];
    }
    return null;
  }

  /** Whether `slot`'s call has run for handlerTimeout or longer. */
  #overdue(slot: Slot | null): boolean {
    return slot !== null &&
      performance.now() - slot.started >=
        this.#host.limits.timeouts.handlerTimeout;
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
      // Sweeps count from the one before the call: it is given up only
      // once its own time is up, never early.
      if (!this.#overdue(this.#oldestSlot())) return;
      if (this.#host.anyOrder) {
        this.#dropExpired(error);
        return;
      }
      stats.handlerTimeouts++;
      this.#handlerFailed(error);
      return;
    }
    this.#closing("timeout", error);
    if (error.reason === "idle") stats.idleTimeouts++;
    else if (error.reason === "frame") stats.frameTimeouts++;
    else stats.writeTimeouts++;
    this.#host.report(error, this.#context());
    if (error.reason === "write") this.#transport.close();
    else this.#shutdown();
  }

  end(): void {
    const discarded = this.#decoder?.end() ?? 0;
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
    const host = this.#host;
    const ending = this.#ending;
    let reason: CloseReason = error !== undefined ? "error" : "peer";
    let closeError = error;
    if (ending !== null) {
      clearTimeout(ending.timer);
      if (ending.reason !== null) {
        reason = ending.reason;
        closeError = ending.error;
      }
    }
    this.#slots = NO_SLOTS;
    this.#slotHead = 0;
    this.#decoder?.end();
    this.#decoder = null;
    this.#outbound = null;
    // Requests of handlers still running stay theirs; the rest is free.
    this.#memory?.close(this.#pending !== 0 || this.#abandoned !== 0);
    this.#memory = null;
    if (this.#held !== 0) host.limits.account(-this.#held);
    this.#held = 0;
    this.#stalls = null;
    host.removed(this);
    const waiters = ending?.waiters ?? null;
    if (waiters !== null) {
      ending!.waiters = null;
      for (const resolve of waiters) resolve();
    }
    const onClose = host.onClose;
    if (onClose !== undefined) {
      const context = this.#context();
      try {
        onClose(context, reason, closeError);
      } catch (hookError) {
        host.report(hookError, context);
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
    const ending = this.#end();
    const deadline = performance.now() + closeTimeout;
    if (ending.timer !== undefined) {
      if (deadline >= ending.deadline) return;
      clearTimeout(ending.timer); // a shorter wait was asked for
    }
    ending.deadline = deadline;
    ending.timer = setTimeout(() => this.#transport.close(), closeTimeout);
  }

  /**
   * `#onRequest()` for the built-in echo handler, of a frame whole in the
   * read from `frameStart` up to `frameEnd`, while no answer is awaited
   * ahead: the frame is queued as its own response, with the same counts and
   * handler-time sample, and no view of it is made.
   */
  #onEcho(frameStart: number, frameEnd: number): void {
    this.#frames++;
    if (this.#state !== OPEN) return;
    const host = this.#host;
    const stats = host.stats;
    stats.framesIn++;
    if (!host.zeroCopy) this.#chunkRetained = true; // owned by the "handler"
    if ((++syncCalls & SYNC_SAMPLE_MASK) === 0) {
      const called = performance.now();
      host.handlerTime.record((performance.now() - called) * 1000);
    }
    decodingOutbound!.echo(frameStart, frameEnd);
    stats.framesOut++;
    stats.bytesOut += frameEnd - frameStart;
  }

  /** `headerAt`: where the frame starts in the chunk, or -1 when assembled. */
  #onRequest(request: Uint8Array, headerAt: number): void {
    const lent = headerAt < 0 ? this.#memory?.handedOut(request) ?? null : null;
    this.#frames++;
    if (this.#state !== OPEN) return;
    const host = this.#host;
    const id = host.framing.id;
    let idLow = 0;
    let idHigh = 0;
    if (id !== null) {
      if (request.length < id.end) {
        throw id.tooShort("read request id", request.length);
      }
      idLow = id.low(request, 0);
      idHigh = id.high(request, 0);
    }
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
      result = host.echo ? request : host.handler(request, this.#context());
    } catch (error) {
      result = this.#recover(error, request);
      if (result === undefined) return;
      recovered = true;
    }
    if (sampled && result instanceof Uint8Array) {
      host.handlerTime.record((performance.now() - called) * 1000);
    }
    if (!(result instanceof Uint8Array) && !isPromise(result)) {
      // Neither bytes nor a promise: onHandlerError may answer instead.
      result = this.#recover(notBytes(result), request);
      if (result === undefined) return;
      recovered = true;
    }
    if (
      result instanceof Uint8Array &&
      (this.#slotHead === this.#slots.length || host.anyOrder)
    ) {
      // Fast path: no promise, nothing awaited ahead (or nothing to wait for).
      if (
        result === request && headerAt >= 0 &&
        (id === null ||
          (id.low(request, 0) === idLow && id.high(request, 0) === idHigh))
      ) {
        // The response frame is the request frame, whole in this read (it
        // ends where the request does), its id unchanged.
        const frameEnd = host.framing.isDefault
          ? headerAt + FRAME_HEADER_SIZE + request.length
          : request.byteOffset - this.#chunk!.byteOffset + request.length;
        decodingOutbound!.echo(headerAt, frameEnd);
        host.stats.framesOut++;
        host.stats.bytesOut += frameEnd - headerAt;
        return;
      }
      this.#respond(result, idLow, idHigh);
      if (lent !== null) lent.holders--;
      return;
    }
    const slot: Slot = {
      response: null,
      tick: host.limits.tick,
      // An async call is always timed: from its call when sampled, else
      // from the return of its promise.
      started: sampled ? called : performance.now(),
      idLow,
      idHigh,
      request: host.anyOrder ? request : null,
      dropped: false,
      lent,
    };
    if (result instanceof Uint8Array) {
      slot.response = result; // due after the answers awaited ahead
    } else {
      this.#pending++;
      this.#chunkRetained = true; // the handler may still read the request view
      this.#await(slot, result, request, recovered);
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
        response = onHandlerError(error, request, this.#context());
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
    if (slot.dropped) {
      this.#abandonedSettled(slot);
      return;
    }
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
    if (slot.dropped) {
      this.#abandonedSettled(slot);
      return;
    }
    this.#pending--;
    this.#host.handlerTime.record((performance.now() - slot.started) * 1000);
    if (this.#state >= FINISHED) return;
    if (this.#host.anyOrder) {
      // Out of order: written now, with its request's id.
      this.#respond(response, slot.idLow, slot.idHigh);
      slot.response = ANSWERED;
      slot.request = null;
      if (slot.lent !== null) slot.lent.holders--;
    } else {
      slot.response = response;
    }
    this.#advanceSlots();
    this.#scheduleFlush();
  }

  /**
   * Writes the responses now due in order, and forgets the slots answered
   * from the head on; with `ordering: "any"`, also sweeps out the answered
   * slots behind an old pending one once they are most of the list.
   */
  #advanceSlots(): void {
    const slots = this.#slots;
    let head = this.#slotHead;
    while (head < slots.length && slots[head].response !== null) {
      const slot = slots[head];
      if (slot.response !== ANSWERED) {
        this.#respond(slot.response!, slot.idLow, slot.idHigh);
        if (slot.lent !== null) slot.lent.holders--;
      }
      head++;
    }
    if (head === slots.length) {
      this.#slots = NO_SLOTS;
      head = 0;
    } else if (
      this.#host.anyOrder && slots.length - head >= 64 &&
      this.#pending * 2 < slots.length - head
    ) {
      this.#slots = slots.slice(head).filter((s) => s.response === null);
      head = 0;
    }
    this.#slotHead = head;
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    queueMicrotask(() => {
      this.#flushScheduled = false;
      this.#flush();
      this.#finishIfDone();
    });
  }

  /**
   * `ordering: "any"`: gives up the handler calls older than
   * `handlerTimeout`, each on its own. `onHandlerError` may answer each
   * (with its request's id); otherwise it gets no answer and `error` is
   * reported. The connection and the other requests go on.
   */
  #dropExpired(error: ConnectionTimeoutError): void {
    const host = this.#host;
    const slots = this.#slots;
    for (let i = this.#slotHead; i < slots.length; i++) {
      const slot = slots[i];
      if (slot.response !== null) continue;
      // Slots are in arrival order: the rest are younger.
      if (!this.#overdue(slot)) break;
      slot.dropped = true;
      slot.response = ANSWERED;
      this.#pending--;
      this.#abandoned++;
      host.stats.handlerTimeouts++;
      const request = slot.request!;
      slot.request = null;
      this.#answerDropped(error, request, slot);
      if (this.#slots !== slots) return; // the connection is closing
    }
    this.#advanceSlots();
    this.#scheduleFlush();
  }

  /** Asks `onHandlerError` for the answer of a request given up on. */
  #answerDropped(
    error: ConnectionTimeoutError,
    request: Uint8Array,
    dropped: Slot,
  ): void {
    const host = this.#host;
    const onHandlerError = host.onHandlerError;
    let response: unknown;
    if (onHandlerError !== undefined) {
      try {
        response = onHandlerError(error, request, this.#context());
      } catch (hookError) {
        this.#handlerFailed(hookError);
        return;
      }
    }
    if (response instanceof Uint8Array) {
      this.#respond(response, dropped.idLow, dropped.idHigh);
    } else if (isPromise(response)) {
      // Awaited as a new call, with its own time limit.
      const slot: Slot = {
        ...dropped,
        response: null,
        tick: host.limits.tick,
        started: performance.now(),
        request,
        dropped: false,
      };
      if (slot.lent !== null) slot.lent.holders++; // as long as the hook runs
      this.#pending++;
      this.#slots.push(slot);
      this.#await(slot, response, request, true);
    } else if (response !== undefined) {
      this.#handlerFailed(
        new TypeError(
          "Cannot send error response: onHandlerError returned " +
            `${typeOf(response)}, not a Uint8Array`,
          { cause: error },
        ),
      );
    } else {
      this.#end().unanswered = true;
      host.report(error, this.#context());
    }
  }

  /** A handler given up on has settled: its request memory is free. */
  #abandonedSettled(slot: Slot): void {
    this.#abandoned--;
    if (slot.lent !== null) slot.lent.holders--;
    this.#settleMemory();
  }

  /**
   * Gives back the pooled buffers of requests answered, once their answers
   * are written (a response may be a view of its request): no response is
   * queued on this connection and every write has gone out.
   */
  #releaseLarge(memory: ConnectionMemory): void {
    if (this.#unwritten || this.#transport.bufferedAmount !== 0) return;
    memory.giveBackLent();
  }

  /** Queues `response`, with its request's id when the format has one. */
  #respond(response: Uint8Array, idLow: number, idHigh: number): void {
    const framing = this.#host.framing;
    try {
      if (framing.isDefault) assertFrameSize(response, framing.maxFrameSize);
      else framing.checkOutgoing(response);
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
    stats.bytesOut += framing.isDefault
      ? FRAME_HEADER_SIZE + response.length
      : framing.frameSize(response);
    const outbound = decoding === this
      ? decodingOutbound!
      : this.#outbound ??= new Outbound(
        this.#transport.readViewsWritable === true,
        framing,
      );
    if (framing.id === null) outbound.add(response);
    else outbound.addWithId(response, idLow, idHigh);
    this.#unwritten = true;
  }

  #handlerFailed(error: unknown): void {
    if (this.#state >= FINISHED) return;
    this.#host.stats.handlerErrors++;
    this.#host.report(error, this.#context());
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

  /**
   * Writes the queued responses (discards them once FINISHED); the
   * connection's own queue is dropped once empty.
   */
  #writeQueued(): void {
    const outbound = decoding === this ? decodingOutbound : this.#outbound;
    if (outbound === null) return;
    flushTo(outbound, this.#state < FINISHED ? this.#transport : null);
    if (outbound === this.#outbound) this.#outbound = null;
    this.#unwritten = false;
  }

  #flush(): void {
    this.#writeQueued();
    this.#settleMemory();
  }

  /**
   * After writes, completions or drains: gives back pooled request memory no
   * longer in use, recounts this connection's share of the budget, then
   * pauses or resumes reading with the count up to date.
   */
  #settleMemory(): void {
    if (this.#state === CLOSED) return; // its memory was given back
    const memory = this.#memory;
    const unsent = this.#transport.bufferedAmount;
    let held = unsent + (this.#decoder?.pendingFrameSize ?? 0);
    if (memory !== null) {
      if (memory.lending) this.#releaseLarge(memory);
      held += memory.lentBytes;
      if (memory.idle) this.#memory = null;
    }
    if (held !== this.#held) {
      const delta = held - this.#held;
      this.#held = held;
      this.#host.limits.account(delta);
    }
    this.#updateBackpressure();
  }

  #updateBackpressure(): void {
    if (this.#state !== OPEN) return;
    const host = this.#host;
    const unsent = this.#transport.bufferedAmount;
    const over = unsent > host.highWaterMark ||
      this.#pending + this.#abandoned >= host.maxPendingRequests ||
      (this.#memory?.waiting ?? false) ||
      (unsent > 0 && host.limits.overBudget);
    if (over && !this.#paused) {
      this.#paused = true;
      host.stats.backpressurePauses++;
      this.#transport.pause();
    } else if (!over && this.#paused) {
      this.#paused = false;
      this.#transport.resume();
    }
  }

  /**
   * Whether the connection ends with every request it processed answered,
   * by the server's choice: on shutdown, or an idle or frame timeout (not
   * a handler or protocol error, or the peer's own end).
   */
  #mayNotify(): boolean {
    const ending = this.#ending;
    if (ending === null || ending.unanswered) return false;
    if (ending.reason === "shutdown") return true;
    const error = ending.error;
    return ending.reason === "timeout" &&
      error instanceof ConnectionTimeoutError &&
      (error.reason === "idle" || error.reason === "frame");
  }

  #finishIfDone(): void {
    if (this.#state !== ENDING || this.#slotHead < this.#slots.length) return;
    if (decoding === this && this.#chunk !== null) return; // after the read
    this.#writeQueued();
    const notice = this.#host.drainNotice;
    if (notice !== null && this.#mayNotify()) this.#transport.write(notice);
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
