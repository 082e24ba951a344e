// Dynamic client registration (RFC 7591) and management (RFC 7592) by the engine, with our policy.
// - REGISTRATION_POLICY=initial-access-token (default) requires a token an operator issued
//   (`tessera iat create`), whose rules — how many uses, which scopes and grant types — bind the
//   registration and every later RFC 7592 update. Engine reference: features.registration.policies.
// - Whatever the policy, a registrant sets only registration metadata (registrant-metadata.ts): never
//   Tessera's own properties, never a privileged scope.
// - A refused registration does not use up its token: the use is counted atomically when the rules are
//   checked, and given back when the engine refuses the registration after all.
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type Provider from 'oidc-provider';
import type { Db } from '../store/db.ts';
import { generateClientId, generateClientSecret } from '../domain/client-secrets.ts';
import { bearerHash } from '../store/bearer-hash.ts';
import {
  findClientRegistrationRules,
  releaseInitialAccessTokenUse,
  saveClientRegistrationRules,
  useInitialAccessToken,
  type RegistrationRules,
} from '../store/initial-access-tokens.ts';
import { splitScope } from '../domain/scope-privileges.ts';
import { IAT_POLICY } from '../domain/initial-access-tokens.ts';
import { presentRegisteredClient } from './registrant-metadata.ts';

export { IAT_POLICY };
export type RegistrationPolicy = 'disabled' | 'initial-access-token' | 'open';

/** Where a registration's counted use of its initial access token waits until the answer is known. */
const COUNTED_USE = Symbol('tessera.initialAccessTokenUse');
type WithCountedUse = KoaContextWithOIDC & { [COUNTED_USE]?: string };

/**
 * The token's rules over every way the client obtains scopes: `scope` (OIDC and API scopes alike — the
 * split into the engine's two properties happens later) and its grant types. A registration that names no
 * scope gets the token's allowed scopes, not every scope.
 */
export function enforceRegistrationRules(rules: RegistrationRules, properties: Record<string, unknown>): void {
  if (rules.allowedScopes) {
    if (properties.scope === undefined || properties.scope === null || properties.scope === '') {
      properties.scope = rules.allowedScopes.join(' ');
    } else {
      if (typeof properties.scope !== 'string') throw new errors.InvalidClientMetadata('scope must be a string');
      const allowed = new Set(rules.allowedScopes);
      const extra = splitScope(properties.scope).filter((s) => !allowed.has(s));
      if (extra.length) throw new errors.InvalidClientMetadata(`scope ${extra.join(' ')} is not allowed by the initial access token`);
    }
  }
  if (rules.allowedGrantTypes) {
    const allowed = new Set(rules.allowedGrantTypes);
    const grants = Array.isArray(properties.grant_types) ? (properties.grant_types as unknown[]) : ['authorization_code'];
    const extra = grants.filter((g) => typeof g !== 'string' || !allowed.has(g));
    if (extra.length) throw new errors.InvalidClientMetadata(`grant_types ${extra.join(' ')} are not allowed by the initial access token`);
  }
}

export function createRegistrationFeature(db: Db, policy: RegistrationPolicy) {
  return {
    registration: {
      enabled: policy !== 'disabled',
      initialAccessToken: policy === 'initial-access-token',
      // Ids and secrets like every client's we issue (domain/client-secrets.ts).
      idFactory: () => generateClientId(),
      secretFactory: async () => generateClientSecret(),
      // The engine runs policies only with adapter-backed initial access tokens.
      ...(policy === 'initial-access-token' ? { policies: registrationPolicies(db) } : {}),
    },
    registrationManagement: { enabled: policy !== 'disabled', rotateRegistrationAccessToken: true },
  };
}

function registrationPolicies(db: Db) {
  return {
    async [IAT_POLICY](ctx: KoaContextWithOIDC, properties: Record<string, unknown>) {
      const iat = ctx.oidc.entities.InitialAccessToken;
      if (iat) {
        // Registration: count this use (atomically: the check and the count are one statement) …
        const idHash = bearerHash(iat.jti);
        const rules = await useInitialAccessToken(db, idHash);
        if (!rules) throw new errors.InvalidToken('the initial access token has been used up');
        // … and give it back if the engine refuses the registration after all (see attachRegistrationHooks).
        (ctx as WithCountedUse)[COUNTED_USE] = idHash;
        enforceRegistrationRules(rules, properties);
        await saveClientRegistrationRules(db, String(properties.client_id), rules);
        return;
      }
      // RFC 7592 update: the registration access token carries this policy on.
      const clientId = ctx.oidc.entities.Client?.clientId;
      const rules = clientId ? await findClientRegistrationRules(db, clientId) : undefined;
      if (rules) enforceRegistrationRules(rules, properties);
    },
  };
}

const REGISTRATION_ROUTES = new Set(['registration', 'client', 'client_update']);

/**
 * Engine middleware around the registration endpoints: gives back a counted token use when the
 * registration was refused, and answers with RFC 7591 metadata only (registrant-metadata.ts).
 */
export function attachRegistrationHooks(provider: Provider, db: Db): void {
  provider.use(async (ctx, next) => {
    let registered = false;
    try {
      await next();
      registered = ctx.status < 400;
    } finally {
      const counted = (ctx as WithCountedUse)[COUNTED_USE];
      // An outage here loses one use at worst: the safe side.
      if (counted && !registered) await releaseInitialAccessTokenUse(db, counted).catch(() => undefined);
    }
    if (registered && REGISTRATION_ROUTES.has(ctx.oidc?.route) && ctx.body && typeof ctx.body === 'object') {
      ctx.body = presentRegisteredClient(ctx.body as Record<string, unknown>);
    }
  });
}
