// The engine's read-through caches of clients and resource servers (short-lived-cache.ts), kept by the
// serving process across engine rebuilds (a key rotation builds a new engine) so that a service that
// changes a client or resource server in this process can drop the cached copy at once; other processes
// see the change within CACHE_TTL_MS.
import type { Payload } from '../store/engine-records.ts';
import type { findResourceServer } from '../store/resource-servers.ts';
import { createShortLivedCache } from './short-lived-cache.ts';

export interface EngineCaches {
  /** Client metadata as the engine reads it (undefined: unknown or disabled). */
  clients: ReturnType<typeof createShortLivedCache<Payload | undefined>>;
  resourceServers: ReturnType<typeof createShortLivedCache<Awaited<ReturnType<typeof findResourceServer>>>>;
  /** The scopes of every registered API, for discovery's scopes_supported (one entry, 'all'). */
  resourceScopes: ReturnType<typeof createShortLivedCache<string[]>>;
}

export function createEngineCaches(): EngineCaches {
  return { clients: createShortLivedCache(), resourceServers: createShortLivedCache(), resourceScopes: createShortLivedCache() };
}
