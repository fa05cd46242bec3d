/**
 * The codecs under test in bench/codec.ts, each driven through its own public
 * API: framewire's sans-IO `FrameDecoder` and encoder functions, its Web
 * Streams shells, and the npm framing libraries it-length-prefixed,
 * length-prefixed-stream and frame-stream.
 *
 * A decoder is fed the chunks of its own wire format and reports each frame
 * to `onFrame`; an encoder is given the payloads and reports each output
 * chunk to `onBytes`. Node-stream libraries get `Buffer` views (what a
 * `net.Socket` hands out); the others get plain `Uint8Array` views.
 *
 * @module
 */
import * as itLengthPrefixed from "it-length-prefixed";
import lengthPrefixedStream from "length-prefixed-stream";
import * as frameStream from "frame-stream";
import { FrameDecoder } from "../src/frame_decoder.ts";
import { FrameRangeDecoder } from "../src/frame_range_decoder.ts";
import { encodeFrame, encodeFrames } from "../src/frame_encoder.ts";
import { FrameDecoderStream } from "../src/frame_decoder_stream.ts";
import { FrameEncoderStream } from "../src/frame_encoder_stream.ts";
import {
  chunk,
  type FrameSet,
  MAX_FRAME_SIZE,
  type Prefix,
  toBuffer,
} from "./_codec_data.ts";
import { RANGE_LIBRARY } from "./_codec_report.ts";

/** A decoded frame: a `Uint8Array`, or it-length-prefixed's `Uint8ArrayList`. */
export interface Frame {
  readonly byteLength: number;
  subarray(): Uint8Array;
}

/** One codec and operation under test. */
export interface CodecCase {
  library: string;
  operation: "decode" | "encode";
  /** The wire format it reads or writes. */
  prefix: Prefix;
  /** Extra rows (Web Streams shells, per-frame calls) rather than the main comparison. */
  extra: boolean;
  /** The largest frame its wire format holds (u16be: 65,535 bytes); larger sizes are not run. */
  maxSize?: number;
  /** Builds the function that runs one iteration over a frame set. */
  prepare(set: FrameSet): CaseInput;
}

/** What one iteration is given. */
export interface CaseInput {
  decode?: (onFrame: (frame: Frame) => void) => void | Promise<void>;
  /** A decoder that reports where each frame lies instead of handing out a view. */
  decodeRanges?: (
    onRange: (bytes: Uint8Array, start: number, end: number) => void,
  ) => void | Promise<void>;
  encode?: (onBytes: (bytes: Uint8Array) => void) => void | Promise<void>;
}

/** The parts of a Node `Transform` stream the benchmark uses. */
interface NodeTransform {
  on(event: string, listener: (value: Uint8Array) => void): unknown;
  write(chunk: Uint8Array): boolean;
  end(): void;
}

/** Writes every input into a Node transform stream and waits for its last output. */
function throughNodeStream(
  stream: NodeTransform,
  inputs: readonly Uint8Array[],
  onData: (bytes: Uint8Array) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.on("data", onData);
    stream.on("end", () => resolve());
    stream.on("error", reject);
    for (const input of inputs) stream.write(input);
    stream.end();
  });
}

/** Reads a Web Streams readable to its end. */
async function drainReadable(
  readable: ReadableStream<Uint8Array>,
  onChunk: (bytes: Uint8Array) => void,
): Promise<void> {
  const reader = readable.getReader();
  while (true) {
    const { done, value } = await reader.read();
    if (done) return;
    onChunk(value);
  }
}

function fromArray(items: readonly Uint8Array[]): ReadableStream<Uint8Array> {
  let next = 0;
  return new ReadableStream({
    pull(controller) {
      if (next < items.length) controller.enqueue(items[next++]);
      else controller.close();
    },
  });
}

const lps = lengthPrefixedStream as {
  decode(options: { limit: number }): NodeTransform;
  encode(): NodeTransform;
};

/** Every case, in table order: the main comparison first, then the extra rows. */
export const CASES: readonly CodecCase[] = [
  {
    library: "framewire",
    operation: "decode",
    prefix: "u32le",
    extra: false,
    prepare(set) {
      const chunks = chunk(set.wire.u32le);
      return {
        decode(onFrame) {
          const decoder = new FrameDecoder(onFrame, {
            maxFrameSize: MAX_FRAME_SIZE,
          });
          for (let i = 0; i < chunks.length; i++) decoder.push(chunks[i]);
        },
      };
    },
  },
  ...(["varint", "u16be", "u32be"] as const).map((prefix): CodecCase => ({
    // framewire's FrameDecoder in the other preset formats.
    library: `framewire ${prefix}`,
    operation: "decode",
    prefix,
    extra: true,
    maxSize: prefix === "u16be" ? 0xffff : undefined,
    prepare(set) {
      const chunks = chunk(set.wire[prefix]);
      return {
        decode(onFrame) {
          const decoder = new FrameDecoder(onFrame, {
            format: prefix,
            maxFrameSize: MAX_FRAME_SIZE,
          });
          for (let i = 0; i < chunks.length; i++) decoder.push(chunks[i]);
        },
      };
    },
  })),
  {
    library: "it-length-prefixed",
    operation: "decode",
    prefix: "varint",
    extra: false,
    prepare(set) {
      const chunks = chunk(set.wire.varint);
      const options = { maxDataLength: MAX_FRAME_SIZE };
      return {
        decode(onFrame) {
          for (const list of itLengthPrefixed.decode(chunks, options)) {
            onFrame(list);
          }
        },
      };
    },
  },
  {
    library: "length-prefixed-stream",
    operation: "decode",
    prefix: "varint",
    extra: false,
    prepare(set) {
      const chunks = chunk(set.wire.varint).map(toBuffer);
      return {
        decode: (onFrame) =>
          throughNodeStream(
            lps.decode({ limit: MAX_FRAME_SIZE }),
            chunks,
            onFrame,
          ),
      };
    },
  },
  {
    library: "frame-stream",
    operation: "decode",
    prefix: "u32be",
    extra: false,
    prepare(set) {
      const chunks = chunk(set.wire.u32be).map(toBuffer);
      return {
        decode: (onFrame) =>
          throughNodeStream(
            frameStream.decode({ maxSize: MAX_FRAME_SIZE }),
            chunks,
            onFrame,
          ),
      };
    },
  },
  {
    library: "it-length-prefixed + subarray() (contiguous frames)",
    operation: "decode",
    prefix: "varint",
    extra: true,
    prepare(set) {
      const chunks = chunk(set.wire.varint);
      const options = { maxDataLength: MAX_FRAME_SIZE };
      return {
        decode(onFrame) {
          for (const list of itLengthPrefixed.decode(chunks, options)) {
            onFrame(list.subarray());
          }
        },
      };
    },
  },
  {
    // What the server does for large frames: assemble them in reused memory
    // (the decoder's allocate option), so fresh pages are not faulted in.
    library: "framewire + allocate from reused memory",
    operation: "decode",
    prefix: "u32le",
    extra: true,
    prepare(set) {
      const chunks = chunk(set.wire.u32le);
      const reused = new Uint8Array(MAX_FRAME_SIZE);
      const allocate = (length: number) => reused.subarray(0, length);
      return {
        decode(onFrame) {
          const decoder = new FrameDecoder(onFrame, {
            maxFrameSize: MAX_FRAME_SIZE,
            allocate,
          });
          for (let i = 0; i < chunks.length; i++) decoder.push(chunks[i]);
        },
      };
    },
  },
  {
    // The same frames reported as (bytes, start, end) by FrameRangeDecoder:
    // no view per frame, so an extra row, not the comparison with libraries
    // that hand out a buffer per frame.
    library: RANGE_LIBRARY,
    operation: "decode",
    prefix: "u32le",
    extra: true,
    prepare(set) {
      const chunks = chunk(set.wire.u32le);
      return {
        decodeRanges(onRange) {
          const decoder = new FrameRangeDecoder(onRange, {
            maxFrameSize: MAX_FRAME_SIZE,
          });
          for (let i = 0; i < chunks.length; i++) decoder.push(chunks[i]);
        },
      };
    },
  },
  {
    library: "framewire FrameDecoderStream",
    operation: "decode",
    prefix: "u32le",
    extra: true,
    prepare(set) {
      const chunks = chunk(set.wire.u32le);
      return {
        decode: (onFrame) =>
          drainReadable(
            fromArray(chunks).pipeThrough(
              new FrameDecoderStream({ maxFrameSize: MAX_FRAME_SIZE }),
            ),
            onFrame,
          ),
      };
    },
  },
  {
    library: "framewire",
    operation: "encode",
    prefix: "u32le",
    extra: false,
    prepare(set) {
      const payloads = set.payloads;
      return { encode: (onBytes) => onBytes(encodeFrames(payloads)) };
    },
  },
  ...(["varint", "u16be", "u32be"] as const).map((prefix): CodecCase => ({
    library: `framewire ${prefix}`,
    operation: "encode",
    prefix,
    extra: true,
    maxSize: prefix === "u16be" ? 0xffff : undefined,
    prepare(set) {
      const payloads = set.payloads;
      const options = { format: prefix, maxFrameSize: MAX_FRAME_SIZE };
      return {
        encode: (onBytes) => onBytes(encodeFrames(payloads, options)),
      };
    },
  })),
  {
    library: "it-length-prefixed",
    operation: "encode",
    prefix: "varint",
    extra: false,
    prepare(set) {
      const payloads = set.payloads;
      const options = { maxDataLength: MAX_FRAME_SIZE };
      return {
        encode(onBytes) {
          for (const bytes of itLengthPrefixed.encode(payloads, options)) {
            onBytes(bytes);
          }
        },
      };
    },
  },
  {
    library: "length-prefixed-stream",
    operation: "encode",
    prefix: "varint",
    extra: false,
    prepare(set) {
      const payloads = set.payloadBuffers;
      return {
        encode: (onBytes) => throughNodeStream(lps.encode(), payloads, onBytes),
      };
    },
  },
  {
    library: "frame-stream",
    operation: "encode",
    prefix: "u32be",
    extra: false,
    prepare(set) {
      const payloads = set.payloadBuffers;
      return {
        encode: (onBytes) =>
          throughNodeStream(frameStream.encode(), payloads, onBytes),
      };
    },
  },
  {
    library: "framewire encodeFrame (one call per frame)",
    operation: "encode",
    prefix: "u32le",
    extra: true,
    prepare(set) {
      const payloads = set.payloads;
      return {
        encode(onBytes) {
          for (let i = 0; i < payloads.length; i++) {
            onBytes(encodeFrame(payloads[i]));
          }
        },
      };
    },
  },
  {
    library: "framewire FrameEncoderStream",
    operation: "encode",
    prefix: "u32le",
    extra: true,
    prepare(set) {
      const payloads = set.payloads;
      return {
        encode: (onBytes) =>
          drainReadable(
            fromArray(payloads).pipeThrough(
              new FrameEncoderStream({ maxFrameSize: MAX_FRAME_SIZE }),
            ),
            onBytes,
          ),
      };
    },
  },
];
