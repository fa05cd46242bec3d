/**
 * A Web Streams façade over the frame encoder.
 *
 * @module
 */
import { assertFrameSize } from "./frame_encoder.ts";
import { maxFrameSizeOption } from "./_validate.ts";
import { COPY_LIMIT, writeFrames } from "./_outbound.ts";
import { FRAME_HEADER_SIZE, writeFrameHeader } from "./_frame_header.ts";

/**
 * Options for {@linkcode FrameEncoderStream}.
 *
 * @example
 * ```ts
 * import type { FrameEncoderStreamOptions } from "./frame_encoder_stream.ts";
 *
 * const options: FrameEncoderStreamOptions = { maxFrameSize: 1 << 20 };
 * ```
 */
export interface FrameEncoderStreamOptions {
  /** Largest payload accepted, in bytes. @default {33554432} */
  maxFrameSize?: number;
}

/**
 * A `TransformStream` from payloads to framed bytes: each input chunk becomes
 * one frame. A payload under 64 KiB is copied with its header into one chunk;
 * a larger one is passed on by reference after a 4-byte header chunk. A
 * payload over `maxFrameSize` errors the stream with a `FrameTooLargeError`.
 *
 * @example Frame two payloads
 * ```ts
 * import { FrameEncoderStream } from "./frame_encoder_stream.ts";
 *
 * const wire = ReadableStream.from([new Uint8Array([1, 2]), new Uint8Array(0)])
 *   .pipeThrough(new FrameEncoderStream());
 * for await (const bytes of wire) console.log(bytes);
 * // Uint8Array(6) [2, 0, 0, 0, 1, 2], then Uint8Array(4) [0, 0, 0, 0]
 * ```
 */
export class FrameEncoderStream
  extends TransformStream<Uint8Array, Uint8Array> {
  /**
   * Creates the stream.
   *
   * @param options `maxFrameSize`: largest payload accepted (default 32 MiB).
   */
  constructor(options: FrameEncoderStreamOptions = {}) {
    const maxFrameSize = maxFrameSizeOption(options.maxFrameSize);
    super({
      transform(payload, controller) {
        assertFrameSize(payload, maxFrameSize);
        if (payload.length < COPY_LIMIT) {
          const out = new Uint8Array(FRAME_HEADER_SIZE + payload.length);
          writeFrames(out, 0, [payload], 0, 1);
          controller.enqueue(out);
        } else {
          const header = new Uint8Array(FRAME_HEADER_SIZE);
          writeFrameHeader(header, 0, payload.length);
          controller.enqueue(header);
          controller.enqueue(payload);
        }
      },
    });
  }
}
