// Grants made by token exchange (RFC 8693) and the grant each was delegated from (grants.delegated_from):
// revoking a grant revokes the grants delegated from it, down the chain (store/revocations.ts revokeGrants).
import type { Db } from './db.ts';
import { lockGrants } from './grant-locks.ts';

/** Every grant delegated, directly or further down, from `grantIds` (not including them). */
export async function delegatedGrantsOf(db: Db, grantIds: readonly string[]): Promise<string[]> {
  if (grantIds.length === 0) return [];
  const result = await db.raw(
    `with recursive chain(id) as (
       select g.id from grants g where g.delegated_from = any(?::text[])
       union
       select g.id from grants g join chain c on g.delegated_from = c.id
     ) select id from chain`,
    [[...grantIds]],
  );
  const given = new Set(grantIds);
  return (result as { rows: Array<{ id: string }> }).rows.map((r) => r.id).filter((id) => !given.has(id));
}

/**
 * Records that `grantId` was delegated from `parentId`, under the parent's lock, and only while the parent
 * stands (exists and is not revoked): a revocation that got there first has nothing left to miss. False
 * when the parent is gone, and the caller must refuse the exchange.
 */
export async function recordDelegation(db: Db, grantId: string, parentId: string): Promise<boolean> {
  return db.transaction(async (trx) => {
    await lockGrants(trx as unknown as Db, [parentId]);
    const updated = await trx('grants')
      .where({ id: grantId })
      .whereExists((q) => q.select(trx.raw('1')).from('grants as parent').where('parent.id', parentId))
      .whereNotExists((q) => q.select(trx.raw('1')).from('revocations').where({ kind: 'grant', value: parentId }))
      .update({ delegated_from: parentId });
    return updated === 1;
  });
}

/**
 * The person's newest standing grant to `clientId` that holds consent for `resource`: an ID token names a
 * person and a client but no grant, so a token exchange of one stands on this grant (its parent) and on
 * the scopes consented there for the API.
 */
export async function findConsentForResource(db: Db, accountId: string, clientId: string, resource: string): Promise<{ grantId: string; scope: string[] } | undefined> {
  const rows: Array<{ id: string; payload: { resources?: Record<string, unknown> } }> = await db('grants')
    .where({ account_id: accountId, client_id: clientId })
    // The person's own consent, not a grant an earlier exchange made.
    .whereNull('delegated_from')
    .where((q) => q.whereNull('expires_at').orWhere('expires_at', '>', db.fn.now()))
    .whereRaw(`payload->'resources'->>? is not null`, [resource])
    .whereNotExists((q) => q.select(db.raw('1')).from('revocations').where('kind', 'grant').whereRaw('revocations.value = grants.id'))
    .orderBy('created_at', 'desc')
    .limit(1)
    .select('id', 'payload');
  const row = rows[0];
  const scope = row?.payload.resources?.[resource];
  if (!row || typeof scope !== 'string' || !scope) return undefined;
  return { grantId: row.id, scope: scope.split(' ').filter(Boolean) };
}
