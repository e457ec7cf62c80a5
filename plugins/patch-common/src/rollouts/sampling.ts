/*
 * Deterministic sampling by hashing the endpoint id.
 *
 * A pilot must stay the same pilot from one rollout to the next, so that the
 * machines that volunteered (or were chosen) to go first keep going first, and
 * so that a plan preview and the wave taken later agree. Each endpoint gets a
 * fixed position in [0, 1) from a hash of `seed` and its id; a sample of p %
 * is every endpoint whose position is below p / 100. Adding or removing other
 * endpoints never moves an endpoint in or out of the sample (only a `max` cap
 * can, and then the lowest positions win, again deterministically).
 */

/**
 * A 53-bit string hash (cyrb53): fast, well mixed and free of I/O, so that
 * the browser, the backend and the agent compute the same positions.
 */
function hash53(text: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/**
 * The fixed position of an endpoint in [0, 1) for a seed.
 * @public
 */
export function samplePosition(endpointId: string, seed = ''): number {
  // 2^53: the hash is a 53-bit integer, so the position is uniform in [0, 1).
  return hash53(`${seed}\u0000${endpointId}`) / 9007199254740992;
}

/**
 * Options of {@link sampleEndpoints}.
 * @public
 */
export interface SampleOptions {
  /** Share to take, 0 to 100 (default 100). */
  percent?: number;
  /** At most this many (lowest positions first). */
  max?: number;
  /** Seed of the positions; the same seed gives the same sample. */
  seed?: string;
}

/**
 * A deterministic sample of endpoint ids, ordered by position. With a
 * percent above zero and at least one candidate, at least one endpoint is
 * taken, so that a small group still has a pilot.
 * @public
 */
export function sampleEndpoints(
  endpointIds: readonly string[],
  options: SampleOptions = {},
): string[] {
  const percent = Math.min(Math.max(options.percent ?? 100, 0), 100);
  const seed = options.seed ?? '';
  const ranked = endpointIds
    .map(id => ({ id, position: samplePosition(id, seed) }))
    .sort((a, b) => a.position - b.position || (a.id < b.id ? -1 : 1));
  let taken = ranked.filter(r => r.position < percent / 100);
  if (taken.length === 0 && percent > 0 && ranked.length > 0) {
    taken = ranked.slice(0, 1);
  }
  if (options.max !== undefined && options.max >= 0) {
    taken = taken.slice(0, options.max);
  }
  return taken.map(r => r.id);
}
