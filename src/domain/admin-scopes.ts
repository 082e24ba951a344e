// Who may call the admin API: access tokens for the admin audience, by client_credentials, carrying admin
// scopes. `admin:*` allows everything; `admin:<area>:write` implies `admin:<area>:read`.
export const ADMIN_AREAS = ['clients', 'users', 'resources', 'grants', 'sessions', 'keys', 'registration', 'audit', 'upstreams'] as const;
export type AdminArea = (typeof ADMIN_AREAS)[number];

export const ADMIN_ALL = 'admin:*';
export type AdminScope = typeof ADMIN_ALL | `admin:${AdminArea}:${'read' | 'write'}`;

export const ADMIN_SCOPES: readonly AdminScope[] = [ADMIN_ALL, ...ADMIN_AREAS.flatMap((a) => [`admin:${a}:read`, `admin:${a}:write`] as const)];

const KNOWN = new Set<string>(ADMIN_SCOPES);

export const SCOPE_DESCRIPTIONS: Record<AdminScope, string> = Object.fromEntries(
  ADMIN_SCOPES.map((s) => {
    if (s === ADMIN_ALL) return [s, 'Everything the admin API offers'];
    const [, area, level] = s.split(':');
    return [s, level === 'read' ? `Read ${area}` : `Read and change ${area}`];
  }),
) as Record<AdminScope, string>;

/** The audience of admin API access tokens (RFC 8707 resource indicator). */
export const adminAudience = (issuer: string) => `${issuer}/admin`;

export function isAdminScope(scope: string): scope is AdminScope {
  return KNOWN.has(scope);
}

/** Whether a token holding `granted` may do what `required` covers. */
export function scopeAllows(granted: Iterable<string>, required: AdminScope): boolean {
  const held = new Set(granted);
  if (held.has(ADMIN_ALL) || held.has(required)) return true;
  return required.endsWith(':read') && held.has(required.replace(/:read$/, ':write'));
}

/**
 * Every admin scope a client registered for `registered` may ask for: its own, and those they imply
 * (`admin:*` → all; a write scope → its read scope), so a broad client can still take a narrow token.
 */
export function impliedAdminScopes(registered: Iterable<string>): AdminScope[] {
  const own = [...registered].filter(isAdminScope);
  return ADMIN_SCOPES.filter((s) => scopeAllows(own, s));
}
