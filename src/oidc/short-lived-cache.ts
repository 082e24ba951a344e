// A tiny read-through cache for hot lookups (clients, resource servers) on the token path. Entries live
// CACHE_TTL_MS at most, so a change made by any process — disabling a client, editing a resource server —
// is seen everywhere within a second; the process that made the change drops its entry at once.
// A request holding a transaction (store/unit-of-work.ts) is never handed a load still in flight: that load
// may be waiting for a pooled connection, which the request must never wait for; it loads for itself.
import { holdsTransaction } from '../store/unit-of-work.ts';

export const CACHE_TTL_MS = 1000;

export function createShortLivedCache<V>(ttlMs = CACHE_TTL_MS, maxEntries = 1000) {
  const entries = new Map<string, { at: number; value: Promise<V>; settled: boolean }>();
  return {
    get(key: string, load: () => Promise<V>): Promise<V> {
      const now = Date.now();
      const hit = entries.get(key);
      if (hit && now - hit.at < ttlMs) {
        if (hit.settled || !holdsTransaction()) return hit.value;
        return load();
      }
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
      const value = load();
      const entry = { at: now, value, settled: false };
      entries.set(key, entry);
      value.then(
        () => void (entry.settled = true),
        () => {
          if (entries.get(key) === entry) entries.delete(key);
        },
      );
      return value;
    },
    delete(key: string): void {
      entries.delete(key);
    },
  };
}
