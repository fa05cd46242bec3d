/**
 * The runtime-neutral part of how the adapters fail: one connection attempt
 * under its `connectTimeout` and `signal` ({@linkcode attemptConnect}), and a
 * runtime's error turned into a {@linkcode ConnectError} or
 * {@linkcode ListenError}. Each adapter brings its own `codeOf`, which reads
 * its runtime's errors; the codes and messages are the same everywhere.
 *
 * @module
 */
import {
  AddressInUseError,
  ConnectError,
  FramewireError,
  ListenError,
} from "./errors.ts";
import {
  type ConnectTarget,
  type ListenTarget,
  targetAddress,
} from "./_transport_options.ts";
import { parseIPv4, parseIPv6 } from "./_ip_address.ts";
import type { Transport } from "./transport.ts";

/** Reads a system error code (`"ECONNREFUSED"`) from a runtime's error, or null. */
export type ErrorCodeReader = (error: unknown) => string | null;

/** What an adapter's attempt is handed. */
export interface ConnectAttempt {
  /** Where to, as errors name it: `host:port` or the Unix socket's path. */
  readonly address: string;
  /**
   * Aborted when the attempt is given up (its timeout expired or the
   * caller's signal fired): the adapter then closes whatever it has opened.
   * Anything the attempt settles with afterwards is ignored, except that a
   * transport it still resolves with is closed.
   */
  readonly signal: AbortSignal;
}

/** `code` when it is a system error code (`E` and capitals, not Node's `ERR_*`). */
export function systemCode(code: unknown): string | null {
  return typeof code === "string" && /^E[A-Z0-9_]+$/.test(code) &&
      !code.startsWith("ERR_")
    ? code
    : null;
}

/** The `code` property of an error, when it is a system error code. */
export const codeProperty: ErrorCodeReader = (error) =>
  systemCode((error as { code?: unknown } | null)?.code);

/**
 * Runs one connection attempt: `open` connects (and shakes hands); this adds
 * the timeout and the caller's signal, and words a failure as a
 * {@linkcode ConnectError} whose code `codeOf` reads (`"EUNKNOWN"` when it
 * finds none). An error framewire raised itself (a `ConnectError` `"ETLS"`)
 * is kept.
 *
 * @returns The transport; rejects with a `ConnectError`, or with the signal's
 * reason once it is aborted.
 */
export function attemptConnect(
  target: ConnectTarget,
  open: (attempt: ConnectAttempt) => Promise<Transport>,
  codeOf: ErrorCodeReader,
): Promise<Transport> {
  const { connectTimeout, signal } = target;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const address = targetAddress(target);
  const controller = new AbortController();
  return new Promise((resolve, reject) => {
    let settled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const settle = () => {
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    const giveUp = (reason: unknown) => {
      if (settled) return;
      settle();
      controller.abort(reason);
      reject(reason);
    };
    const onAbort = () => giveUp(signal!.reason);
    signal?.addEventListener("abort", onAbort);
    if (connectTimeout > 0) {
      timer = setTimeout(
        () =>
          giveUp(
            new ConnectError(address, "ETIMEDOUT", {
              detail: `timed out after ${connectTimeout} ms`,
            }),
          ),
        connectTimeout,
      );
    }
    let opening: Promise<Transport>;
    try {
      opening = open({ address, signal: controller.signal });
    } catch (error) {
      opening = Promise.reject(error);
    }
    opening.then((transport) => {
      if (settled) return transport.close();
      settle();
      resolve(transport);
    }, (error) => {
      if (settled) return;
      settle();
      reject(
        error instanceof FramewireError ? error : new ConnectError(
          address,
          codeOf(error) ?? "EUNKNOWN",
          { cause: error },
        ),
      );
    });
  });
}

/**
 * Settles as `promise` does, or rejects with `signal`'s reason once it is
 * aborted; then `discard`, if given, gets whatever `promise` resolves with
 * later, to close it.
 */
export function untilAborted<T>(
  promise: Promise<T>,
  signal: AbortSignal,
  discard: (value: T) => void = () => {},
): Promise<T> {
  if (signal.aborted) {
    promise.then(discard, () => {});
    return Promise.reject(signal.reason);
  }
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      promise.then(discard, () => {});
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then((value) => {
      signal.removeEventListener("abort", onAbort);
      if (signal.aborted) return;
      resolve(value);
    }, (error) => {
      signal.removeEventListener("abort", onAbort);
      reject(error);
    });
  });
}

/**
 * A listener's failure to bind `target`, worded as a
 * {@linkcode ListenError} (an {@linkcode AddressInUseError} for
 * `"EADDRINUSE"`) whose code `codeOf` reads. Bun (1.4.5, `Bun.listen` and
 * its `node:net`) reports a host name it cannot resolve with no code, only
 * `Failed to listen at NAME`: that is `"ENOTFOUND"`. Errors framewire raised
 * itself are returned as they are.
 */
export function listenFailure(
  target: ListenTarget,
  error: unknown,
  codeOf: ErrorCodeReader,
): unknown {
  if (error instanceof FramewireError) return error;
  const address = targetAddress(target);
  let code = codeOf(error);
  if (code === null && target.kind === "tcp") {
    const { hostname } = target;
    const ip = parseIPv4(hostname) !== null || parseIPv6(hostname) !== null;
    const message = error instanceof Error ? error.message : "";
    if (!ip && message === `Failed to listen at ${hostname}`) {
      code = "ENOTFOUND";
    }
  }
  if (code === "EADDRINUSE") {
    return new AddressInUseError(address, undefined, { cause: error });
  }
  return new ListenError(address, code ?? "EUNKNOWN", { cause: error });
}
