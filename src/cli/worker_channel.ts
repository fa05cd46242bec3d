/**
 * The primary's end of one worker's control connection. The worker always
 * keeps one request outstanding; the primary's commands answer it, so a
 * command waits here until the worker's request arrives, and a request
 * waits until there is a command.
 *
 * @module
 */
import {
  encodeMessage,
  type PrimaryCommand,
  type WorkerReport,
} from "./worker_control.ts";

/**
 * Commands for one worker, and its reports.
 *
 * @example
 * ```ts
 * const channel = new WorkerChannel();
 * const report = channel.query(2000); // resolves when the worker reports
 * ```
 */
export class WorkerChannel {
  #parked: ((command: PrimaryCommand) => void) | null = null;
  #queued: PrimaryCommand[] = [];
  #query: Promise<WorkerReport | null> | null = null;
  #answer: ((report: WorkerReport | null) => void) | null = null;
  #ended = false;
  /** The worker's latest report, or null before its first. */
  last: WorkerReport | null = null;

  /**
   * The response to the worker's pending request: the next command, once
   * there is one.
   */
  next(): Uint8Array | Promise<Uint8Array> {
    const queued = this.#queued.shift();
    if (queued !== undefined) return encodeMessage(queued);
    if (this.#ended) return encodeMessage({ type: "bye" });
    return new Promise((resolve) => {
      this.#parked = (command) => resolve(encodeMessage(command));
    });
  }

  /** Sends `command` now if the worker is waiting, else with its next request. */
  send(command: PrimaryCommand): void {
    if (this.#ended) return;
    const parked = this.#parked;
    if (parked === null) {
      this.#queued.push(command);
    } else {
      this.#parked = null;
      parked(command);
    }
  }

  /** Records a report the worker sent, answering a query waiting for it. */
  reported(report: WorkerReport): void {
    this.last = report;
    this.#answer?.(report);
  }

  /**
   * Asks the worker for a report; queries made while one is out share it.
   *
   * @returns Its report, or its last one (null if none) when it does not
   * answer within `timeoutMs` or ends first.
   */
  query(timeoutMs: number): Promise<WorkerReport | null> {
    if (this.#ended) return Promise.resolve(this.last);
    if (this.#query === null) {
      let timer: ReturnType<typeof setTimeout>;
      this.#query = new Promise<WorkerReport | null>((resolve) => {
        this.#answer = resolve;
        timer = setTimeout(() => resolve(this.last), timeoutMs);
      }).finally(() => {
        clearTimeout(timer);
        this.#query = this.#answer = null;
      });
      this.send({ type: "stats" });
    }
    return this.#query;
  }

  /**
   * The worker has stopped or is gone: its pending request is answered with
   * "bye", queued commands are dropped, and a waiting query gets the last
   * report.
   */
  end(): void {
    if (this.#ended) return;
    this.send({ type: "bye" });
    this.#ended = true;
    this.#queued = [];
    this.#answer?.(this.last);
  }
}
