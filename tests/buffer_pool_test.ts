import { test } from "node:test";
import assert from "node:assert/strict";
import { BufferPool, POOL_MIN_SIZE } from "../src/_buffer_pool.ts";

const MiB = 1024 * 1024;

test("a given-back buffer is reused for a frame that fits", () => {
  const pool = new BufferPool(64 * MiB);
  const first = pool.take(3 * MiB);
  assert.equal(first.length, 3 * MiB);
  pool.give(first);
  const second = pool.take(2 * MiB);
  assert.equal(second.length, 2 * MiB);
  assert.equal(second.buffer, first.buffer, "same memory");
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
  pool.give(c); // over the bound: a 4 MiB buffer makes way for the 6 MiB one
  assert.equal(pool.take(5 * MiB).buffer, c.buffer);
  const kept = pool.take(4 * MiB).buffer;
  assert.ok(kept === a.buffer || kept === b.buffer);
  const fresh = pool.take(4 * MiB).buffer;
  assert.ok(fresh !== a.buffer && fresh !== b.buffer, "the other was dropped");
});

test("small buffers are not pooled; a second give of the same memory is ignored", () => {
  const pool = new BufferPool(64 * MiB);
  const small = pool.take(1);
  pool.give(small);
  assert.notEqual(pool.take(1).buffer, small.buffer);
  const a = pool.take(4 * MiB);
  pool.give(a);
  pool.give(a);
  assert.equal(pool.take(4 * MiB).buffer, a.buffer);
  assert.notEqual(pool.take(4 * MiB).buffer, a.buffer);
});
