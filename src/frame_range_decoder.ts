/**
 * {@linkcode FrameRangeDecoder}: decodes frames as {@linkcode FrameDecoder}
 * does, but reports where each lies instead of making a view of it.
 *
 * @module
 */
import { FRAME_HEADER_SIZE, readFrameLength } from "./_frame_header.ts";
import {
  FrameAssembly,
  type FrameAssemblyEvents,
  type FrameDecoderOptions,
} from "./_frame_assembly.ts";

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
 * import { FrameRangeDecoder } from "./frame_range_decoder.ts";
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
    if (!assembly.framing.isDefault) return this.#pushFramed(chunk, offset);
    const onFrame = this.#onFrame;
    const max = assembly.framing.maxFrameSize;
    const headerSize = FRAME_HEADER_SIZE;
    const readLength = readFrameLength;
    const last = end - headerSize;
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
      offset = start + length;
      onFrame(chunk, start, offset);
    }
    if (offset < end) assembly.keepHeader(chunk, offset);
    return end;
  }

  /** `push()`'s loop for every format but the default. */
  #pushFramed(chunk: Uint8Array, offset: number): number {
    const assembly = this.#assembly;
    const framing = assembly.framing;
    const onFrame = this.#onFrame;
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
      offset = frameEnd;
      onFrame(chunk, start, frameEnd);
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
