// Discovery (OpenID Connect Discovery 1.0, RFC 8414) lists in `scopes_supported` the scopes of the APIs
// registered as resource servers as well as the OpenID ones the engine knows: strict clients refuse to ask
// for a scope the server does not advertise. The list is read through the engine's one-second cache (a
// change made in this process drops it at once, engine-caches.ts). Discovery needs no database otherwise,
// so it must keep answering during an outage: a read that fails or takes longer than half a second is
// answered with the last list read.
import type Provider from 'oidc-provider';
import type { Db } from '../store/db.ts';
import { listResourceServers } from '../store/resource-servers.ts';
import type { EngineCaches } from './engine-caches.ts';

const WAIT_MS = 500;

export function advertiseResourceScopes(provider: Provider, db: Db, cache: EngineCaches['resourceScopes']): void {
  let lastRead: string[] = [];
  const read = () =>
    cache.get('all', async () => {
      const scopes = (await listResourceServers(db)).flatMap((r) => r.scopes.map((s) => s.name));
      lastRead = scopes;
      return scopes;
    });
  const readOrLast = async () => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<string[]>((resolve) => (timer = setTimeout(() => resolve(lastRead), WAIT_MS)));
    try {
      return await Promise.race([read().catch(() => lastRead), late]);
    } finally {
      clearTimeout(timer);
    }
  };
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.oidc?.route !== 'discovery' || ctx.status !== 200) return;
    const body = ctx.body as { scopes_supported?: string[] };
    body.scopes_supported = [...new Set([...(body.scopes_supported ?? []), ...(await readOrLast())])];
  });
}
