/**
 * Prefix scans as key ranges. SQLite compares TEXT with memcmp on UTF-8, which orders strings by code
 * point; so every key starting with `prefix` lies in [prefix, prefixEnd(prefix)).
 */

/** The smallest string above every string that starts with prefix, or undefined when there is none. */
export function prefixEnd(prefix: string): string | undefined {
  const points = Array.from(prefix);
  while (points.length > 0) {
    const last = points.pop()?.codePointAt(0) ?? 0;
    if (last < 0x10ffff) {
      let next = last + 1;
      // Surrogate code points are not valid in UTF-8; the next encodable one is U+E000.
      if (next >= 0xd800 && next <= 0xdfff) next = 0xe000;
      return points.join('') + String.fromCodePoint(next);
    }
  }
  return undefined;
}
