import { noticeChange } from './change-notices.ts';
import type { Db } from './db.ts';
import { keysetPage, type Page, type PageRequest } from './pagination.ts';

export interface ClientRow {
  id: string;
  metadata: Record<string, unknown>;
  secretSealed: string | null;
  disabled: boolean;
  createdAt: Date;
}

interface RawClientRow {
  id: string;
  metadata: Record<string, unknown>;
  secret_sealed: string | null;
  disabled: boolean;
  created_at: Date;
}

const toClient = (r: RawClientRow): ClientRow => ({
  id: r.id,
  metadata: r.metadata,
  secretSealed: r.secret_sealed,
  disabled: r.disabled,
  createdAt: r.created_at,
});

/** `lock`: inside a transaction, hold the row (FOR UPDATE) until it ends, for a read-change-write. */
export async function findClientById(db: Db, id: string, options: { lock?: boolean } = {}): Promise<ClientRow | undefined> {
  const query = db<RawClientRow>('clients').where('id', id).first();
  const row = await (options.lock ? query.forUpdate() : query);
  return row ? toClient(row) : undefined;
}

export async function upsertClient(
  db: Db,
  client: { id: string; metadata: Record<string, unknown>; secretSealed: string | null },
): Promise<void> {
  await db('clients')
    .insert({ id: client.id, metadata: JSON.stringify(client.metadata), secret_sealed: client.secretSealed })
    .onConflict('id')
    .merge({ metadata: JSON.stringify(client.metadata), secret_sealed: client.secretSealed, updated_at: db.fn.now() });
  await noticeChange(db, { kind: 'client', id: client.id });
}

export async function deleteClient(db: Db, id: string): Promise<boolean> {
  // `returning`: knex-pglite answers a bare DELETE with a result object, not a row count.
  const deleted = (await db('clients').where('id', id).delete().returning('id')).length > 0;
  if (deleted) await noticeChange(db, { kind: 'client', id });
  return deleted;
}

export async function listClients(db: Db): Promise<ClientRow[]> {
  const rows = await db<RawClientRow>('clients').orderBy('created_at');
  return rows.map(toClient);
}

export async function setClientDisabled(db: Db, id: string, disabled: boolean): Promise<boolean> {
  const updated = (await db('clients').where('id', id).update({ disabled, updated_at: db.fn.now() })) > 0;
  if (updated) await noticeChange(db, { kind: 'client', id });
  return updated;
}

export interface ClientSecrets {
  secretSealed: string | null;
  /** SHA-256 (hex) of the secret before the last rotation, while its grace period lasts. */
  previousSecretHash: string | null;
  previousSecretExpiresAt: Date | null;
}

export async function findClientSecrets(db: Db, id: string): Promise<ClientSecrets | undefined> {
  const row = await db('clients').where({ id, disabled: false }).first('secret_sealed', 'previous_secret_hash', 'previous_secret_expires_at');
  return row
    ? { secretSealed: row.secret_sealed, previousSecretHash: row.previous_secret_hash, previousSecretExpiresAt: row.previous_secret_expires_at }
    : undefined;
}

export async function replaceClientSecret(db: Db, id: string, secrets: ClientSecrets): Promise<void> {
  await db('clients').where('id', id).update({
    secret_sealed: secrets.secretSealed,
    previous_secret_hash: secrets.previousSecretHash,
    previous_secret_expires_at: secrets.previousSecretExpiresAt,
    updated_at: db.fn.now(),
  });
  await noticeChange(db, { kind: 'client', id });
}

/** Oldest first, by (created_at, id). */
export async function listClientsPage(db: Db, page: PageRequest): Promise<Page<ClientRow>> {
  const query = db('clients').select('clients.id', 'clients.metadata', 'clients.secret_sealed', 'clients.disabled', 'clients.created_at');
  const keys = [{ column: 'clients.created_at', kind: 'timestamp' }, { column: 'clients.id', kind: 'text' }] as const;
  return keysetPage(db, query, { keys, direction: 'asc', page }, (r) => toClient(r as unknown as RawClientRow));
}

/** Ids of the enabled clients whose registered scope includes any of `scopes`. */
export async function findEnabledClientIdsWithAnyScope(db: Db, scopes: readonly string[]): Promise<string[]> {
  const rows = await db('clients')
    .where('disabled', false)
    .whereRaw(`string_to_array(metadata->>'scope', ' ') && ?::text[]`, [scopes as string[]])
    .orderBy('created_at')
    .select('id');
  return rows.map((r: { id: string }) => r.id);
}
