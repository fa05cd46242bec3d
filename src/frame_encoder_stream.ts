/**
 * A Web Streams façade over the frame encoder.
 *
 * @module
 */
import { maxFrameSizeOption } from "./_validate.ts";
import { COPY_LIMIT } from "./_outbound.ts";
import { framingOf } from "./_frame_header.ts";
import type { FrameFormatOption } from "./frame_format.ts";

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
  /**
   * The frame format: a preset's name or a {@linkcode FrameFormat}. A
   * format that keeps its header (`initialBytesToStrip` 0) takes whole
   * frames, each checked and passed on as it is.
   *
   * @default {"u32le"}
   */
  format?: FrameFormatOption;
  /** Largest payload (or whole frame) accepted, in bytes. @default {33554432} */
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
   * @param options `maxFrameSize`: largest payload accepted (default 32
   * MiB); `format`: the frame format (default `"u32le"`).
   * @throws {RangeError} The format can be decoded but not written.
   */
  constructor(options: FrameEncoderStreamOptions = {}) {
    const maxFrameSize = maxFrameSizeOption(options.maxFrameSize);
    const framing = framingOf(options.format, maxFrameSize);
    if (framing.encodes === null) {
      throw framing.unwritable("create FrameEncoderStream");
    }
    super({
      transform(payload, controller) {
        framing.checkOutgoing(payload);
        if (framing.encodes === "whole") {
          controller.enqueue(payload);
        } else if (payload.length < COPY_LIMIT) {
          const out = new Uint8Array(framing.frameSize(payload));
          framing.writeFrame(out, 0, payload);
          controller.enqueue(out);
        } else {
          const header = new Uint8Array(framing.headerSize(payload.length));
          framing.writeHeader(header, 0, payload.length);
          controller.enqueue(header);
          controller.enqueue(payload);
        }
      },
    });
  }
}
