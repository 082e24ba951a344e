// A tiny read-through cache for hot lookups (clients, resource servers) on the token path. Entries live
// CACHE_TTL_MS at most, so a change made by any process — disabling a client, editing a resource server —
// is seen everywhere within a second; the process that made the change drops its entry at once.
export const CACHE_TTL_MS = 1000;

export function createShortLivedCache<V>(ttlMs = CACHE_TTL_MS, maxEntries = 1000) {
  const entries = new Map<string, { at: number; value: Promise<V> }>();
  return {
    get(key: string, load: () => Promise<V>): Promise<V> {
      const now = Date.now();
      const hit = entries.get(key);
      if (hit && now - hit.at < ttlMs) return hit.value;
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
      const value = load();
      entries.set(key, { at: now, value });
      value.catch(() => entries.delete(key));
      return value;
    },
    delete(key: string): void {
      entries.delete(key);
    },
  };
}
