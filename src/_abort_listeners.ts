// The AbortSignals of a Client's requests: one listener per signal, however
// many requests share it.
import type { PendingRequest } from "./_pending_request.ts";

/** The unsettled requests that share a signal, and its listener. */
interface SignalGroup {
  readonly requests: Set<PendingRequest>;
  readonly listener: () => void;
}

/**
 * Listens to the signals of unsettled requests. Requests that share a
 * signal share one listener, added with the first and removed when the
 * last settles: a listener per request would cost O(n) to add (runtimes
 * look for a duplicate), and Node warns past 10 on one signal.
 */
export class AbortListeners {
  readonly #groups = new Map<AbortSignal, SignalGroup>();
  readonly #aborted: (requests: PendingRequest[], reason: unknown) => void;

  /**
   * @param aborted Called when a signal aborts, with its unsettled requests
   * (in the order they were made) and its reason.
   */
  constructor(aborted: (requests: PendingRequest[], reason: unknown) => void) {
    this.#aborted = aborted;
  }

  /**
   * Reports `pending` when `signal` aborts, until it settles: its `resolve`
   * and `reject` stop listening first.
   */
  listen(pending: PendingRequest, signal: AbortSignal): void {
    let group = this.#groups.get(signal);
    if (group === undefined) {
      const created: SignalGroup = {
        requests: new Set(),
        listener: () => {
          this.#end(signal, created);
          this.#aborted([...created.requests], signal.reason);
        },
      };
      this.#groups.set(signal, created);
      signal.addEventListener("abort", created.listener);
      group = created;
    }
    group.requests.add(pending);
    const { resolve, reject } = pending;
    const listened = group;
    pending.resolve = (response) => {
      this.#forget(signal, listened, pending);
      resolve(response);
    };
    pending.reject = (error) => {
      this.#forget(signal, listened, pending);
      reject(error);
    };
  }

  #forget(signal: AbortSignal, group: SignalGroup, pending: PendingRequest) {
    if (group.requests.delete(pending) && group.requests.size === 0) {
      this.#end(signal, group);
    }
  }

  #end(signal: AbortSignal, group: SignalGroup): void {
    if (this.#groups.get(signal) !== group) return;
    this.#groups.delete(signal);
    signal.removeEventListener("abort", group.listener);
  }
}

/** Whether `value` can be listened to as an `AbortSignal`. */
export function isAbortSignal(value: unknown): value is AbortSignal {
  return typeof value === "object" && value !== null &&
    typeof (value as AbortSignal).aborted === "boolean" &&
    typeof (value as AbortSignal).addEventListener === "function";
}
