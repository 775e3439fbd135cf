/**
 * Seeded pseudo-random generation for property-style tests: every run checks the same
 * thousands of cases, and a failure names the seed and case that reproduce it.
 */

export type Random = () => number;

/** mulberry32: small, fast, and good enough to spread test cases. */
export function seeded(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function integer(random: Random, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

export function pick<T>(random: Random, items: readonly T[]): T {
  if (items.length === 0) throw new Error('pick from an empty list');
  return items[Math.floor(random() * items.length)] as T;
}

/** A string of up to `maxLength` items drawn from `alphabet` (items may be several UTF-16 units). */
export function stringOf(random: Random, alphabet: readonly string[], maxLength: number): string {
  let text = '';
  for (let i = integer(random, 0, maxLength); i > 0; i -= 1) text += pick(random, alphabet);
  return text;
}

/** `length` bytes, drawn from `pool` when given (to make some byte sequences likely). */
export function bytes(random: Random, length: number, pool?: Buffer): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i += 1) out[i] = pool ? (pool[Math.floor(random() * pool.length)] ?? 0) : Math.floor(random() * 256);
  return out;
}
