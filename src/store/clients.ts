import type { Db } from './db.ts';

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

export async function findClientById(db: Db, id: string): Promise<ClientRow | undefined> {
  const row = await db<RawClientRow>('clients').where('id', id).first();
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
}

export async function deleteClient(db: Db, id: string): Promise<boolean> {
  return (await db('clients').where('id', id).delete()) > 0;
}

export async function listClients(db: Db): Promise<ClientRow[]> {
  const rows = await db<RawClientRow>('clients').orderBy('created_at');
  return rows.map(toClient);
}

export async function setClientDisabled(db: Db, id: string, disabled: boolean): Promise<boolean> {
  return (await db('clients').where('id', id).update({ disabled, updated_at: db.fn.now() })) > 0;
}
