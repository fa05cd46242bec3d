/**
 * Sans-IO decoders for length-prefixed frames: {@linkcode FrameDecoder} hands
 * out each payload as a `Uint8Array`, {@linkcode FrameRangeDecoder} reports
 * where each payload lies instead, without making a view per frame.
 *
 * @module
 */
import { FRAME_HEADER_SIZE, readFrameLength } from "./_frame_header.ts";
import { FrameTooLargeError, type ProtocolError } from "./errors.ts";
import { maxFrameSizeOption } from "./_validate.ts";

/** Options for {@linkcode FrameDecoder} and {@linkcode FrameRangeDecoder}. */
export interface FrameDecoderOptions {
  /**
   * Largest payload accepted, in bytes. A header that declares more is
   * rejected before any memory is set aside for it.
   *
   * @default {33554432}
   */
  maxFrameSize?: number;
  /**
   * Returns the buffer in which a payload spread over several chunks is
   * assembled: a `Uint8Array` of exactly `length` bytes that nothing else
   * writes to until the frame has been handed to `onFrame`. Lets a caller
   * reuse large buffers instead of allocating one per frame.
   *
   * It may return `null` to defer the frame (a server over its memory
   * budget does): `push()` then stops before that frame's payload and
   * returns how many bytes of the chunk it consumed. Push the rest again
   * later; `allocate` is asked again.
   *
   * @default {(length) => new Uint8Array(length)}
   */
  allocate?: (length: number) => Uint8Array | null;
}

const allocateFresh = (length: number) => new Uint8Array(length);

/** How {@linkcode FrameAssembly} hands a frame it completed to its decoder. */
interface FrameAssemblyEvents {
  /** A payload at `[start, end)` of the chunk being pushed, its header (or part of it) in earlier chunks. */
  inChunk(chunk: Uint8Array, start: number, end: number): void;
  /** A payload assembled from several chunks, in a buffer of its own. */
  joined(frame: Uint8Array): void;
}

/**
 * What both decoders share: their options, a frame begun in an earlier chunk
 * (its header, or its payload being assembled) and failure. Each decoder
 * keeps its own loop over the frames that lie inside a chunk, the hot path,
 * and comes here for the rest.
 */
class FrameAssembly {
  readonly maxFrameSize: number;
  readonly allocate: (length: number) => Uint8Array | null;
  /** Header bytes gathered so far when a header spans chunks. */
  header: Uint8Array | null = null; // allocated when a header spans reads
  headerFilled = 0;
  /** The frame being assembled across chunks, or null between frames. */
  partial: Uint8Array | null = null;
  partialFilled = 0;
  failed: ProtocolError | null = null;

  constructor(decoder: string, onFrame: unknown, options: FrameDecoderOptions) {
    if (typeof onFrame !== "function") {
      throw new TypeError(
        `Cannot create ${decoder}: onFrame is not a function`,
      );
    }
    this.maxFrameSize = maxFrameSizeOption(options.maxFrameSize);
    const allocate = options.allocate ?? allocateFresh;
    if (typeof allocate !== "function") {
      throw new TypeError(
        `Cannot create ${decoder}: allocate is not a function`,
      );
    }
    this.allocate = allocate;
  }

  get bufferedBytes(): number {
    if (this.partial !== null) return FRAME_HEADER_SIZE + this.partialFilled;
    return this.headerFilled;
  }

  get pendingFrameSize(): number {
    return this.partial?.length ?? 0;
  }

  /**
   * Continues a frame begun in an earlier chunk; returns the offset after
   * it, or `-(offset + 1)` when `allocate` deferred it at `offset`.
   */
  continueFrame(chunk: Uint8Array, events: FrameAssemblyEvents): number {
    let offset = 0;
    if (this.partial === null) {
      const take = Math.min(
        FRAME_HEADER_SIZE - this.headerFilled,
        chunk.length,
      );
      if (take > 0) {
        this.header!.set(chunk.subarray(0, take), this.headerFilled);
        this.headerFilled += take;
      }
      if (this.headerFilled < FRAME_HEADER_SIZE) return chunk.length;
      offset = take;
      const length = readFrameLength(this.header!, 0);
      if (length > this.maxFrameSize) this.fail(length);
      if (chunk.length - offset >= length) {
        this.headerFilled = 0;
        events.inChunk(chunk, offset, offset + length);
        return offset + length;
      }
      // The whole header stays gathered while allocate defers the frame.
      if (!this.startPartial(length, chunk.subarray(offset))) {
        return -(offset + 1);
      }
      this.headerFilled = 0;
      return chunk.length;
    }
    const partial = this.partial;
    const take = Math.min(partial.length - this.partialFilled, chunk.length);
    partial.set(chunk.subarray(0, take), this.partialFilled);
    this.partialFilled += take;
    if (this.partialFilled < partial.length) return chunk.length;
    this.partial = null;
    this.partialFilled = 0;
    events.joined(partial);
    return take;
  }

  /** Starts assembling a frame; false when `allocate` defers it. */
  startPartial(length: number, head: Uint8Array): boolean {
    const partial = this.allocate(length);
    if (partial === null) return false;
    if (partial.length !== length) {
      throw new RangeError(
        `Cannot decode frame: allocate(${length}) returned ${partial.length} bytes`,
      );
    }
    partial.set(head);
    this.partial = partial;
    this.partialFilled = head.length;
    return true;
  }

  /** Keeps the start of a header that the next chunk completes. */
  keepHeader(chunk: Uint8Array, offset: number): void {
    (this.header ??= new Uint8Array(FRAME_HEADER_SIZE)).set(
      chunk.subarray(offset),
    );
    this.headerFilled = chunk.length - offset;
  }

  fail(length: number): never {
    this.failed = new FrameTooLargeError("decode", length, this.maxFrameSize);
    this.partial = null;
    this.headerFilled = 0;
    throw this.failed;
  }

  end(): number {
    const discarded = this.bufferedBytes;
    this.partial = null;
    this.partialFilled = 0;
    this.headerFilled = 0;
    return discarded;
  }
}

/**
 * Turns a byte stream, pushed in chunks of any size, into frames: a 4-byte
 * unsigned little-endian length, then that many payload bytes.
 *
 * `push()` never awaits and does no I/O. Each complete payload is handed to
 * the `onFrame` callback, in order, before `push()` returns:
 *
 * - a payload that lies entirely inside one pushed chunk is a `subarray` view
 *   of that chunk, with no copy. It stays valid as long as the caller leaves
 *   that chunk's memory unchanged; copy it (`frame.slice()`) to keep it past
 *   a reuse of the chunk's buffer.
 * - a payload spread over several chunks is copied, as its bytes arrive, into
 *   one buffer of exactly its length, allocated once its header has been
 *   checked: each byte is copied once, whatever the number of chunks. That
 *   buffer belongs to the receiver.
 *
 * The decoder keeps no reference to a chunk after `push()` returns, so a
 * transport may reuse its read buffer as soon as no emitted view is in use.
 *
 * A header that declares more than `maxFrameSize` makes `push()` throw a
 * {@linkcode FrameTooLargeError} after emitting every complete frame that came
 * before it; the decoder then stays failed and rejects further input.
 *
 * {@linkcode FrameRangeDecoder} reports the same frames as ranges of bytes,
 * without a view per frame.
 *
 * @example Decode frames from arbitrary chunks
 * ```ts
 * import { FrameDecoder } from "./frame_decoder.ts";
 * import { encodeFrames } from "./frame_encoder.ts";
 *
 * const frames: string[] = [];
 * const decoder = new FrameDecoder((frame) => {
 *   frames.push(new TextDecoder().decode(frame));
 * });
 * const wire = encodeFrames([
 *   new TextEncoder().encode("hello"),
 *   new TextEncoder().encode("world"),
 * ]);
 * decoder.push(wire.subarray(0, 7));
 * decoder.push(wire.subarray(7));
 * console.log(frames); // ["hello", "world"]
 * ```
 */
export class FrameDecoder {
  #onFrame: (frame: Uint8Array, headerAt: number) => void;
  #assembly: FrameAssembly;
  #continued: FrameAssemblyEvents;

  /**
   * Creates a decoder.
   *
   * @param onFrame Called with each complete payload, in order, and where
   * its header starts in the chunk being pushed when the whole frame lies in
   * that chunk (-1 otherwise): a frame can then be passed on as it came,
   * header included, without looking up the payload view's buffer.
   * @param options `maxFrameSize`: largest payload accepted (default 32 MiB).
   */
  constructor(
    onFrame: (frame: Uint8Array, headerAt: number) => void,
    options: FrameDecoderOptions = {},
  ) {
    this.#assembly = new FrameAssembly("FrameDecoder", onFrame, options);
    this.#onFrame = onFrame;
    this.#continued = {
      inChunk: (chunk, start, end) => onFrame(chunk.subarray(start, end), -1),
      joined: (frame) => onFrame(frame, -1),
    };
  }

  /** The largest payload this decoder accepts, in bytes. */
  get maxFrameSize(): number {
    return this.#assembly.maxFrameSize;
  }

  /**
   * Bytes of an incomplete frame (header included) held since the last
   * complete frame: 0 when the input so far ends on a frame boundary.
   */
  get bufferedBytes(): number {
    return this.#assembly.bufferedBytes;
  }

  /**
   * Payload length of the frame being assembled across chunks (the memory
   * set aside for it), or 0.
   */
  get pendingFrameSize(): number {
    return this.#assembly.pendingFrameSize;
  }

  /**
   * Feeds the next chunk of the byte stream and emits every frame it
   * completes.
   *
   * @param chunk The next bytes received. Not modified, not kept.
   * @returns The bytes of `chunk` consumed: all of them, unless `allocate`
   * deferred a frame (then push `chunk.subarray(consumed)` again later).
   * @throws {FrameTooLargeError} A header declares more than `maxFrameSize`.
   * @throws {ProtocolError} The decoder failed before.
   */
  push(chunk: Uint8Array): number {
    const assembly = this.#assembly;
    if (assembly.failed !== null) throw assembly.failed;
    const end = chunk.length;
    let offset = 0;
    if (assembly.partial !== null || assembly.headerFilled !== 0) {
      offset = assembly.continueFrame(chunk, this.#continued);
      if (offset < 0) return -offset - 1; // deferred
      if (offset === end) return end;
    }
    const onFrame = this.#onFrame;
    const max = assembly.maxFrameSize;
    // `new Uint8Array(buffer, offset, length)` makes a view in about 60% of
    // the time `subarray()` takes on V8 (Deno, Node), and no slower on Bun.
    const buffer = chunk.buffer;
    const base = chunk.byteOffset;
    // Locals rather than the imports: V8 checks an imported binding for its
    // temporal dead zone at each use, in the loop too.
    const headerSize = FRAME_HEADER_SIZE;
    const readLength = readFrameLength;
    const last = end - headerSize;
    // Fast path: whole frames inside this chunk are emitted as views.
    while (offset <= last) {
      const length = readLength(chunk, offset);
      if (length > max) assembly.fail(length);
      const start = offset + headerSize;
      if (length > end - start) {
        if (assembly.startPartial(length, chunk.subarray(start))) return end;
        return offset; // deferred: the header is pushed again later
      }
      onFrame(new Uint8Array(buffer, base + start, length), offset);
      offset = start + length;
    }
    if (offset < end) assembly.keepHeader(chunk, offset);
    return end;
  }

  /**
   * Declares the end of the byte stream and resets the decoder.
   *
   * @returns The bytes of an incomplete final frame that were discarded (0
   * when the stream ended on a frame boundary).
   */
  end(): number {
    return this.#assembly.end();
  }
}

/**
 * Decodes the same byte stream as {@linkcode FrameDecoder}, with the same
 * options, limits and errors, but reports where each payload lies,
 * `onFrame(bytes, start, end)`, instead of handing out a `Uint8Array` per
 * frame: it makes no object per frame. A view per frame is most of the cost
 * of small frames (on JavaScriptCore, more than all the rest), which callers
 * that copy frames, write them on or read a few bytes of each need not pay.
 *
 * The payload is `bytes` from `start` up to `end`:
 *
 * - a payload inside the chunk being pushed is reported in that chunk
 *   (`bytes` is the chunk), valid while the caller leaves its memory
 *   unchanged;
 * - a payload spread over several chunks is assembled, as by `FrameDecoder`,
 *   in one buffer of exactly its length (from `allocate`), reported as
 *   `(buffer, 0, buffer.length)`; that buffer belongs to the receiver.
 *
 * When `start >= 4`, the payload's header lies just before it in `bytes`:
 * `bytes.subarray(start - 4, end)` is the frame as it came. When `start < 4`,
 * its header came in earlier chunks.
 *
 * What it costs in clarity: three values to read together instead of one
 * `Uint8Array`, and keeping a payload means making its view
 * (`bytes.subarray(start, end)`) or copy yourself.
 *
 * @example Echo each frame back as it came, with no view per frame
 * ```ts
 * import { FrameRangeDecoder } from "./frame_decoder.ts";
 * import { encodeFrame, encodeFrames } from "./frame_encoder.ts";
 *
 * const replies: Uint8Array[] = [];
 * const decoder = new FrameRangeDecoder((bytes, start, end) => {
 *   replies.push(
 *     start >= 4
 *       ? bytes.slice(start - 4, end) // header and payload, as they came
 *       : encodeFrame(bytes.subarray(start, end)), // header in an earlier chunk
 *   );
 * });
 * const wire = encodeFrames([
 *   new TextEncoder().encode("hello"),
 *   new TextEncoder().encode("world"),
 * ]);
 * decoder.push(wire.subarray(0, 7));
 * decoder.push(wire.subarray(7));
 * console.log(replies.length); // 2
 * ```
 */
export class FrameRangeDecoder {
  #onFrame: (bytes: Uint8Array, start: number, end: number) => void;
  #assembly: FrameAssembly;
  #continued: FrameAssemblyEvents;

  /**
   * Creates a decoder.
   *
   * @param onFrame Called with each complete payload, in order, as the bytes
   * that hold it and where it starts and ends in them.
   * @param options `maxFrameSize`: largest payload accepted (default 32 MiB);
   * `allocate`: the buffers of payloads spread over chunks.
   */
  constructor(
    onFrame: (bytes: Uint8Array, start: number, end: number) => void,
    options: FrameDecoderOptions = {},
  ) {
    this.#assembly = new FrameAssembly("FrameRangeDecoder", onFrame, options);
    this.#onFrame = onFrame;
    this.#continued = {
      inChunk: onFrame,
      joined: (frame) => onFrame(frame, 0, frame.length),
    };
  }

  /** The largest payload this decoder accepts, in bytes. */
  get maxFrameSize(): number {
    return this.#assembly.maxFrameSize;
  }

  /**
   * Bytes of an incomplete frame (header included) held since the last
   * complete frame: 0 when the input so far ends on a frame boundary.
   */
  get bufferedBytes(): number {
    return this.#assembly.bufferedBytes;
  }

  /**
   * Payload length of the frame being assembled across chunks (the memory
   * set aside for it), or 0.
   */
  get pendingFrameSize(): number {
    return this.#assembly.pendingFrameSize;
  }

  /**
   * Feeds the next chunk of the byte stream and reports every frame it
   * completes.
   *
   * @param chunk The next bytes received. Not modified, not kept.
   * @returns The bytes of `chunk` consumed: all of them, unless `allocate`
   * deferred a frame (then push `chunk.subarray(consumed)` again later).
   * @throws {FrameTooLargeError} A header declares more than `maxFrameSize`.
   * @throws {ProtocolError} The decoder failed before.
   */
  push(chunk: Uint8Array): number {
    const assembly = this.#assembly;
    if (assembly.failed !== null) throw assembly.failed;
    const end = chunk.length;
    let offset = 0;
    if (assembly.partial !== null || assembly.headerFilled !== 0) {
      offset = assembly.continueFrame(chunk, this.#continued);
      if (offset < 0) return -offset - 1; // deferred
      if (offset === end) return end;
    }
    const onFrame = this.#onFrame;
    const max = assembly.maxFrameSize;
    const headerSize = FRAME_HEADER_SIZE;
    const readLength = readFrameLength;
    const last = end - headerSize;
    while (offset <= last) {
      const length = readLength(chunk, offset);
      if (length > max) assembly.fail(length);
      const start = offset + headerSize;
      if (length > end - start) {
        if (assembly.startPartial(length, chunk.subarray(start))) return end;
        return offset; // deferred: the header is pushed again later
      }
      offset = start + length;
      onFrame(chunk, start, offset);
    }
    if (offset < end) assembly.keepHeader(chunk, offset);
    return end;
  }

  /**
   * Declares the end of the byte stream and resets the decoder.
   *
   * @returns The bytes of an incomplete final frame that were discarded (0
   * when the stream ended on a frame boundary).
   */
  end(): number {
    return this.#assembly.end();
  }
}
