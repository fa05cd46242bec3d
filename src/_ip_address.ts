// IP address text <-> bytes, as the PROXY protocol needs them: strict
// parsing of version 1's canonical text forms, and RFC 5952 text for the
// binary addresses of version 2.

/** Parses a dotted-quad IPv4 address (no leading zeros); null if it is not one. */
export function parseIPv4(
  text: string,
  into = new Uint8Array(4),
  offset = 0,
): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  for (let i = 0; i < 4; i++) {
    const part = parts[i];
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return null;
    const value = Number(part);
    if (value > 255) return null;
    into[offset + i] = value;
  }
  return into;
}

/**
 * Parses an IPv6 address: eight groups of one to four hex digits, at most
 * one `::`, optionally ending in a dotted quad. Null if it is not one.
 */
export function parseIPv6(text: string): Uint8Array | null {
  const bytes = new Uint8Array(16);
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const head = halves[0] === "" ? [] : halves[0].split(":");
  const tail = halves.length === 1 || halves[1] === ""
    ? []
    : halves[1].split(":");
  const groups: number[] = [];
  // A trailing dotted quad stands for the last two groups.
  let quad: Uint8Array | null = null;
  const last = text.slice(text.lastIndexOf(":") + 1);
  if (last.includes(".")) {
    quad = parseIPv4(last);
    if (quad === null) return null;
    (halves.length === 2 ? tail : head).pop();
  }
  for (const group of [...head, ...tail]) {
    if (!/^[0-9A-Fa-f]{1,4}$/.test(group)) return null;
    groups.push(parseInt(group, 16));
  }
  const count = head.length + tail.length + (quad === null ? 0 : 2);
  if (halves.length === 1 ? count !== 8 : count > 7) return null;
  let at = 0;
  for (let i = 0; i < head.length; i++, at += 2) {
    bytes[at] = groups[i] >> 8;
    bytes[at + 1] = groups[i] & 0xff;
  }
  at = 16 - (quad === null ? 0 : 4) - 2 * tail.length;
  for (let i = 0; i < tail.length; i++, at += 2) {
    bytes[at] = groups[head.length + i] >> 8;
    bytes[at + 1] = groups[head.length + i] & 0xff;
  }
  if (quad !== null) bytes.set(quad, 12);
  return bytes;
}

/** The dotted-quad text of the 4 bytes at `offset`. */
export function formatIPv4(bytes: Uint8Array, offset = 0): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${
    bytes[offset + 3]
  }`;
}

/**
 * The RFC 5952 text of the 16 bytes at `offset`: lower case, no leading
 * zeros, the longest run of two or more zero groups as `::`, and an
 * IPv4-mapped address as `::ffff:a.b.c.d`.
 */
export function formatIPv6(bytes: Uint8Array, offset = 0): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) {
    groups.push((bytes[offset + i] << 8) | bytes[offset + i + 1]);
  }
  if (
    groups[0] === 0 && groups[1] === 0 && groups[2] === 0 &&
    groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff
  ) {
    return `::ffff:${formatIPv4(bytes, offset + 12)}`;
  }
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    groups.slice(from, to).map((g) => g.toString(16)).join(":");
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}
