// A Pool's requests from request() until they settle: the queue of those
// waiting for a connection (each timed out after requestTimeout ms there and
// dropped when its signal aborts), sending one on the connection the pool
// picked, and queueing it again if it may be retried.
import { ConnectionClosedError, RequestTimeoutError } from "./errors.ts";
import { Fifo } from "./_fifo.ts";
import type { PoolConnection } from "./_pool_connection.ts";
import type { EndpointRecord } from "./_pool_endpoint.ts";
import type { PoolRequestOptions } from "./pool_options.ts";

/** A pool request until it settles. */
export interface PoolRequest {
  payload: Uint8Array;
  signal: AbortSignal | undefined;
  idempotent: boolean;
  /** Already sent once more after its written copy was lost. */
  replayed: boolean;
  /** The endpoint it failed on: another is preferred. */
  avoid: number;
  settled: boolean;
  /** In the pool's queue. */
  queued: boolean;
  onAbort: (() => void) | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
  resolve(response: Uint8Array): void;
  reject(error: unknown): void;
}

/**
 * The requests of a pool: queued first to last, or sent on the connection
 * the pool's `dispatch` picked, until they settle.
 */
export class PoolRequests {
  #queue = new Fifo<PoolRequest>();
  /** Requests in #queue not settled. */
  #queued = 0;
  readonly #requestTimeout: number;
  readonly #dispatch: () => void;
  /** Requests made and not settled, queued or handed out. */
  #outstanding = 0;
  #idleWaiters: Array<() => void> = [];
  /** The pool was destroyed: no request is sent again. */
  #destroyed = false;

  /**
   * @param requestTimeout How long a request may wait in the queue, in ms;
   * 0 for ever.
   * @param dispatch Sends queued requests on connections (with
   * {@linkcode next} and {@linkcode sendNext}); called once a request is
   * queued, and after one settles or is queued again.
   */
  constructor(requestTimeout: number, dispatch: () => void) {
    this.#requestTimeout = requestTimeout;
    this.#dispatch = dispatch;
  }

  /** Requests queued and not settled. */
  get queued(): number {
    return this.#queued;
  }

  /** Requests made and not settled, queued or handed out. */
  get outstanding(): number {
    return this.#outstanding;
  }

  /**
   * Makes a request: queues it and dispatches; if it still waits, times it
   * out after requestTimeout ms in the queue and drops it when its signal
   * aborts there.
   */
  make(payload: Uint8Array, options?: PoolRequestOptions): Promise<Uint8Array> {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    this.#outstanding++;
    return new Promise<Uint8Array>((resolve, reject) => {
      const request: PoolRequest = {
        payload,
        signal,
        idempotent: options?.idempotent === true,
        replayed: false,
        avoid: -1,
        settled: false,
        queued: false,
        onAbort: undefined,
        timer: undefined,
        resolve,
        reject,
      };
      this.#enqueue(request, false);
      this.#dispatch();
      if (request.settled) return;
      if (this.#requestTimeout > 0 && request.queued) this.#arm(request);
      if (signal !== undefined) {
        request.onAbort = () => {
          if (request.queued) this.#settle(request, signal.reason);
        };
        signal.addEventListener("abort", request.onAbort, { once: true });
      }
    }).finally(() => {
      this.#outstanding--;
      this.#wakeIfIdle();
    });
  }

  /** Resolves once no request is outstanding. */
  idle(): Promise<void> {
    return new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * The oldest queued request, left in the queue, once the settled and
   * aborted ones before it are dropped; undefined when none is left.
   */
  next(): PoolRequest | undefined {
    const queue = this.#queue;
    while (queue.length > 0) {
      const request = queue.peek()!;
      if (request.settled) {
        queue.shift();
        continue;
      }
      if (request.signal?.aborted) {
        this.#settle(request, request.signal.reason);
        queue.shift();
        continue;
      }
      return request;
    }
    return undefined;
  }

  /**
   * Sends the request {@linkcode next} returned, taken out of the queue, on
   * `connection`, counted in its `endpoint`'s figures. One its connection
   * rejects is queued again, first, if it may be sent again.
   */
  sendNext(connection: PoolConnection, endpoint: EndpointRecord): void {
    const request = this.#queue.shift()!;
    request.queued = false;
    this.#queued--;
    // From here the client's own requestTimeout applies.
    clearTimeout(request.timer);
    request.timer = undefined;
    endpoint.sent++;
    const signal = request.signal;
    connection.client!.request(
      request.payload,
      signal === undefined ? undefined : { signal },
    ).then(
      (response) => {
        endpoint.answered++;
        this.#settle(request, null, response);
        this.#dispatch();
      },
      (error) => {
        if (this.#retries(request, error)) {
          endpoint.retried++;
          request.avoid = connection.endpoint;
          this.#enqueue(request, true);
          if (this.#requestTimeout > 0) this.#arm(request);
        } else {
          endpoint.failed++;
          this.#settle(request, error);
        }
        this.#dispatch();
      },
    );
  }

  /**
   * The pool was destroyed: rejects every queued request with `error`, and
   * sends none again.
   */
  destroy(error: unknown): void {
    this.#destroyed = true;
    for (const request of this.#queue.drain()) this.#settle(request, error);
  }

  /** Whether a rejected request is sent again. */
  #retries(request: PoolRequest, error: unknown): boolean {
    if (request.settled || this.#destroyed) return false;
    if (!(error instanceof ConnectionClosedError)) return false;
    if (!error.sent) return true;
    if (!request.idempotent || request.replayed) return false;
    request.replayed = true;
    return true;
  }

  #settle(request: PoolRequest, error: unknown, response?: Uint8Array): void {
    if (request.settled) return;
    request.settled = true;
    if (request.queued) {
      request.queued = false;
      this.#queued--;
    }
    clearTimeout(request.timer);
    if (request.onAbort !== undefined) {
      request.signal!.removeEventListener("abort", request.onAbort);
    }
    if (response !== undefined) request.resolve(response);
    else request.reject(error);
  }

  #enqueue(request: PoolRequest, first: boolean): void {
    request.queued = true;
    this.#queued++;
    if (first) this.#queue.prepend([request]);
    else this.#queue.push(request);
  }

  /** Rejects a queued request after requestTimeout ms in the pool. */
  #arm(request: PoolRequest): void {
    const timeout = this.#requestTimeout;
    request.timer = setTimeout(() => {
      request.timer = undefined;
      this.#settle(request, new RequestTimeoutError("send", timeout));
    }, timeout);
  }

  #wakeIfIdle(): void {
    if (this.#outstanding === 0 && this.#idleWaiters.length > 0) {
      for (const resolve of this.#idleWaiters.splice(0)) resolve();
    }
  }
}
