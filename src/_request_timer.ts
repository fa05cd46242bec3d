// A Client's request timeout: one timer for every request, armed for the
// oldest deadline.
import { RequestTimeoutError } from "./errors.ts";
import type { PendingRequest, WaitingRequests } from "./_pending_request.ts";

/** What a {@linkcode RequestTimer} needs from its client. */
export interface RequestTimerHost {
  /** The requests waiting to be sent. */
  readonly waiting: WaitingRequests;
  /** The oldest request handed to the connection and not answered. */
  oldestSent(): PendingRequest | undefined;
  /**
   * Rejects `pending`, sent, with `error`; closes its connection unless
   * responses carry request ids.
   */
  timeOutSent(pending: PendingRequest, error: RequestTimeoutError): void;
  /** Requests were rejected: places may be free. */
  expired(): void;
}

/**
 * Times requests out `timeout` ms after the tick of their `request()` call,
 * never early. Requests are sent, and wait, in order (and, without request
 * ids, are answered in order), so the oldest deadline is that of the oldest
 * request unanswered: one timer, re-armed for the next, serves all.
 */
export class RequestTimer {
  readonly #timeout: number;
  readonly #host: RequestTimerHost;
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  #stopped = false;
  /** Requests of this tick, given their deadline by one clock read at its end. */
  #unstamped: PendingRequest[] = [];
  readonly #stampTask = () => this.#stamp();

  constructor(timeout: number, host: RequestTimerHost) {
    this.#timeout = timeout;
    this.#host = host;
  }

  /** Gives a request made in this tick its deadline. */
  add(pending: PendingRequest): void {
    if (this.#unstamped.push(pending) === 1) queueMicrotask(this.#stampTask);
  }

  /** Stops for good: the client takes no more requests. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Sets the deadline of the requests made in this tick. The clock is read
   * once, after they were all made, so a deadline is never early.
   */
  #stamp(): void {
    const deadline = performance.now() + this.#timeout;
    for (const pending of this.#unstamped) pending.deadline = deadline;
    this.#unstamped.length = 0;
    if (this.#timer === undefined && !this.#stopped) this.#arm(deadline);
  }

  #arm(deadline: number): void {
    const wait = Math.max(0, Math.ceil(deadline - performance.now()));
    this.#timer = setTimeout(this.#onTimer, wait);
  }

  /** Times out the oldest requests whose deadline has passed; re-arms for the next. */
  readonly #onTimer = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    const host = this.#host;
    for (
      let oldest = host.oldestSent();
      oldest !== undefined && oldest.deadline <= now;
      oldest = host.oldestSent()
    ) {
      host.timeOutSent(
        oldest,
        new RequestTimeoutError("complete", this.#timeout),
      );
    }
    const waiting = host.waiting;
    while (waiting.length > 0 && waiting.peek()!.deadline <= now) {
      waiting.shift()!.reject(new RequestTimeoutError("send", this.#timeout));
    }
    host.expired();
    const next = host.oldestSent() ?? waiting.peek();
    // A request made during this call gets its deadline (and the timer) from #stamp().
    if (!this.#stopped && next !== undefined && next.deadline !== Infinity) {
      this.#arm(next.deadline);
    }
  };
}
