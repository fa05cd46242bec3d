/**
 * Requests of any frame format for the client command and the load tester.
 * A format that keeps whole frames (`initialBytesToStrip: 0`) is handed
 * whole frames to write, so these build one around a payload: zero bytes
 * before the length field, the length field, then the payload (every byte
 * after the length field, so the field holds the payload's length minus
 * `lengthAdjustment`).
 *
 * @module
 */
import type { Framing } from "../_frame_header.ts";

/**
 * A whole frame of `framing` around `payload`: `framing.offset` zero bytes,
 * the length field, then `payload`, the bytes that follow the field.
 *
 * @throws {FrameTooLargeError} The field cannot hold the length, or the frame exceeds maxFrameSize.
 * @throws {RangeError} `payload` is shorter than a positive lengthAdjustment.
 */
export function wholeFrame(framing: Framing, payload: Uint8Array): Uint8Array {
  framing.checkPayload(payload.length);
  const frame = new Uint8Array(
    framing.offset + framing.headerSize(payload.length) + payload.length,
  );
  frame.set(
    payload,
    framing.writeHeader(frame, framing.offset, payload.length),
  );
  framing.checkWhole(frame);
  return frame;
}

/**
 * The request a load test sends again and again: each copy differs only in
 * the sequence number written at `payloadAt` (up to 4 bytes, little-endian).
 */
export interface RequestTemplate {
  /** One request as it goes on the wire, header included. */
  wire: Uint8Array;
  /** Where the payload starts in `wire`: the header's length. */
  payloadAt: number;
  /**
   * Where the frame as the server is handed it (and echoes it) starts in
   * `wire`: after the header, or 0 when the format keeps whole frames.
   */
  handedOutAt: number;
}

/**
 * The request of `payloadSize` bytes of payload (`a` to `z`, repeated) in the
 * format of `framing`: its header then the payload, or, for a format that
 * keeps whole frames, the {@linkcode wholeFrame} around that payload.
 *
 * @throws {RangeError} The format cannot be written, or not with this payload size.
 */
export function requestTemplate(
  framing: Framing,
  payloadSize: number,
): RequestTemplate {
  const payload = new Uint8Array(payloadSize);
  for (let i = 0; i < payloadSize; i++) payload[i] = 97 + (i % 26);
  if (framing.encodes === "whole") {
    const wire = wholeFrame(framing, payload);
    return { wire, payloadAt: wire.length - payloadSize, handedOutAt: 0 };
  }
  // A payload, for a format whose header is written for it; throws for a
  // format that cannot be written.
  framing.checkOutgoing(payload);
  const wire = new Uint8Array(framing.frameSize(payload));
  framing.writeFrame(wire, 0, payload);
  const headerSize = wire.length - payloadSize;
  return { wire, payloadAt: headerSize, handedOutAt: headerSize };
}
