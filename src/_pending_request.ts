// A Client's request from request() until it settles: where it lies, and the
// queue of requests waiting to be sent, from which an aborted one is dropped.
import { Fifo } from "./_fifo.ts";

/** Where a request lies. */
export const RequestState = {
  /** In the client's queue, waiting for a free place or a connection. */
  waiting: 0,
  /** Handed to a connection for this tick's write, not yet written. */
  queued: 1,
  /** Written to the transport, waiting for its response. */
  sent: 2,
  /** Settled early (aborted, timed out) and skipped wherever it still lies. */
  dropped: 3,
  /** Answered out of order (request ids): skipped where it still lies. */
  answered: 4,
} as const;

/** One of {@linkcode RequestState}. */
export type RequestState = typeof RequestState[keyof typeof RequestState];

/** A request made and not yet settled. */
export interface PendingRequest {
  payload: Uint8Array;
  /** When it times out (`performance.now()` time), or Infinity. */
  deadline: number;
  state: RequestState;
  /** Its request id once sent, with a format that has one; else -1. */
  id: number;
  resolve(response: Uint8Array): void;
  reject(error: unknown): void;
}

/** Dropped requests are swept out once they are this many and half the queue. */
const SWEEP_AT = 64;

/**
 * Requests waiting to be sent, first in first out. A request dropped from
 * the middle stays in place, marked, and is skipped: dropping is O(1), and
 * the marked requests are swept out once they make up half the queue.
 */
export class WaitingRequests {
  #queue = new Fifo<PendingRequest>();
  #dropped = 0;

  /** Requests waiting, not counting dropped ones. */
  get length(): number {
    return this.#queue.length - this.#dropped;
  }

  push(pending: PendingRequest): void {
    pending.state = RequestState.waiting;
    this.#queue.push(pending);
  }

  /** The oldest waiting request, left in place; undefined when none. */
  peek(): PendingRequest | undefined {
    if (this.#dropped > 0) this.#skipDropped();
    return this.#queue.peek();
  }

  /** Removes and returns the oldest waiting request; undefined when none. */
  shift(): PendingRequest | undefined {
    if (this.#dropped > 0) this.#skipDropped();
    return this.#queue.shift();
  }

  /** Takes a request of this queue out of it (it is left to the caller to settle). */
  drop(pending: PendingRequest): void {
    pending.state = RequestState.dropped;
    const dropped = ++this.#dropped;
    if (dropped === this.#queue.length) {
      this.#queue.drain();
      this.#dropped = 0;
    } else if (dropped >= SWEEP_AT && dropped * 2 >= this.#queue.length) {
      this.#queue.prepend(this.drain());
    }
  }

  /** Removes and returns every waiting request, oldest first. */
  drain(): PendingRequest[] {
    const all = this.#queue.drain();
    if (this.#dropped === 0) return all;
    this.#dropped = 0;
    return all.filter((pending) => pending.state !== RequestState.dropped);
  }

  /** Puts `requests` (none of them in the queue) before those waiting. */
  prepend(requests: readonly PendingRequest[]): void {
    for (const pending of requests) pending.state = RequestState.waiting;
    this.#queue.prepend(requests);
  }

  #skipDropped(): void {
    const queue = this.#queue;
    while (queue.peek()?.state === RequestState.dropped) {
      queue.shift();
      this.#dropped--;
    }
  }
}
