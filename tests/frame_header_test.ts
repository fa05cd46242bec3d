import { test } from "node:test";
import assert from "node:assert/strict";
import {
  FRAME_HEADER_SIZE,
  MAX_FRAME_SIZE_LIMIT,
  readFrameLength,
  writeFrameHeader,
} from "../src/_frame_header.ts";
import * as constants from "../src/constants.ts";

test("frame header: 4 bytes, the unsigned little-endian length", () => {
  assert.equal(FRAME_HEADER_SIZE, 4);
  const out = new Uint8Array(6).fill(0xaa);
  assert.equal(writeFrameHeader(out, 1, 0x01020304), 5);
  assert.deepEqual(out, new Uint8Array([0xaa, 4, 3, 2, 1, 0xaa]));
  assert.equal(readFrameLength(out, 1), 0x01020304);
});

test("frame header: every length up to 2^32 - 1 reads back unsigned", () => {
  const out = new Uint8Array(FRAME_HEADER_SIZE);
  for (
    const length of [0, 1, 255, 256, 0x7fff_ffff, 0x8000_0000, 0xfffffffe]
  ) {
    writeFrameHeader(out, 0, length);
    assert.equal(readFrameLength(out, 0), length);
  }
  writeFrameHeader(out, 0, MAX_FRAME_SIZE_LIMIT);
  assert.deepEqual(out, new Uint8Array([0xff, 0xff, 0xff, 0xff]));
  assert.equal(readFrameLength(out, 0), 0xffff_ffff);
});

test("frame header: constants.ts re-exports the header's numbers", () => {
  assert.equal(constants.FRAME_HEADER_SIZE, FRAME_HEADER_SIZE);
  assert.equal(constants.MAX_FRAME_SIZE_LIMIT, MAX_FRAME_SIZE_LIMIT);
});
