import { test } from "node:test";
import assert from "node:assert/strict";
import { Logger } from "../src/cli/log.ts";
import { closedConnectionLine } from "../src/_closed_connection_line.ts";
import { ConnectionTimeoutError, FrameTooLargeError } from "../src/errors.ts";
import type { RequestContext } from "../src/handler.ts";

const now = () => new Date("2026-11-27T12:00:00.000Z");
const context: RequestContext = {
  connectionId: 7,
  remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 5000 },
  localAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1234 },
};

test("text lines carry time, level, message and quoted fields; lower levels are dropped", () => {
  const lines: string[] = [];
  const log = new Logger((l) => lines.push(l), { level: "info", now });
  log.debug("hidden");
  log.info("listening", { port: 1234, host: "0.0.0.0" });
  log.warn("odd", { note: "two words", skip: undefined });
  assert.deepEqual(lines, [
    "2026-11-27T12:00:00.000Z INFO listening port=1234 host=0.0.0.0",
    '2026-11-27T12:00:00.000Z WARN odd note="two words"',
  ]);
});

test("json lines are one object each", () => {
  const lines: string[] = [];
  const log = new Logger((l) => lines.push(l), {
    level: "debug",
    format: "json",
    now,
  });
  log.debug("d", { n: 1 });
  assert.deepEqual(JSON.parse(lines[0]), {
    time: "2026-11-27T12:00:00.000Z",
    level: "debug",
    msg: "d",
    n: 1,
  });
});

test("fields given to the logger are on every line, event fields after them", () => {
  const lines: string[] = [];
  const json = new Logger((l) => lines.push(l), {
    format: "json",
    now,
    fields: { worker: 2 },
  });
  json.info("listening", { port: 1234 });
  json.connectionErrors()(new FrameTooLargeError("decode", 100, 16), context);
  assert.deepEqual(JSON.parse(lines[0]), {
    time: "2026-11-27T12:00:00.000Z",
    level: "info",
    msg: "listening",
    worker: 2,
    port: 1234,
  });
  assert.equal(JSON.parse(lines[1]).worker, 2);
  const text = new Logger((l) => lines.push(l), { now, fields: { worker: 3 } });
  text.warn("restarting", { worker: 4 });
  assert.equal(
    lines[2],
    "2026-11-27T12:00:00.000Z WARN restarting worker=4",
  );
});

test("connectionErrors names the reason of each closed connection", () => {
  const lines: string[] = [];
  const log = new Logger((l) => lines.push(l), { format: "json", now });
  const onError = log.connectionErrors();
  onError(new ConnectionTimeoutError("idle", 1000), context);
  onError(new FrameTooLargeError("decode", 70000000, 33554432), context);
  onError(new Error("boom"), context);
  const events = lines.map((l) => JSON.parse(l));
  assert.deepEqual(events.map((e) => [e.level, e.reason]), [
    ["warn", "idle_timeout"],
    ["warn", "protocol_error"],
    ["error", "handler_error"],
  ]);
  assert.equal(events[0].peer, "127.0.0.1:5000");
  assert.equal(events[0].connection, 7);
  assert.equal(
    events[1].error,
    "FrameTooLargeError: Cannot decode frame: length 70000000 exceeds maxFrameSize 33554432",
  );
});

test("bad levels and formats are RangeErrors", () => {
  // @ts-expect-error: checks the run-time guard
  assert.throws(() => new Logger(() => {}, { level: "loud" }), RangeError);
  // @ts-expect-error: checks the run-time guard
  assert.throws(() => new Logger(() => {}, { format: "xml" }), RangeError);
});

test("closedConnectionLine names TCP, IPv6 and Unix socket peers", () => {
  const error = new Error("boom");
  assert.equal(
    closedConnectionLine(error, context),
    "framewire: closing connection 7 from 127.0.0.1:5000: Error: boom",
  );
  const v6 = {
    ...context,
    remoteAddr: { transport: "tcp", hostname: "::1", port: 9 },
  };
  assert.equal(
    closedConnectionLine(error, v6),
    "framewire: closing connection 7 from [::1]:9: Error: boom",
  );
  const unix = {
    ...context,
    remoteAddr: { transport: "unix", hostname: "", port: 0 },
  };
  assert.equal(
    closedConnectionLine("gone", unix),
    "framewire: closing connection 7 from unix:(unnamed): gone",
  );
});
