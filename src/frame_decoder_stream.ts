/**
 * A Web Streams façade over {@linkcode FrameDecoder}.
 *
 * @module
 */
import { FrameDecoder, type FrameDecoderOptions } from "./frame_decoder.ts";
import { ProtocolError } from "./errors.ts";

/**
 * A `TransformStream` from raw bytes to frame payloads, one chunk per frame.
 *
 * It is a thin shell over {@linkcode FrameDecoder}: a payload that lies inside
 * one input chunk is a view of that chunk, so producers must not reuse the
 * memory of chunks they have enqueued. Input that ends mid-frame errors the
 * stream with a {@linkcode ProtocolError}; a header over `maxFrameSize` errors
 * it with a `FrameTooLargeError`.
 *
 * @example Decode frames from a byte stream
 * ```ts
 * import { FrameDecoderStream } from "./frame_decoder_stream.ts";
 * import { encodeFrames } from "./frame_encoder.ts";
 *
 * const bytes = encodeFrames([new Uint8Array([1, 2]), new Uint8Array([3])]);
 * const frames = ReadableStream.from([bytes.subarray(0, 5), bytes.subarray(5)])
 *   .pipeThrough(new FrameDecoderStream());
 * for await (const frame of frames) console.log(frame);
 * // Uint8Array(2) [1, 2], then Uint8Array(1) [3]
 * ```
 */
export class FrameDecoderStream
  extends TransformStream<Uint8Array, Uint8Array> {
  /**
   * Creates the stream.
   *
   * @param options `format`: the frame format (default `"u32le"`);
   * `maxFrameSize`: largest frame handed out (default 32 MiB).
   */
  constructor(options: FrameDecoderOptions = {}) {
    let decoder: FrameDecoder;
    super({
      start(controller) {
        decoder = new FrameDecoder(
          (frame) => controller.enqueue(frame),
          options,
        );
      },
      transform(chunk) {
        decoder.push(chunk);
      },
      flush() {
        const discarded = decoder.end();
        if (discarded > 0) {
          throw new ProtocolError(
            `Cannot decode frame: stream ended mid-frame with ${discarded} bytes unread`,
          );
        }
      },
    });
  }
}
