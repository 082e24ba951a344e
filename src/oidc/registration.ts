// Dynamic client registration (RFC 7591) and management (RFC 7592) by the engine, with our policy:
// REGISTRATION_POLICY=initial-access-token (default) requires a token an operator issued
// (`tessera iat create`), whose rules — how many uses, which scopes and grant types — are enforced here and
// keep applying to the client's later RFC 7592 updates. Engine reference: features.registration.policies.
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { Db } from '../store/db.ts';
import { generateClientId, generateClientSecret } from '../domain/client-secrets.ts';
import { bearerHash } from '../store/bearer-hash.ts';
import { findClientRegistrationRules, saveClientRegistrationRules, useInitialAccessToken, type RegistrationRules } from '../store/registration-rules.ts';

export const IAT_POLICY = 'tessera-initial-access-token';
export type RegistrationPolicy = 'disabled' | 'initial-access-token' | 'open';

function enforce(rules: RegistrationRules, properties: Record<string, unknown>): void {
  if (rules.allowedScopes) {
    const allowed = new Set(rules.allowedScopes);
    const extra = String(properties.scope ?? '').split(' ').filter((s) => s && !allowed.has(s));
    if (extra.length) throw new errors.InvalidClientMetadata(`scope ${extra.join(' ')} is not allowed by the initial access token`);
  }
  if (rules.allowedGrantTypes) {
    const allowed = new Set(rules.allowedGrantTypes);
    const grants = (properties.grant_types as string[] | undefined) ?? ['authorization_code'];
    const extra = grants.filter((g) => !allowed.has(g));
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
        // Registration: count this use (atomically) and remember the rules for the client's updates.
        const rules = await useInitialAccessToken(db, bearerHash(iat.jti));
        if (!rules) throw new errors.InvalidToken('the initial access token has been used up');
        enforce(rules, properties);
        await saveClientRegistrationRules(db, String(properties.client_id), rules);
        return;
      }
      // RFC 7592 update: the registration access token carries this policy on.
      const clientId = ctx.oidc.entities.Client?.clientId;
      const rules = clientId ? await findClientRegistrationRules(db, clientId) : undefined;
      if (rules) enforce(rules, properties);
    },
  };
}
