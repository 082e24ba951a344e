// What a registrant may set. Dynamic registration (RFC 7591 §2, OpenID Connect Registration) and its RFC 7592
// updates carry registration metadata only: Tessera's own client properties (tessera_*: API scopes as the
// engine holds them, first-party, introspection rights, default resource) are set by operators through the
// CLI and the admin API, never by a registrant, and no registrant obtains a privileged scope
// (domain/scope-privileges.ts). Runs as the engine's extraClientMetadata.validator, which sees every client
// the engine builds: with the request's context at registration and update, without one when a stored client
// is loaded (written by a trusted path).
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import { privilegedScopes } from '../domain/scope-privileges.ts';
import { RESOURCE_SCOPES_PROPERTY, splitRegisteredScope } from './scopes.ts';
import { FIRST_PARTY_PROPERTY } from './consent.ts';
import { INTROSPECTS_PROPERTY } from '../domain/resource-servers.ts';
import { DEFAULT_RESOURCE_PROPERTY } from './resources.ts';
import { EXCHANGE_AUDIENCES_PROPERTY, IMPERSONATION_PROPERTY, TOKEN_EXCHANGE_GRANT } from '../domain/token-exchange.ts';
import { REQUIRE_MFA_PROPERTY } from '../domain/second-factor-policy.ts';

/** Tessera's extra client metadata: set by operators only. */
export const SERVER_OWNED_PROPERTIES = [
  RESOURCE_SCOPES_PROPERTY,
  FIRST_PARTY_PROPERTY,
  INTROSPECTS_PROPERTY,
  DEFAULT_RESOURCE_PROPERTY,
  EXCHANGE_AUDIENCES_PROPERTY,
  IMPERSONATION_PROPERTY,
  REQUIRE_MFA_PROPERTY,
] as const;
const SERVER_NAMESPACE = 'tessera_';
const REGISTRANT_ROUTES = new Set(['registration', 'client_update']);

export interface RegistrantRules {
  /**
   * Under REGISTRATION_POLICY=open (no initial access token to carry rules): the only API scopes a
   * registrant may hold, besides the OpenID Connect ones. Null when a token's rules govern instead.
   */
  openScopes: readonly string[] | null;
}

export function createRegistrantMetadataValidator(rules: RegistrantRules) {
  return function validateRegistrantMetadata(ctx: KoaContextWithOIDC | undefined, key: string, _value: unknown, metadata: Record<string, unknown>): void {
    if (!ctx || !REGISTRANT_ROUTES.has(ctx.oidc?.route)) return;
    // Called once per extra property; the whole registration is checked on the first call.
    if (key !== SERVER_OWNED_PROPERTIES[0]) return;
    const sent = Object.keys((ctx.oidc.body as Record<string, unknown> | undefined) ?? {});
    const owned = sent.find((field) => field.startsWith(SERVER_NAMESPACE)) ?? SERVER_OWNED_PROPERTIES.find((p) => metadata[p] !== undefined);
    if (owned) throw new errors.InvalidClientMetadata(`${owned} is set by the server's operators, not at registration`);
    // Token exchange (RFC 8693) acts for people: operators grant it, with its policy (domain/token-exchange.ts).
    if (Array.isArray(metadata.grant_types) && metadata.grant_types.includes(TOKEN_EXCHANGE_GRANT)) {
      throw new errors.InvalidClientMetadata(`grant type ${TOKEN_EXCHANGE_GRANT} is granted by the server's operators, not at registration`);
    }

    // RFC 7591 `scope` holds OpenID Connect and API scopes alike; the engine keeps the two apart (scopes.ts).
    const { oidc, resource } = splitRegisteredScope(metadata.scope);
    const apiScopes = resource?.split(' ') ?? [];
    const privileged = privilegedScopes(apiScopes);
    if (privileged.length) throw new errors.InvalidClientMetadata(`scope ${privileged.join(' ')} cannot be obtained by registration`);
    if (rules.openScopes) {
      const allowed = new Set(rules.openScopes);
      const extra = apiScopes.filter((s) => !allowed.has(s));
      if (extra.length) throw new errors.InvalidClientMetadata(`scope ${extra.join(' ')} is not open to self-registered clients (REGISTRATION_OPEN_SCOPES)`);
    }
    if (oidc === undefined) delete metadata.scope;
    else metadata.scope = oidc;
    if (resource === undefined) delete metadata[RESOURCE_SCOPES_PROPERTY];
    else metadata[RESOURCE_SCOPES_PROPERTY] = resource;
  };
}

/** A registration response in RFC 7591 terms: API scopes back in `scope`, no tessera_* property. */
export function presentRegisteredClient(body: Record<string, unknown>): Record<string, unknown> {
  const shown: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) if (!key.startsWith(SERVER_NAMESPACE)) shown[key] = value;
  const scope = [body.scope, body[RESOURCE_SCOPES_PROPERTY]].filter((s) => typeof s === 'string' && s).join(' ');
  if (scope) shown.scope = scope;
  return shown;
}
