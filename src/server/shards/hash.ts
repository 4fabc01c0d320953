/** Which scheduler shard a job belongs to: a stable hash of its name (the same in every replica and release). */

/** FNV-1a, 32 bits, over the UTF-8 bytes of s. */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(s)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export function shardOf(job: string, shardCount: number): number {
  return fnv1a32(job) % shardCount;
}
