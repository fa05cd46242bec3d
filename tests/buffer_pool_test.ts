import { test } from "node:test";
import assert from "node:assert/strict";
import { BufferPool, POOL_MIN_SIZE } from "../src/_buffer_pool.ts";

const MiB = 1024 * 1024;

test("a given-back buffer is reused for a frame that fits", () => {
  const pool = new BufferPool(64 * MiB);
  const first = pool.take(3 * MiB);
  assert.equal(first.length, 3 * MiB);
  pool.give(first);
  assert.equal(pool.idleBytes, 3 * MiB);
  const second = pool.take(2 * MiB);
  assert.equal(second.length, 2 * MiB);
  assert.equal(second.buffer, first.buffer, "same memory");
  assert.equal(pool.idleBytes, 0);
  const third = pool.take(2 * MiB);
  assert.notEqual(
    third.buffer,
    first.buffer,
    "memory in use is not handed out twice",
  );
});

test("the smallest idle buffer that fits is taken", () => {
  const pool = new BufferPool(64 * MiB);
  const big = pool.take(8 * MiB);
  const small = pool.take(2 * MiB);
  pool.give(big);
  pool.give(small);
  assert.equal(pool.take(POOL_MIN_SIZE).buffer, small.buffer);
  assert.equal(pool.take(3 * MiB).buffer, big.buffer);
  assert.notEqual(pool.take(9 * MiB).buffer, big.buffer);
});

test("idle memory is bounded; the larger buffers are kept", () => {
  const pool = new BufferPool(10 * MiB);
  const a = pool.take(4 * MiB);
  const b = pool.take(4 * MiB);
  const c = pool.take(6 * MiB);
  pool.give(a);
  pool.give(b);
  assert.equal(pool.idleBytes, 8 * MiB);
  pool.give(c); // over the bound: a 4 MiB buffer makes way for the 6 MiB one
  assert.equal(pool.idleBytes, 10 * MiB);
  assert.equal(pool.take(5 * MiB).buffer, c.buffer);
  pool.give(pool.take(1)); // small buffers are never pooled
  pool.give(a);
  pool.give(a); // a second give of the same memory is ignored
  assert.ok(pool.idleBytes <= 10 * MiB);
});
