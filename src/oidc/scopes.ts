// How client scopes reach the engine. oidc-provider restricts a client's `scope` only for its static
// (OpenID Connect) scopes; scopes of resource servers are granted by getResourceServerInfo (see the engine's
// grant_authorization helper). So the engine sees the OIDC part of a client's registered scopes as `scope`,
// and the rest as the extra metadata property below, which resources.ts reads.
export const OIDC_SCOPES = ['openid', 'offline_access', 'profile', 'email', 'roles'] as const;
export const RESOURCE_SCOPES_PROPERTY = 'tessera_resource_scopes';

const OIDC_SCOPE_SET = new Set<string>(OIDC_SCOPES);

export function splitRegisteredScope(scope: unknown): { oidc: string | undefined; resource: string | undefined } {
  const all = typeof scope === 'string' ? scope.split(' ').filter(Boolean) : [];
  const join = (list: string[]) => (list.length ? list.join(' ') : undefined);
  return { oidc: join(all.filter((s) => OIDC_SCOPE_SET.has(s))), resource: join(all.filter((s) => !OIDC_SCOPE_SET.has(s))) };
}
