// RFC 8707 resource indicators. Until resource servers are managed in the database, one resource exists:
// the configured default audience, used by client_credentials when no `resource` is named.
// Access tokens for a resource are JWTs per RFC 9068, signed ES256; tokens for userinfo stay opaque.
import { errors, type KoaContextWithOIDC, type ResourceServer } from 'oidc-provider';
import type { Client } from 'oidc-provider';
import { RESOURCE_SCOPES_PROPERTY } from './scopes.ts';

export interface ResourceSettings {
  defaultAudience: string;
  accessTokenTtlSeconds: number;
}

export function createResourceIndicators(settings: ResourceSettings) {
  return {
    enabled: true,
    async defaultResource(ctx: KoaContextWithOIDC, _client: Client, oneOf?: readonly string[]) {
      if (oneOf) return oneOf;
      const isClientCredentials = ctx.oidc.route === 'token' && ctx.oidc.params?.grant_type === 'client_credentials';
      return isClientCredentials ? settings.defaultAudience : undefined;
    },
    // A resource named at the authorization endpoint carries through to the token endpoint.
    async useGrantedResource() {
      return true;
    },
    async getResourceServerInfo(_ctx: KoaContextWithOIDC, resource: string, client: Client): Promise<ResourceServer> {
      if (resource !== settings.defaultAudience) throw new errors.InvalidTarget();
      // The scopes this client was registered with, beyond the OpenID Connect ones (see scopes.ts).
      const scope = String(client.metadata()[RESOURCE_SCOPES_PROPERTY] ?? '');
      return {
        scope,
        audience: resource,
        accessTokenTTL: settings.accessTokenTtlSeconds,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      };
    },
  };
}
