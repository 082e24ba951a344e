// The engine's read-through caches (short-lived-cache.ts) of clients, resource servers, grants and
// accounts, kept by the serving process across engine rebuilds (a key rotation builds a new engine). A
// change drops the cached copy at once in the process that made it and, by PostgreSQL notice
// (store/change-notices.ts), in every other; CACHE_TTL_MS bounds what a lost notice could leave behind.
import type { Payload } from '../store/engine-records.ts';
import type { findResourceServer } from '../store/resource-servers.ts';
import type { AccountRow } from '../store/accounts.ts';
import { createShortLivedCache } from './short-lived-cache.ts';

export interface EngineCaches {
  /** Client metadata as the engine reads it (undefined: unknown or disabled). */
  clients: ReturnType<typeof createShortLivedCache<Payload | undefined>>;
  resourceServers: ReturnType<typeof createShortLivedCache<Awaited<ReturnType<typeof findResourceServer>>>>;
  /** Grants as the engine reads them (refresh, opaque introspection, existing consent). */
  grants: ReturnType<typeof createShortLivedCache<Payload | undefined>>;
  /** Accounts as findAccount reads them. */
  accounts: ReturnType<typeof createShortLivedCache<AccountRow | undefined>>;
  /** The scopes of every registered API, for discovery's scopes_supported (one entry, 'all'). */
  resourceScopes: ReturnType<typeof createShortLivedCache<string[]>>;
}

export function createEngineCaches(): EngineCaches {
  return { clients: createShortLivedCache(), resourceServers: createShortLivedCache(), resourceScopes: createShortLivedCache(), grants: createShortLivedCache(), accounts: createShortLivedCache() };
}
