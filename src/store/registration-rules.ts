import type { Db } from './db.ts';

export interface RegistrationRules {
  allowedScopes: string[] | null;
  allowedGrantTypes: string[] | null;
}

export async function insertInitialAccessTokenRules(
  db: Db,
  rules: RegistrationRules & { idHash: string; maxUses: number | null; expiresAt: Date | null },
): Promise<void> {
  await db('initial_access_token_rules').insert({
    id_hash: rules.idHash,
    max_uses: rules.maxUses,
    allowed_scopes: rules.allowedScopes ? JSON.stringify(rules.allowedScopes) : null,
    allowed_grant_types: rules.allowedGrantTypes ? JSON.stringify(rules.allowedGrantTypes) : null,
    expires_at: rules.expiresAt,
  });
}

/** Counts one use; undefined when the token has no rules left to use (used up, or unknown). Atomic. */
export async function useInitialAccessToken(db: Db, idHash: string): Promise<RegistrationRules | undefined> {
  const [row] = await db('initial_access_token_rules')
    .where('id_hash', idHash)
    .where((q) => q.whereNull('max_uses').orWhereRaw('uses < max_uses'))
    .increment('uses', 1)
    .returning(['allowed_scopes', 'allowed_grant_types']);
  return row ? { allowedScopes: row.allowed_scopes ?? null, allowedGrantTypes: row.allowed_grant_types ?? null } : undefined;
}

export async function saveClientRegistrationRules(db: Db, clientId: string, rules: RegistrationRules): Promise<void> {
  await db('client_registration_rules')
    .insert({
      client_id: clientId,
      allowed_scopes: rules.allowedScopes ? JSON.stringify(rules.allowedScopes) : null,
      allowed_grant_types: rules.allowedGrantTypes ? JSON.stringify(rules.allowedGrantTypes) : null,
    })
    .onConflict('client_id')
    .merge();
}

export async function findClientRegistrationRules(db: Db, clientId: string): Promise<RegistrationRules | undefined> {
  const row = await db('client_registration_rules').where('client_id', clientId).first();
  return row ? { allowedScopes: row.allowed_scopes ?? null, allowedGrantTypes: row.allowed_grant_types ?? null } : undefined;
}
