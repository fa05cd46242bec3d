/**
 * What {@linkcode FrameDecoder} and {@linkcode FrameRangeDecoder} share:
 * their options, a frame begun in an earlier chunk (its header, or the part
 * handed out being assembled) and failure, for every frame format. Each
 * decoder keeps its own loop over the frames that lie inside a chunk, the
 * hot path, and comes here for the rest.
 *
 * @module
 */
import type { FrameFormatOption } from "./frame_format.ts";
import { Framing, framingOf } from "./_frame_header.ts";
import type { ProtocolError } from "./errors.ts";
import { maxFrameSizeOption } from "./_validate.ts";

/** Options for {@linkcode FrameDecoder} and {@linkcode FrameRangeDecoder}. */
export interface FrameDecoderOptions {
  /**
   * The frame format: a preset's name (`"u32le"`, `"u32be"`, `"u16be"`,
   * `"varint"`) or a {@linkcode FrameFormat}.
   *
   * @default {"u32le"}
   */
  format?: FrameFormatOption;
  /**
   * Largest frame handed out, in bytes (after `initialBytesToStrip`): the
   * payload, with the default format. A header that declares more is
   * rejected before any memory is set aside for it.
   *
   * @default {33554432}
   */
  maxFrameSize?: number;
  /**
   * Returns a buffer in which a frame spread over several chunks is
   * assembled: a `Uint8Array` of at least `length` and at most `frameLength`
   * bytes (the whole frame's buffer at once, if the caller has memory to
   * reuse) that nothing else
   * writes to until the frame has been handed to `onFrame` (or the buffer to
   * `release`). Lets a caller reuse large buffers instead of allocating one
   * per frame, and count them against a memory budget.
   *
   * A header alone never makes the decoder ask for its declared size: a
   * frame of up to 64 KiB gets its buffer at once, a larger one a buffer of
   * 64 KiB (or of the bytes already received) that grows eightfold, up to
   * the frame's exact length, as its bytes arrive. `frameLength` is the
   * length of the frame the buffer is for (`length` is less while it
   * grows), so a caller can count the whole frame against a budget when
   * its first buffer is asked for. The frame handed to `onFrame` is always
   * a buffer of exactly its length.
   *
   * It may return `null` to defer the frame (a server over its memory
   * budget does): `push()` then stops before that frame and returns how
   * many bytes of the chunk it consumed. Push the rest again later;
   * `allocate` is asked again.
   *
   * @default {(length) => new Uint8Array(length)}
   */
  allocate?: (length: number, frameLength: number) => Uint8Array | null;
  /**
   * Takes back a buffer from `allocate` that the decoder no longer uses: a
   * frame outgrew it, and its bytes were copied into a larger one.
   *
   * @default {nothing: the buffer is left to the garbage collector}
   */
  release?: (buffer: Uint8Array) => void;
}

/** Frames up to this length get their whole buffer when assembly starts. */
export const GROW_FROM = 64 * 1024;
/** How much a frame's buffer grows when its bytes outgrow it. */
const GROWTH = 8;

const allocateFresh = (length: number) => new Uint8Array(length);

/** How {@linkcode FrameAssembly} hands a frame it completed to its decoder. */
export interface FrameAssemblyEvents {
  /** A frame at `[start, end)` of the chunk being pushed, its header (or part of it) in earlier chunks. */
  inChunk(chunk: Uint8Array, start: number, end: number): void;
  /** A frame assembled from several chunks, in a buffer of its own. */
  joined(frame: Uint8Array): void;
}

/**
 * A frame begun in an earlier chunk. Positions count wire bytes from the
 * start of the frame: its header starts at 0, the part handed out at
 * `deliverFrom`, and the frame ends at `frameLength`.
 */
export class FrameAssembly {
  readonly framing: Framing;
  readonly allocate: (
    length: number,
    frameLength: number,
  ) => Uint8Array | null;
  readonly release: ((buffer: Uint8Array) => void) | null;
  /** The first bytes of a frame whose header is not complete yet. */
  header: Uint8Array | null = null; // allocated when a header spans reads
  headerFilled = 0;
  /** The frame being assembled across chunks, or null between frames. */
  partial: Uint8Array | null = null;
  /** Wire bytes of the assembled frame received so far. */
  received = 0;
  frameLength = 0;
  deliverFrom = 0;
  failed: ProtocolError | null = null;

  constructor(decoder: string, onFrame: unknown, options: FrameDecoderOptions) {
    if (typeof onFrame !== "function") {
      throw new TypeError(
        `Cannot create ${decoder}: onFrame is not a function`,
      );
    }
    const format = options.format;
    this.framing = format instanceof Framing ? format : framingOf(
      format,
      maxFrameSizeOption(options.maxFrameSize),
    );
    const allocate = options.allocate ?? allocateFresh;
    if (typeof allocate !== "function") {
      throw new TypeError(
        `Cannot create ${decoder}: allocate is not a function`,
      );
    }
    this.allocate = allocate;
    const release = options.release ?? null;
    if (release !== null && typeof release !== "function") {
      throw new TypeError(
        `Cannot create ${decoder}: release is not a function`,
      );
    }
    this.release = release;
  }

  get bufferedBytes(): number {
    return this.partial !== null ? this.received : this.headerFilled;
  }

  get pendingFrameSize(): number {
    return this.partial === null ? 0 : this.frameLength - this.deliverFrom;
  }

  /**
   * Reads the header of the frame at `at` (see `Framing.frameEnd`); a
   * malformed one fails the decoder.
   */
  frameEnd(chunk: Uint8Array, at: number, end: number): number {
    const frameEnd = this.framing.frameEnd(chunk, at, end);
    if (frameEnd === -2) this.failWith(this.framing.error!);
    return frameEnd;
  }

  /** Fails the decoder with `error`, a malformed header's. */
  failWith(error: ProtocolError): never {
    this.failed = error;
    this.end();
    throw error;
  }

  /**
   * Continues a frame begun in an earlier chunk; returns the offset after
   * it, or `-(offset + 1)` when `allocate` deferred it at `offset`.
   */
  continueFrame(chunk: Uint8Array, events: FrameAssemblyEvents): number {
    let partial = this.partial;
    if (partial === null) return this.#continueHeader(chunk, events);
    const take = Math.min(this.frameLength - this.received, chunk.length);
    const filled = this.received - this.deliverFrom; // < 0: bytes to skip
    if (filled + take > partial.length) {
      partial = this.#grow(partial, Math.max(filled, 0), filled + take);
      if (partial === null) return -1; // deferred: nothing consumed
    }
    const from = -filled; // in chunk; > 0: skipped
    if (from < take) {
      const skip = Math.max(from, 0);
      partial.set(
        chunk.subarray(skip, take),
        this.received + skip - this.deliverFrom,
      );
    }
    this.received += take;
    if (this.received < this.frameLength) return chunk.length;
    this.partial = null;
    this.received = 0;
    events.joined(partial);
    return take;
  }

  /** Completes the header kept from earlier chunks with `chunk`'s bytes. */
  #continueHeader(chunk: Uint8Array, events: FrameAssemblyEvents): number {
    const framing = this.framing;
    const header = this.header!;
    const before = this.headerFilled;
    const take = Math.min(framing.maxHeader - before, chunk.length);
    header.set(chunk.subarray(0, take), before);
    const frameEnd = this.frameEnd(header, 0, before + take);
    if (frameEnd < 0) {
      this.headerFilled = before + take;
      return chunk.length;
    }
    const start = framing.start;
    const inChunk = frameEnd - before; // the frame's bytes in this chunk
    if (inChunk <= chunk.length && start >= before) {
      this.headerFilled = 0;
      events.inChunk(chunk, start - before, inChunk);
      return inChunk;
    }
    // The frame needs a buffer of its own. While allocate defers it, its
    // whole header is kept (and counted as consumed).
    const buffer = this.#first(
      frameEnd - start,
      Math.min(frameEnd, before + chunk.length) - start,
    );
    if (buffer === null) {
      const headerEnd = framing.headerEnd;
      if (headerEnd <= before) return -1;
      this.headerFilled = headerEnd;
      return -(headerEnd - before + 1);
    }
    if (start < before) buffer.set(header.subarray(start, before));
    this.headerFilled = 0;
    this.frameLength = frameEnd;
    this.deliverFrom = start;
    this.received = before;
    this.partial = buffer;
    return this.continueFrame(chunk, events);
  }

  /**
   * Starts assembling the frame at `at` in `chunk`, which continues past its
   * end: `frameEnd` and `start` as `Framing.frameEnd` gave them. False when
   * `allocate` defers it.
   */
  startFrame(
    chunk: Uint8Array,
    at: number,
    frameEnd: number,
    start: number,
  ): boolean {
    const buffer = this.#first(frameEnd - start, chunk.length - start);
    if (buffer === null) return false;
    if (start < chunk.length) buffer.set(chunk.subarray(start));
    this.partial = buffer;
    this.frameLength = frameEnd - at;
    this.deliverFrom = start - at;
    this.received = chunk.length - at;
    return true;
  }

  /**
   * The first buffer of a frame handed out as `length` bytes, `have` of
   * which are at hand: all of it for a frame of up to {@linkcode GROW_FROM}
   * bytes, else enough for what is at hand and at least GROW_FROM.
   */
  #first(length: number, have: number): Uint8Array | null {
    return this.#reserve(
      length <= GROW_FROM
        ? length
        : Math.min(length, Math.max(GROW_FROM, have)),
      length,
    );
  }

  /**
   * Moves the `filled` bytes of `partial` into a buffer of at least `need`
   * bytes (GROWTH times larger, up to the frame's length), or null when
   * `allocate` defers it.
   */
  #grow(
    partial: Uint8Array,
    filled: number,
    need: number,
  ): Uint8Array | null {
    const length = this.frameLength - this.deliverFrom;
    const grown = this.#reserve(
      Math.min(length, Math.max(need, partial.length * GROWTH)),
      length,
    );
    if (grown === null) return null;
    grown.set(partial.subarray(0, filled));
    this.partial = grown;
    this.release?.(partial);
    return grown;
  }

  #reserve(length: number, frameLength: number): Uint8Array | null {
    const buffer = this.allocate(length, frameLength);
    if (
      buffer !== null &&
      (buffer.length < length || buffer.length > frameLength)
    ) {
      throw new RangeError(
        `Cannot decode frame: allocate(${length}, ${frameLength}) returned ${buffer.length} bytes`,
      );
    }
    return buffer;
  }

  /** Fails the decoder on a default-format header that declares `length` bytes. */
  fail(length: number): never {
    this.failWith(this.framing.tooLarge(length));
  }

  /** Keeps the start of a header that a later chunk completes. */
  keepHeader(chunk: Uint8Array, offset: number): void {
    (this.header ??= new Uint8Array(this.framing.maxHeader)).set(
      chunk.subarray(offset),
    );
    this.headerFilled = chunk.length - offset;
  }

  end(): number {
    const discarded = this.bufferedBytes;
    this.partial = null;
    this.received = 0;
    this.headerFilled = 0;
    return discarded;
  }
}
