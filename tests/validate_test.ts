import { test } from "node:test";
import assert from "node:assert/strict";
import { checkNumber, integerOption, numberOption } from "../src/_validate.ts";
import { numberFlag, parsePort, parseSize } from "../src/cli/args.ts";

test("checkNumber: integers by default, then the range", () => {
  const fail = (problem: string) => new Error(problem);
  assert.equal(checkNumber(5, { min: 1, max: 5 }, fail), 5);
  assert.throws(() => checkNumber(1.5, { min: 0 }, fail), /^Error: kind$/);
  assert.throws(() => checkNumber("5", { min: 0 }, fail), /^Error: kind$/);
  assert.throws(() => checkNumber(6, { min: 1, max: 5 }, fail), /range/);
  assert.throws(() => checkNumber(2 ** 53, { min: 0 }, fail), /range/);
  const decimal = { min: 0, max: 1, integer: false };
  assert.equal(checkNumber(0.5, decimal, fail), 0.5);
  assert.throws(() => checkNumber(NaN, decimal, fail), /kind/);
  assert.throws(() => checkNumber(Infinity, decimal, fail), /range/);
});

test("options: TypeError for the wrong kind, RangeError out of range, the fallback when undefined", () => {
  assert.equal(integerOption("n", undefined, 7, 0), 7);
  assert.throws(
    () => integerOption("n", 1.5, 7, 0),
    new TypeError("Cannot use n: 1.5 is not an integer"),
  );
  assert.throws(
    () => integerOption("n", -1, 7, 0, 9),
    new RangeError("Cannot use n: -1 is outside the range 0 to 9"),
  );
  assert.equal(numberOption("f", 0.25, 1, 0, 1), 0.25);
  assert.throws(
    () => numberOption("f", NaN, 1, 0, 1),
    new TypeError("Cannot use f: NaN is not a number"),
  );
});

test("flags: digits only for integers, one usage error naming what the flag takes", () => {
  assert.equal(numberFlag("n", "12", { min: 1 }, "a count"), 12);
  for (const text of ["0", "-1", "1.5", "x", " 3"]) {
    assert.throws(
      () => numberFlag("n", text, { min: 1 }, "a count"),
      {
        name: "UsageError",
        message: `option '--n' expects a count, got '${text}'`,
      },
    );
  }
  const seconds = { min: 0, max: Number.MAX_VALUE, integer: false };
  assert.equal(numberFlag("s", "0.5", seconds, "seconds"), 0.5);
  assert.throws(() => numberFlag("s", "Infinity", seconds, "seconds"));
  assert.throws(
    () => parsePort("99999"),
    /option '--port' expects a port from 0 to 65535, got '99999'/,
  );
  assert.equal(parseSize("size", "2k", 4096), 2048);
  assert.throws(
    () => parseSize("size", "8k", 4096),
    /option '--size' must be at most 4096, got 8192/,
  );
});
