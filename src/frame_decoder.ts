/**
 * The sans-IO frame decoder: {@linkcode FrameDecoder} hands out each frame
 * as a `Uint8Array`. {@linkcode FrameRangeDecoder} reports where each frame
 * lies instead.
 *
 * @module
 */
import { FRAME_HEADER_SIZE, readFrameLength } from "./_frame_header.ts";
import {
  FrameAssembly,
  type FrameAssemblyEvents,
  type FrameDecoderOptions,
} from "./_frame_assembly.ts";

export type { FrameDecoderOptions } from "./_frame_assembly.ts";

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

  /** The largest frame this decoder hands out, in bytes. */
  get maxFrameSize(): number {
    return this.#assembly.framing.maxFrameSize;
  }

  /**
   * Bytes of an incomplete frame (header included) held since the last
   * complete frame: 0 when the input so far ends on a frame boundary.
   */
  get bufferedBytes(): number {
    return this.#assembly.bufferedBytes;
  }

  /**
   * Length of the frame being assembled across chunks (as handed out), or
   * 0. Its buffer grows to that length as its bytes arrive (see `allocate`).
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
    if (!assembly.framing.isDefault) return this.#pushFramed(chunk, offset);
    const onFrame = this.#onFrame;
    const max = assembly.framing.maxFrameSize;
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
        if (assembly.startFrame(chunk, offset, start + length, start)) {
          return end;
        }
        return offset; // deferred: the header is pushed again later
      }
      onFrame(new Uint8Array(buffer, base + start, length), offset);
      offset = start + length;
    }
    if (offset < end) assembly.keepHeader(chunk, offset);
    return end;
  }

  /** `push()`'s loop for every format but the default. */
  #pushFramed(chunk: Uint8Array, offset: number): number {
    const assembly = this.#assembly;
    const framing = assembly.framing;
    const onFrame = this.#onFrame;
    const buffer = chunk.buffer;
    const base = chunk.byteOffset;
    const end = chunk.length;
    while (offset < end) {
      const frameEnd = framing.frameEnd(chunk, offset, end);
      if (frameEnd < 0) {
        if (frameEnd === -1) break;
        assembly.failWith(framing.error!);
      }
      const start = framing.start;
      if (frameEnd > end) {
        if (assembly.startFrame(chunk, offset, frameEnd, start)) return end;
        return offset; // deferred: the header is pushed again later
      }
      onFrame(new Uint8Array(buffer, base + start, frameEnd - start), offset);
      offset = frameEnd;
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
