// Scopes that carry Tessera's own privileges: the admin API's (`admin:…`) and the revocation feed's. They are
// never obtainable through self-registration, never defined by an API (scope names are not namespaced per
// resource, so an API's `admin:users:write` would be the admin API's too), and given to a client only by a
// caller who holds them itself (RFC 9700 §2.3: least privilege; no caller gains a privilege it lacks).
import { ADMIN_ALL, isAdminScope, scopeAllows } from './admin-scopes.ts';

export const FEED_SCOPE = 'revocations:read';
/** The audience of the revocation feed's tokens (which carry FEED_SCOPE). */
export const feedAudience = (issuer: string) => `${issuer}/revocations`;
const ADMIN_NAMESPACE = 'admin:';

export function isPrivilegedScope(scope: string): boolean {
  return scope.startsWith(ADMIN_NAMESPACE) || scope === FEED_SCOPE;
}

export const privilegedScopes = (scopes: Iterable<string>) => [...scopes].filter(isPrivilegedScope);

/**
 * The privileged scopes among `requested` that a caller holding `held` may not hand out: an admin scope it
 * is not allowed itself (`admin:*` allows all, a write scope its read scope), and anything else in the
 * reserved namespaces unless it holds `admin:*`.
 */
export function scopesBeyond(held: readonly string[], requested: Iterable<string>): string[] {
  return privilegedScopes(requested).filter((s) => (isAdminScope(s) ? !scopeAllows(held, s) : !held.includes(ADMIN_ALL)));
}

export const splitScope = (scope: unknown): string[] => (typeof scope === 'string' ? scope.split(/\s+/).filter(Boolean) : []);
