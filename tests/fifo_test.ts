import { test } from "node:test";
import assert from "node:assert/strict";
import { Fifo } from "../src/_fifo.ts";

test("Fifo: push, peek, shift, prepend and drain keep first-in first-out order", () => {
  const fifo = new Fifo<number>();
  assert.equal(fifo.peek(), undefined);
  for (let i = 0; i < 3000; i++) fifo.push(i);
  for (let i = 0; i < 2000; i++) assert.equal(fifo.shift(), i); // compacts past 1024
  assert.equal(fifo.peek(), 2000);
  assert.equal(fifo.length, 1000);
  fifo.prepend([-2, -1]);
  assert.equal(fifo.length, 1002);
  assert.equal(fifo.shift(), -2);
  assert.equal(fifo.peek(), -1);
  const rest = fifo.drain();
  assert.equal(rest.length, 1001);
  assert.deepEqual(rest.slice(0, 3), [-1, 2000, 2001]);
  assert.equal(fifo.length, 0);
  assert.equal(fifo.shift(), undefined);
  fifo.prepend([]);
  assert.equal(fifo.length, 0);
});
