import type { Db } from './db.ts';
import { keysetPage, type Page, type PageRequest } from './pagination.ts';

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

export interface InitialAccessTokenRecord extends RegistrationRules {
  idHash: string;
  maxUses: number | null;
  uses: number;
  expiresAt: Date | null;
  createdAt: Date;
}

/** Oldest first; the token values themselves are not stored (only their hashes). */
export async function listInitialAccessTokensPage(db: Db, page: PageRequest): Promise<Page<InitialAccessTokenRecord>> {
  const query = db('initial_access_token_rules').select('*');
  const keys = [{ column: 'created_at', kind: 'timestamp' }, { column: 'id_hash', kind: 'text' }] as const;
  return keysetPage(db, query, { keys, direction: 'asc', page }, (r) => ({
    idHash: r.id_hash as string,
    maxUses: (r.max_uses as number | null) ?? null,
    uses: r.uses as number,
    allowedScopes: (r.allowed_scopes as string[] | null) ?? null,
    allowedGrantTypes: (r.allowed_grant_types as string[] | null) ?? null,
    expiresAt: (r.expires_at as Date | null) ?? null,
    createdAt: r.created_at as Date,
  }));
}

/** Withdraws an initial access token: its rules and the engine's record of it. Whether there was one. */
export async function deleteInitialAccessToken(db: Db, idHash: string): Promise<boolean> {
  return db.transaction(async (trx) => {
    // `returning`: knex-pglite answers a bare DELETE with a result object, not a row count.
    const rules = await trx('initial_access_token_rules').where('id_hash', idHash).delete().returning('id_hash');
    const tokens = await trx('tokens').where({ id_hash: idHash, model: 'InitialAccessToken' }).delete().returning('id_hash');
    return rules.length + tokens.length > 0;
  });
}

/** Gives back a use counted by useInitialAccessToken for a registration that was then refused. */
export async function releaseInitialAccessTokenUse(db: Db, idHash: string): Promise<void> {
  await db('initial_access_token_rules').where('id_hash', idHash).where('uses', '>', 0).decrement('uses', 1);
}
