// RFC 8707 resource indicators. A resource is a registered resource server (resource_servers table), the
// configured default audience, the revocation feed, or the admin API. Unknown resources are refused with
// invalid_target.
// A token's scopes are those requested, defined by the resource, and registered for the client (its
// `scope` metadata is an allow-list, as in Ory Hydra).
import { errors, type KoaContextWithOIDC, type ResourceServer, type Client } from 'oidc-provider';
import type { Db } from '../store/db.ts';
import { findResourceServer } from '../store/resource-servers.ts';
import { FEED_SCOPE, INTROSPECTS_PROPERTY } from '../domain/resource-servers.ts';
import { RESOURCE_SCOPES_PROPERTY } from './scopes.ts';
import { clientExtra } from './client-extras.ts';
import type { EngineCaches } from './engine-caches.ts';
import { impliedAdminScopes } from '../domain/admin-scopes.ts';

export interface ResourceSettings {
  db: Db;
  defaultAudience: string;
  feedAudience: string;
  /** The admin API (http/admin/): tokens carry the admin scopes the client registered. */
  adminAudience: string;
  accessTokenTtlSeconds: number;
  resourceServers: EngineCaches['resourceServers'];
}

export const DEFAULT_RESOURCE_PROPERTY = 'tessera_default_resource';

const registeredScopes = (client: Client) => new Set(String(clientExtra(client, RESOURCE_SCOPES_PROPERTY) ?? '').split(' ').filter(Boolean));

export function createResourceIndicators(settings: ResourceSettings) {
  const { resourceServers } = settings;
  return {
    enabled: true,
    async defaultResource(ctx: KoaContextWithOIDC, client: Client, oneOf?: readonly string[]) {
      if (oneOf) return oneOf;
      const own = clientExtra(client, DEFAULT_RESOURCE_PROPERTY);
      if (typeof own === 'string') return own;
      const isClientCredentials = ctx.oidc.route === 'token' && ctx.oidc.params?.grant_type === 'client_credentials';
      return isClientCredentials ? settings.defaultAudience : undefined;
    },
    // A resource named at the authorization endpoint carries through to the token endpoint.
    async useGrantedResource() {
      return true;
    },
    async getResourceServerInfo(ctx: KoaContextWithOIDC, resource: string, client: Client): Promise<ResourceServer> {
      if (resource === settings.feedAudience) {
        if (typeof clientExtra(client, INTROSPECTS_PROPERTY) !== 'string') throw new errors.InvalidTarget();
        return { scope: FEED_SCOPE, audience: resource, accessTokenTTL: 300, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } };
      }
      const allowed = registeredScopes(client);
      if (resource === settings.adminAudience) {
        const scopes = impliedAdminScopes(allowed);
        // Only clients registered for the admin API hold tokens for it, and only their own (client_credentials):
        // a person signing in to such a client must not borrow its admin rights.
        const clientCredentials = ctx.oidc.route === 'token' && ctx.oidc.params?.grant_type === 'client_credentials';
        if (scopes.length === 0 || !clientCredentials) throw new errors.InvalidTarget();
        return { scope: scopes.join(' '), audience: resource, accessTokenTTL: settings.accessTokenTtlSeconds, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } };
      }
      const registered = await resourceServers.get(resource, () => findResourceServer(settings.db, resource));
      if (registered) {
        // RFC 8707 §2: a client gets a token for an API only when it is allowed that API — it holds one of
        // the API's scopes, or the API is its default resource — on every grant type alike.
        const scope = registered.scopes.map((s) => s.name).filter((s) => allowed.has(s));
        if (scope.length === 0 && clientExtra(client, DEFAULT_RESOURCE_PROPERTY) !== registered.identifier) {
          throw new errors.InvalidTarget(`this client is not allowed to obtain tokens for ${registered.identifier}`);
        }
        return {
          scope: scope.join(' '),
          audience: registered.identifier,
          accessTokenTTL: registered.accessTokenTtl,
          accessTokenFormat: registered.accessTokenFormat,
          ...(registered.accessTokenFormat === 'jwt' ? { jwt: { sign: { alg: registered.signingAlg as 'ES256' } } } : {}),
        };
      }
      if (resource === settings.defaultAudience) {
        // The default audience defines no scopes of its own: the client's registered ones apply.
        return { scope: [...allowed].join(' '), audience: resource, accessTokenTTL: settings.accessTokenTtlSeconds, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } };
      }
      throw new errors.InvalidTarget();
    },
  };
}
