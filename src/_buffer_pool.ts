/**
 * Memory for large frames, reused across frames and connections.
 *
 * A fresh multi-megabyte `Uint8Array` costs a page fault for every 4 KiB the
 * first time it is written, which dominates the time to receive a 32 MiB
 * frame. The server assembles frames of at least {@linkcode POOL_MIN_SIZE}
 * bytes in buffers taken from this pool and gives them back once the
 * request's handler has finished and every write that may refer to it is
 * done.
 */

/** Frames smaller than this are assembled in fresh buffers: cheap enough. */
export const POOL_MIN_SIZE = 1024 * 1024;

/**
 * A bounded pool of large `ArrayBuffer`s. `take(length)` returns a view of
 * exactly `length` bytes on a pooled or new buffer; `give(view)` returns its
 * memory. At most `maxIdleBytes` are kept while unused; the rest is left to
 * the garbage collector.
 */
export class BufferPool {
  #idle: ArrayBuffer[] = [];
  #idleBytes = 0;
  #maxIdleBytes: number;

  constructor(maxIdleBytes: number) {
    this.#maxIdleBytes = maxIdleBytes;
  }

  /** A view of `length` bytes (contents undefined) on the smallest idle buffer that fits, or a new one. */
  take(length: number): Uint8Array {
    return this.takeIdle(length) ?? new Uint8Array(length);
  }

  /**
   * A view of `length` bytes on the smallest idle buffer that fits, or null
   * when none does: memory already there, nothing new allocated.
   */
  takeIdle(length: number): Uint8Array | null {
    const idle = this.#idle;
    let best = -1;
    for (let i = 0; i < idle.length; i++) {
      const size = idle[i].byteLength;
      if (size >= length && (best === -1 || size < idle[best].byteLength)) {
        best = i;
      }
    }
    if (best === -1) return null;
    const buffer = idle[best];
    idle[best] = idle[idle.length - 1];
    idle.pop();
    this.#idleBytes -= buffer.byteLength;
    return new Uint8Array(buffer, 0, length);
  }

  /** Returns the memory of a view from `take()`; nothing may use it afterwards. */
  give(view: Uint8Array): void {
    const buffer = view.buffer as ArrayBuffer;
    const size = buffer.byteLength;
    if (size < POOL_MIN_SIZE || this.#idle.includes(buffer)) return;
    if (this.#idleBytes + size > this.#maxIdleBytes) {
      // Keep the larger buffers: they are the costly ones to fault in again.
      let smallest = -1;
      for (let i = 0; i < this.#idle.length; i++) {
        const s = this.#idle[i].byteLength;
        if (
          s < size && (smallest === -1 || s < this.#idle[smallest].byteLength)
        ) {
          smallest = i;
        }
      }
      if (smallest === -1) return;
      this.#idleBytes -= this.#idle[smallest].byteLength;
      this.#idle[smallest] = this.#idle[this.#idle.length - 1];
      this.#idle.pop();
      if (this.#idleBytes + size > this.#maxIdleBytes) return;
    }
    this.#idle.push(buffer);
    this.#idleBytes += size;
  }
}
