// The intrusive list a server keeps its open connections in.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConnectionList, type Listed } from "../src/_connection_list.ts";

class Item implements Listed<Item> {
  listPrev: Item | null = null;
  listNext: Item | null = null;
  constructor(readonly name: string) {}
}

const names = (list: ConnectionList<Item>) =>
  list.toArray().map((item) => item.name);

test("connection list: keeps the order items were added in, and removes any of them", () => {
  const list = new ConnectionList<Item>();
  const [a, b, c, d] = ["a", "b", "c", "d"].map((name) => new Item(name));
  for (const item of [a, b, c, d]) list.add(item);
  assert.equal(list.size, 4);
  assert.deepEqual(names(list), ["a", "b", "c", "d"]);
  assert.equal(list.delete(b), true);
  assert.equal(list.delete(b), false, "no longer in it");
  assert.deepEqual(names(list), ["a", "c", "d"]);
  assert.equal(list.delete(a), true);
  assert.equal(list.delete(d), true);
  assert.deepEqual(names(list), ["c"]);
  assert.equal(list.delete(c), true);
  assert.equal(list.size, 0);
  assert.deepEqual(names(list), []);
  assert.equal(list.delete(new Item("never added")), false);
  list.add(b);
  list.add(a);
  assert.deepEqual(names(list), ["b", "a"]);
});

test("connection list: forEach visits every item while each removes itself", () => {
  const list = new ConnectionList<Item>();
  for (const name of ["a", "b", "c"]) list.add(new Item(name));
  const visited: string[] = [];
  list.forEach((item) => {
    visited.push(item.name);
    if (item.name !== "b") list.delete(item);
  });
  assert.deepEqual(visited, ["a", "b", "c"]);
  assert.deepEqual(names(list), ["b"]);
  assert.equal(list.size, 1);
});

test("connection list: forEach stops where the next item was removed meanwhile", () => {
  const list = new ConnectionList<Item>();
  const items = ["a", "b", "c"].map((name) => new Item(name));
  for (const item of items) list.add(item);
  const visited: string[] = [];
  list.forEach((item) => {
    visited.push(item.name);
    if (item.name === "a") list.delete(items[1]);
  });
  assert.deepEqual(visited, ["a"]);
  assert.deepEqual(names(list), ["a", "c"]);
});
