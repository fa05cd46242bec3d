import { test } from "node:test";
import assert from "node:assert/strict";
import { EventLog } from "../src/cli/log.ts";
import { connectionClosed, formatText } from "../src/_log_format.ts";
import { ConnectionTimeoutError, FrameTooLargeError } from "../src/errors.ts";
import type { RequestContext } from "../src/handler.ts";

const now = () => new Date("2026-11-27T12:00:00.000Z");
const context: RequestContext = {
  connectionId: 7,
  remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 5000 },
  localAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1234 },
  state: {},
};
/** The first line of a logged text: a handler error's stack follows it. */
const firstLine = (text: string) => text.split("\n")[0];

/** An output that records lines, marked with their stream. */
function recorder(lines: string[]) {
  return {
    print: (line: string) => lines.push(`out ${line}`),
    printError: (line: string) => lines.push(`err ${line}`),
  };
}

test("text lines: info on stdout, warnings and closed connections on stderr, lower levels dropped", () => {
  const lines: string[] = [];
  const log = new EventLog(recorder(lines), { level: "info" });
  log.info("Server listening on 127.0.0.1:1234", { port: 1234 });
  log.warn("Second signal: exiting", { event: "forced" });
  log.connectionClosed(new Error("boom"), context);
  assert.deepEqual(lines.map(firstLine), [
    "out Server listening on 127.0.0.1:1234",
    "err Second signal: exiting",
    "err framewire: closing connection 7 from 127.0.0.1:5000: Error: boom",
  ]);
  lines.length = 0;
  const quiet = new EventLog(recorder(lines), { level: "warn", worker: 2 });
  quiet.info("hidden");
  quiet.warn("restarting");
  assert.deepEqual(lines, ["err [worker 2] restarting"]);
});

test("json lines are one object each, on stdout", () => {
  const lines: string[] = [];
  const log = new EventLog(recorder(lines), { format: "json", now });
  log.warn("odd", { note: "two words", skip: undefined });
  assert.equal(lines[0].slice(0, 4), "out ");
  assert.deepEqual(JSON.parse(lines[0].slice(4)), {
    time: "2026-11-27T12:00:00.000Z",
    level: "warn",
    msg: "odd",
    note: "two words",
  });
});

test("a worker's json lines carry its number, event fields after it", () => {
  const lines: string[] = [];
  const json = new EventLog(recorder(lines), {
    format: "json",
    now,
    worker: 2,
  });
  json.info("listening", { port: 1234 });
  json.connectionClosed(new FrameTooLargeError("decode", 100, 16), context);
  assert.deepEqual(JSON.parse(lines[0].slice(4)), {
    time: "2026-11-27T12:00:00.000Z",
    level: "info",
    msg: "listening",
    worker: 2,
    port: 1234,
  });
  assert.equal(JSON.parse(lines[1].slice(4)).worker, 2);
});

test("closed connections name their reason", () => {
  const lines: string[] = [];
  const log = new EventLog(recorder(lines), { format: "json", now });
  const onError = log.connectionClosed;
  onError(new ConnectionTimeoutError("idle", 1000), context);
  onError(new FrameTooLargeError("decode", 70000000, 33554432), context);
  onError(new Error("boom"), context);
  const events = lines.map((l) => JSON.parse(l.slice(4)));
  assert.deepEqual(events.map((e) => [e.level, e.reason]), [
    ["warn", "idle_timeout"],
    ["warn", "protocol_error"],
    ["error", "handler_error"],
  ]);
  assert.equal(events[0].msg, "connection closed");
  assert.equal(events[0].peer, "127.0.0.1:5000");
  assert.equal(events[0].connection, 7);
  assert.equal(
    events[1].error,
    "FrameTooLargeError: Cannot decode frame: length 70000000 exceeds maxFrameSize 33554432",
  );
});

test("at level error, json and text lines keep handler errors only", () => {
  const lines: string[] = [];
  for (const format of ["json", "text"] as const) {
    const log = new EventLog(recorder(lines), { level: "error", format, now });
    log.warn("hidden");
    log.connectionClosed(new ConnectionTimeoutError("idle", 1000), context);
    log.connectionClosed(new Error("boom"), context);
  }
  assert.equal(lines.length, 2);
  assert.equal(JSON.parse(lines[0].slice(4)).reason, "handler_error");
  assert.equal(
    firstLine(lines[1]),
    "err framewire: closing connection 7 from 127.0.0.1:5000: Error: boom",
  );
});

test("a handler error's log carries its stack; a timeout's does not", () => {
  const lines: string[] = [];
  for (const format of ["text", "json"] as const) {
    const log = new EventLog(recorder(lines), { format, now });
    log.connectionClosed(new Error("boom"), context);
    log.connectionClosed(new ConnectionTimeoutError("idle", 1000), context);
  }
  const [text, timeoutText, json, timeoutJson] = lines;
  assert.match(text, /Error: boom\n\s+at .*log_test/);
  assert.doesNotMatch(timeoutText, /\n/);
  assert.match(JSON.parse(json.slice(4)).stack, /^\s+at .*log_test/);
  assert.equal(JSON.parse(timeoutJson.slice(4)).stack, undefined);
});

test("the closed-connection text line names TCP, IPv6 and Unix socket peers", () => {
  const error = new Error("boom");
  const line = (error: unknown, context: RequestContext) =>
    firstLine(formatText(connectionClosed(error, context)));
  assert.equal(
    line(error, context),
    "framewire: closing connection 7 from 127.0.0.1:5000: Error: boom",
  );
  const v6 = {
    ...context,
    remoteAddr: { transport: "tcp", hostname: "::1", port: 9 },
  };
  assert.equal(
    line(error, v6),
    "framewire: closing connection 7 from [::1]:9: Error: boom",
  );
  const unix = {
    ...context,
    remoteAddr: { transport: "unix", hostname: "", port: 0 },
  };
  assert.equal(
    line("gone", unix),
    "framewire: closing connection 7 from unix:(unnamed): gone",
  );
});
