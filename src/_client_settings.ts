// Validation of a Client's options, and the reconnect backoff.
import { type Framing, framingOf } from "./_frame_header.ts";
import type {
  ClientCloseOptions,
  ClientOptions,
  ReconnectOptions,
} from "./client_options.ts";
import {
  integerOption,
  maxFrameSizeOption,
  numberOption,
} from "./_validate.ts";

/** Validated reconnect settings. */
export interface Backoff {
  initialDelay: number;
  maxDelay: number;
  factor: number;
  jitter: number;
  maxAttempts: number;
}

const DEFAULT_BACKOFF: Readonly<Backoff> = {
  initialDelay: 100,
  maxDelay: 5000,
  factor: 2,
  jitter: 0.5,
  maxAttempts: 10,
};

/** The longest delay setTimeout honours. */
const MAX_DELAY = 0x7fff_ffff;

/** Validates the `reconnect` option: null when reconnecting is off. */
function backoffOption(
  value: boolean | ReconnectOptions | undefined,
): Backoff | null {
  if (value === undefined || value === false) return null;
  if (value === true) return { ...DEFAULT_BACKOFF };
  if (typeof value !== "object" || value === null) {
    throw new TypeError(
      `Cannot use reconnect: ${String(value)} is not a boolean or an object`,
    );
  }
  const initialDelay = integerOption(
    "reconnect.initialDelay",
    value.initialDelay,
    DEFAULT_BACKOFF.initialDelay,
    0,
    MAX_DELAY,
  );
  const maxDelay = integerOption(
    "reconnect.maxDelay",
    value.maxDelay,
    Math.max(DEFAULT_BACKOFF.maxDelay, initialDelay),
    initialDelay,
    MAX_DELAY,
  );
  const maxAttempts = value.maxAttempts === Infinity ? Infinity : integerOption(
    "reconnect.maxAttempts",
    value.maxAttempts,
    DEFAULT_BACKOFF.maxAttempts,
    1,
  );
  return {
    initialDelay,
    maxDelay,
    factor: numberOption(
      "reconnect.factor",
      value.factor,
      DEFAULT_BACKOFF.factor,
      1,
      1000,
    ),
    jitter: numberOption(
      "reconnect.jitter",
      value.jitter,
      DEFAULT_BACKOFF.jitter,
      0,
      1,
    ),
    maxAttempts,
  };
}

/**
 * Milliseconds to wait before attempt `attempt` (1, 2, ...):
 * `min(maxDelay, initialDelay * factor ** (attempt - 1))`, less up to
 * `jitter` of it at random.
 */
export function backoffDelay(
  backoff: Backoff,
  attempt: number,
  random: () => number = Math.random,
): number {
  const base = Math.min(
    backoff.maxDelay,
    backoff.initialDelay * backoff.factor ** (attempt - 1),
  );
  return Math.round(base * (1 - backoff.jitter * random()));
}

function booleanOption(name: string, value: boolean | undefined): boolean {
  if (value !== undefined && typeof value !== "boolean") {
    throw new TypeError(
      `Cannot use ${name}: ${String(value)} is not a boolean`,
    );
  }
  return value ?? false;
}

function callbackOption<T>(name: string, value: T | undefined): T | undefined {
  if (value !== undefined && typeof value !== "function") {
    throw new TypeError(`Cannot use ${name}: it is not a function`);
  }
  return value;
}

/** The client's frame format, resolved with its maxFrameSize. */
function clientFraming(options: ClientOptions): Framing {
  const framing = framingOf(
    options.format,
    maxFrameSizeOption(options.maxFrameSize),
  );
  if (framing.encodes === null) throw framing.unwritable("create client");
  return framing;
}

/** Validates a client's options. */
export function clientSettings(options: ClientOptions) {
  const framing = clientFraming(options);
  const maxInFlight = integerOption(
    "maxInFlight",
    options.maxInFlight,
    1024,
    1,
  );
  // Ids of requests in flight and of those abandoned, whose late responses
  // may still come, must all fit.
  if (framing.id !== null && maxInFlight * 2 > framing.id.space) {
    throw new RangeError(
      `Cannot use maxInFlight: a ${framing.id.width}-byte request id allows at most ${
        framing.id.space / 2
      } requests in flight, got ${maxInFlight}`,
    );
  }
  return {
    framing,
    maxInFlight,
    requestTimeout: integerOption(
      "requestTimeout",
      options.requestTimeout,
      0,
      0,
      MAX_DELAY,
    ),
    zeroCopy: booleanOption("zeroCopy", options.zeroCopy),
    backoff: backoffOption(options.reconnect),
    onDisconnect: callbackOption("onDisconnect", options.onDisconnect),
    onReconnect: callbackOption("onReconnect", options.onReconnect),
  };
}

/** Validates the options of `Client.close()`; `timeout` undefined when not given. */
export function closeSettings(options: ClientCloseOptions): {
  force: boolean;
  timeout: number | undefined;
} {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `Cannot close client: ${String(options)} is not an object`,
    );
  }
  return {
    force: booleanOption("force", options.force),
    timeout: options.timeout === undefined
      ? undefined
      : integerOption("timeout", options.timeout, 0, 0, MAX_DELAY),
  };
}
