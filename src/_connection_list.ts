/**
 * The open connections of a server, in the order they opened.
 *
 * A doubly linked list whose links the connections carry themselves
 * (`listPrev`, `listNext`): adding or removing one is a few stores, with no
 * memory of its own. A `Set` of 10,000 connections holds a hash table of
 * about 330 KB, and leaves the old one to the garbage collector each time it
 * doubles while a burst of connections arrives.
 *
 * @module
 */

/** An item of a {@linkcode ConnectionList}: it carries its own links. */
export interface Listed<T> {
  /** The item before it in its list, or null (first, or in no list). */
  listPrev: T | null;
  /** The item after it in its list, or null (last, or in no list). */
  listNext: T | null;
}

/** A list of items that carry their own links; an item is in one list at most. */
export class ConnectionList<T extends Listed<T>> {
  #head: T | null = null;
  #tail: T | null = null;
  #size = 0;

  /** How many items are in the list. */
  get size(): number {
    return this.#size;
  }

  /** Appends `item`, which must be in no list. */
  add(item: T): void {
    const tail = this.#tail;
    item.listPrev = tail;
    item.listNext = null;
    if (tail === null) this.#head = item;
    else tail.listNext = item;
    this.#tail = item;
    this.#size++;
  }

  /**
   * Removes `item`.
   *
   * @returns Whether it was in the list.
   */
  delete(item: T): boolean {
    const prev = item.listPrev;
    if (prev === null && this.#head !== item) return false;
    const next = item.listNext;
    if (prev === null) this.#head = next;
    else prev.listNext = next;
    if (next === null) this.#tail = prev;
    else next.listPrev = prev;
    item.listPrev = null;
    item.listNext = null;
    this.#size--;
    return true;
  }

  /**
   * Calls `visit` with each item, in order. `visit` may remove the item it
   * is given; removing the next one ends the walk there.
   */
  forEach(visit: (item: T) => void): void {
    let item = this.#head;
    while (item !== null) {
      const next = item.listNext;
      visit(item);
      if (next !== null && next.listPrev === null && this.#head !== next) {
        return; // removed meanwhile: the walk has lost its place
      }
      item = next;
    }
  }

  /** The items, in order, in a new array. */
  toArray(): T[] {
    const items: T[] = [];
    for (let item = this.#head; item !== null; item = item.listNext) {
      items.push(item);
    }
    return items;
  }
}
