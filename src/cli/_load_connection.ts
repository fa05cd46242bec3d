/**
 * One connection of {@linkcode runLoadTest}: it keeps `pipeline` requests in
 * flight and matches each response to its request, by order (a ring of
 * slots), or, for a format with a request id, by the id (a stack of free
 * slots, the slot in the id's low bits).
 *
 * @module
 */
import { FrameDecoder } from "../frame_decoder.ts";
import type { FrameFormatOption } from "../frame_format.ts";
import type { Framing } from "../_frame_header.ts";
import { idHigh, idLow, type RequestId } from "../_request_id.ts";
import type { LatencyHistogram } from "../latency_histogram.ts";
import type { Transport, TransportEvents } from "../transport.ts";
import type { RequestTemplate } from "./_request_frames.ts";
import { isSlowRequest } from "./_slow_requests.ts";

/** What every connection shares: counters, histograms, the clock of the run. */
export interface Shared {
  measuring: boolean;
  stopping: boolean;
  /** Measured requests still to send (requests mode), or Infinity. */
  budget: number;
  /** Measured requests sent. */
  sent: number;
  counted: number;
  bytesOut: number;
  /** Every measured request, or without `slow` only: see the next two. */
  histogram: LatencyHistogram;
  /** With `slow`: the measured requests the server answers at once. */
  fastHistogram: LatencyHistogram;
  /** With `slow`: the measured requests the server delays. */
  slowHistogram: LatencyHistogram;
  /** With `slow`: measured responses to requests the server delays. */
  slowCounted: number;
  /** The counters of `LoadTestErrors` a connection adds to. */
  errors: Record<"closed" | "mismatch" | "protocol", number>;
  /** Measured responses that end the test (requests mode), or Infinity. */
  target: number;
  /** Called when `counted` reaches `target`. */
  reached(): void;
  /** Called when a connection fails. */
  settled(): void;
}

/** How a connection writes and matches its requests. */
export interface LoadRequests {
  template: RequestTemplate;
  /** The format; its `id`, if any, matches responses. */
  framing: Framing;
  /** What the decoder is given (the format as the user gave it). */
  format: FrameFormatOption | undefined;
  pipeline: number;
  verify: boolean;
  /** The server's `--slow` fraction, to tell fast requests from slow ones; or undefined. */
  slow: number | undefined;
}

/**
 * The most requests in flight a connection may keep with `id`: slots take
 * the low bits of each id (a power of two of them), and at least one bit is
 * left for the slot's generation, so a late or repeated response is caught.
 */
export function maxPipelineFor(id: RequestId): number {
  return id.space / 2;
}

/**
 * Where the load tester writes each request's sequence number (up to 4
 * bytes, little-endian) in `template.wire`: at the payload's start, or just
 * after the request id when they would overlap; `bytes` is 0 when the
 * payload has no room left.
 *
 * @throws {RangeError} The id lies in the length field (a format that keeps whole frames).
 */
export function sequencePlace(
  template: RequestTemplate,
  framing: Framing,
): { at: number; bytes: number } {
  const { wire, payloadAt, handedOutAt } = template;
  let at = payloadAt;
  const id = framing.id;
  if (id !== null) {
    const idAt = handedOutAt + id.offset;
    const idEnd = idAt + id.width;
    if (idAt < payloadAt && idEnd > framing.offset) {
      throw new RangeError(
        `Cannot load-test: the request id field (${id.width} bytes at offset ${id.offset}) overlaps the length field`,
      );
    }
    if (at < idEnd && at + Math.min(4, wire.length - at) > idAt) at = idEnd;
  }
  return { at, bytes: Math.min(4, wire.length - at) };
}

/** One connection of the load test, driven by its transport's events. */
export class LoadConnection implements TransportEvents {
  #transport: Transport;
  #shared: Shared;
  #pipeline: number;
  /** One request on the wire; copies differ in the sequence number at #seqAt (and the id). */
  #wire: Uint8Array;
  #seqAt: number;
  /** Bytes of the sequence number: up to 4, no more than the payload. */
  #seqBytes: number;
  /** Where the frame handed out starts in #wire. */
  #handedOutAt: number;
  /** The response each request should get (the echo): the frame handed out. */
  #expected: Uint8Array;
  #payloadSize: number;
  #verify: boolean;
  /** The server's slow fraction, or -1: requests are then not classified. */
  #slow: number;
  #decoder: FrameDecoder;
  /** Per request in flight: when it was sent, its sequence number and whether it counts. */
  #sentAt: Float64Array;
  #seq: Uint32Array;
  #counts: Uint8Array;
  /** Per request in flight, with #slow: whether the server delays it. */
  #delayed: Uint8Array;
  #head = 0;
  #inFlight = 0;
  /** Requests in flight that are measured. */
  #measuredInFlight = 0;
  #nextSeq = 0;
  #now = 0;
  #answered = 0;
  done = false;
  #closedWaiter: (() => void) | null = null;

  // Matching by id: slot = id & #slotMask; the generation is the rest.
  #id: RequestId | null;
  #slotMask = 0;
  /** Slots (a power of two), times the generations, make the id space. */
  #slots = 1;
  #generations = 1;
  /** Free slots, a stack: #free[0..#freeTop). */
  #free: Int32Array = new Int32Array(0);
  #freeTop = 0;
  /** Per slot: its generation and the id in flight (halves), whether busy. */
  #generation: Float64Array = new Float64Array(0);
  #idLow: Uint32Array = new Uint32Array(0);
  #idHigh: Uint32Array = new Uint32Array(0);
  #busy: Uint8Array = new Uint8Array(0);

  constructor(transport: Transport, shared: Shared, requests: LoadRequests) {
    const { template, pipeline } = requests;
    this.#transport = transport;
    this.#shared = shared;
    this.#pipeline = pipeline;
    this.#wire = template.wire;
    const seq = sequencePlace(template, requests.framing);
    this.#seqAt = seq.at;
    this.#seqBytes = seq.bytes;
    this.#handedOutAt = template.handedOutAt;
    this.#payloadSize = template.wire.length - template.payloadAt;
    this.#expected = template.wire.subarray(template.handedOutAt);
    this.#verify = requests.verify;
    this.#slow = requests.slow ?? -1;
    this.#sentAt = new Float64Array(pipeline);
    this.#seq = new Uint32Array(pipeline);
    this.#counts = new Uint8Array(pipeline);
    this.#delayed = new Uint8Array(pipeline);
    const id = this.#id = requests.framing.id;
    if (id !== null) this.#initIds(id, pipeline);
    const onFrame = id === null
      ? (frame: Uint8Array) => this.#onResponse(frame)
      : (frame: Uint8Array) => this.#onIdResponse(frame);
    this.#decoder = new FrameDecoder(onFrame, {
      maxFrameSize: Math.max(this.#expected.length, 1 << 20),
      format: requests.format,
    });
    transport.start(this);
  }

  #initIds(id: RequestId, pipeline: number): void {
    let slots = 1;
    while (slots < pipeline) slots *= 2;
    this.#slots = slots;
    this.#slotMask = slots - 1;
    this.#generations = id.space / slots;
    // Each connection starts at its own generation: no two send the same ids.
    const start = Math.floor(Math.random() * this.#generations);
    this.#generation = new Float64Array(slots).fill(start);
    this.#idLow = new Uint32Array(slots);
    this.#idHigh = new Uint32Array(slots);
    this.#busy = new Uint8Array(slots);
    this.#free = new Int32Array(pipeline);
    for (let i = 0; i < pipeline; i++) this.#free[i] = pipeline - 1 - i;
    this.#freeTop = pipeline;
  }

  /** Measured requests sent on this open connection and not yet answered. */
  get unanswered(): number {
    return this.done ? 0 : this.#measuredInFlight;
  }

  /** Fills the pipeline. */
  begin(): void {
    this.#send(this.#pipeline);
  }

  /**
   * Closes the connection: gracefully when nothing is in flight, at once
   * otherwise; resolves once it is closed (forced after 2 s).
   */
  finish(): Promise<void> {
    if (this.done) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.#transport.close(), 2000);
      this.#closedWaiter = () => {
        clearTimeout(timer);
        resolve();
      };
      if (this.#inFlight === 0) this.#transport.closeWrite();
      else this.#transport.close();
    });
  }

  data(chunk: Uint8Array): boolean {
    if (this.done) return true;
    this.#now = performance.now();
    this.#answered = 0;
    try {
      this.#decoder.push(chunk);
    } catch {
      this.#fail("protocol");
      return true;
    }
    if (this.#answered > 0 && !this.#shared.stopping) {
      this.#send(this.#answered);
    }
    return true;
  }

  end(): void {
    this.#fail("closed");
  }

  drain(): void {}

  closed(): void {
    if (!this.done) this.#fail("closed");
    this.#closedWaiter?.();
  }

  /** A response, in order: it answers the oldest request in flight. */
  #onResponse(frame: Uint8Array): void {
    if (this.#inFlight === 0) throw new Error("unexpected response");
    const slot = this.#head;
    this.#head = slot + 1 === this.#pipeline ? 0 : slot + 1;
    this.#count(slot, frame);
  }

  /** A response with an id: it answers the request in flight with that id. */
  #onIdResponse(frame: Uint8Array): void {
    const id = this.#id!;
    if (frame.length < id.end) throw new Error("response without an id");
    const low = id.low(frame, 0);
    const slot = low & this.#slotMask;
    if (
      this.#busy[slot] !== 1 || this.#idLow[slot] !== low ||
      (id.width === 8 && this.#idHigh[slot] !== id.high(frame, 0))
    ) {
      throw new Error("response to no request in flight");
    }
    this.#busy[slot] = 0;
    this.#free[this.#freeTop++] = slot;
    this.#count(slot, frame);
  }

  /** Counts the response to the request of `slot`. */
  #count(slot: number, frame: Uint8Array): void {
    this.#inFlight--;
    this.#answered++;
    if (this.#verify && !this.#matches(frame, this.#seq[slot])) {
      this.#shared.errors.mismatch++;
    }
    if (this.#counts[slot] === 1) {
      const shared = this.#shared;
      this.#measuredInFlight--;
      // Past the end, a response is neither counted nor a timeout.
      if (shared.stopping) return;
      shared.counted++;
      const latency = (this.#now - this.#sentAt[slot]) * 1000;
      // With slow, each kind has its histogram; runLoadTest merges them.
      if (this.#slow < 0) shared.histogram.record(latency);
      else if (this.#delayed[slot] === 0) shared.fastHistogram.record(latency);
      else {
        shared.slowCounted++;
        shared.slowHistogram.record(latency);
      }
      if (shared.counted === shared.target) shared.reached();
    }
  }

  /**
   * Whether `frame` is the echo of the request with sequence number `seq`:
   * the template's bytes, the sequence number, and the id (already matched).
   */
  #matches(frame: Uint8Array, seq: number): boolean {
    const expected = this.#expected;
    if (frame.length !== expected.length) return false;
    const seqAt = this.#seqAt - this.#handedOutAt;
    const seqEnd = seqAt + this.#seqBytes;
    const id = this.#id;
    const idAt = id === null ? 0 : id.offset;
    const idEnd = id === null ? 0 : id.end;
    for (let i = 0; i < frame.length; i++) {
      if (
        frame[i] !== expected[i] && (i < seqAt || i >= seqEnd) &&
        (i < idAt || i >= idEnd)
      ) {
        return false;
      }
    }
    for (let i = seqAt; i < seqEnd; i++) {
      if (frame[i] !== ((seq >>> (8 * (i - seqAt))) & 0xff)) return false;
    }
    return true;
  }

  #send(wanted: number): void {
    const shared = this.#shared;
    let count = Math.min(wanted, this.#pipeline - this.#inFlight);
    let counted = 0;
    if (shared.measuring) {
      counted = Math.min(count, shared.budget);
      if (shared.budget !== Infinity) {
        count = counted; // requests mode: no unmeasured requests after the warm-up
        shared.budget -= counted;
      }
    }
    if (count <= 0) return;
    const wire = this.#wire;
    const size = wire.length;
    const seqBytes = this.#seqBytes;
    const seqAt = this.#seqAt;
    const out = new Uint8Array(count * size);
    const now = performance.now();
    const byId = this.#id !== null;
    let slot = (this.#head + this.#inFlight) % this.#pipeline;
    for (let i = 0; i < count; i++) {
      const at = i * size;
      out.set(wire, at);
      const seq = this.#nextSeq++ >>> 0;
      for (let b = 0; b < seqBytes; b++) {
        out[at + seqAt + b] = (seq >>> (8 * b)) & 0xff;
      }
      if (byId) slot = this.#assignId(out, at + this.#handedOutAt);
      this.#sentAt[slot] = now;
      this.#seq[slot] = seq;
      this.#counts[slot] = i < counted ? 1 : 0;
      if (this.#slow >= 0) {
        // The server hashes the frame as handed out: the same bytes.
        const start = at + this.#handedOutAt;
        const slow = isSlowRequest(out, this.#slow, start, at + size);
        this.#delayed[slot] = slow ? 1 : 0;
      }
      if (!byId) slot = slot + 1 === this.#pipeline ? 0 : slot + 1;
    }
    this.#inFlight += count;
    this.#measuredInFlight += counted;
    shared.sent += counted;
    if (shared.measuring) shared.bytesOut += count * this.#payloadSize;
    this.#transport.write(out);
  }

  /**
   * Takes a free slot for a request, writes the slot's next id into the
   * frame handed out at `at` in `out`, and returns the slot.
   */
  #assignId(out: Uint8Array, at: number): number {
    const slot = this.#free[--this.#freeTop];
    let generation = this.#generation[slot] + 1;
    if (generation === this.#generations) generation = 0;
    this.#generation[slot] = generation;
    const id = generation * this.#slots + slot;
    const low = idLow(id);
    const high = idHigh(id);
    this.#idLow[slot] = low;
    this.#idHigh[slot] = high;
    this.#busy[slot] = 1;
    this.#id!.writeHalves(out, at, low, high);
    return slot;
  }

  #fail(kind: "closed" | "protocol"): void {
    if (this.done) return;
    this.done = true;
    if (!this.#shared.stopping) this.#shared.errors[kind]++;
    this.#transport.close();
    this.#shared.settled();
  }
}
