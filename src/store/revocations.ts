// Grant-level revocation: every stored token of the grant goes, and a revocation row remembers the grant
// until any JWT access token issued from it has expired (those are not stored, so they are checked by id).
import type { Db } from './db.ts';

export async function revokeGrantTokens(db: Db, grantId: string, reason: string, coverUntil: Date): Promise<void> {
  await db.transaction(async (trx) => {
    await trx('tokens').where('grant_id', grantId).delete();
    await trx('revocations')
      .insert({ kind: 'grant', value: grantId, reason, expires_at: coverUntil })
      .onConflict(['kind', 'value'])
      .merge({ expires_at: trx.raw('greatest(revocations.expires_at, excluded.expires_at)') });
  });
}

export async function isGrantRevoked(db: Db, grantId: string): Promise<boolean> {
  const row = await db('revocations').where({ kind: 'grant', value: grantId }).first('id');
  return Boolean(row);
}
