// Initial access tokens for dynamic client registration, as operators list and withdraw them. Only the
// SHA-256 of a token is stored, and that hash is its id: a listing never reveals a usable token.
import type { Db } from '../store/db.ts';
import { deleteInitialAccessToken, type InitialAccessTokenRecord } from '../store/initial-access-tokens.ts';
import { insertAuditEvent } from '../store/audit.ts';
import { NotFound } from '../errors.ts';

export { listInitialAccessTokensPage } from '../store/initial-access-tokens.ts';

/**
 * The engine policy every initial access token carries (oidc/registration.ts enforces its rules). Named here,
 * not there, so the operation that issues tokens (services/operations.ts) does not load the engine to say it.
 */
export const IAT_POLICY = 'tessera-initial-access-token';

const seconds = (d: Date | null) => (d ? Math.floor(d.getTime() / 1000) : null);

export function publicInitialAccessToken(r: InitialAccessTokenRecord) {
  return {
    id: r.idHash,
    max_uses: r.maxUses,
    uses: r.uses,
    allowed_scopes: r.allowedScopes,
    allowed_grant_types: r.allowedGrantTypes,
    expires_at: seconds(r.expiresAt),
    created_at: r.createdAt.toISOString(),
  };
}

export async function withdrawInitialAccessToken(db: Db, id: string): Promise<void> {
  if (!(await deleteInitialAccessToken(db, id))) throw new NotFound(`no initial access token "${id}"`);
  await insertAuditEvent(db, { type: 'iat.deleted', details: { id } });
}
