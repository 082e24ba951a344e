// Passkeys (WebAuthn credentials) of accounts. Every change a person makes is scoped to their own account
// in the statement itself, so one person's request can never touch another's credential.
import type { Db } from './db.ts';

export interface WebauthnCredentialRow {
  id: string;
  accountId: string;
  /** base64url, as the browser reports it. */
  credentialId: string;
  publicKey: Uint8Array<ArrayBuffer>;
  counter: number;
  transports: string[];
  backupEligible: boolean;
  backupState: boolean;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}

interface RawRow {
  id: string;
  account_id: string;
  credential_id: string;
  public_key: Buffer;
  counter: string | number;
  transports: string[] | null;
  backup_eligible: boolean;
  backup_state: boolean;
  name: string;
  created_at: Date;
  last_used_at: Date | null;
}

const toRow = (r: RawRow): WebauthnCredentialRow => ({
  id: r.id,
  accountId: r.account_id,
  credentialId: r.credential_id,
  publicKey: new Uint8Array(r.public_key),
  counter: Number(r.counter),
  transports: Array.isArray(r.transports) ? r.transports : [],
  backupEligible: r.backup_eligible,
  backupState: r.backup_state,
  name: r.name,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
});

export type InsertCredentialResult = { ok: true } | { ok: false; reason: 'credential_taken' };

export async function insertWebauthnCredential(db: Db, c: Omit<WebauthnCredentialRow, 'lastUsedAt'>): Promise<InsertCredentialResult> {
  const inserted = await db('webauthn_credentials')
    .insert({
      id: c.id,
      account_id: c.accountId,
      credential_id: c.credentialId,
      public_key: Buffer.from(c.publicKey),
      counter: c.counter,
      transports: JSON.stringify(c.transports),
      backup_eligible: c.backupEligible,
      backup_state: c.backupState,
      name: c.name,
      created_at: c.createdAt,
    })
    .onConflict('credential_id')
    .ignore()
    .returning('id');
  return inserted.length > 0 ? { ok: true } : { ok: false, reason: 'credential_taken' };
}

export async function listWebauthnCredentials(db: Db, accountId: string): Promise<WebauthnCredentialRow[]> {
  const rows = (await db('webauthn_credentials').where({ account_id: accountId }).orderBy([{ column: 'created_at' }, { column: 'id' }])) as RawRow[];
  return rows.map(toRow);
}

export async function findWebauthnCredential(db: Db, credentialId: string): Promise<WebauthnCredentialRow | undefined> {
  const row = (await db('webauthn_credentials').where({ credential_id: credentialId }).first()) as RawRow | undefined;
  return row ? toRow(row) : undefined;
}

export async function findOwnWebauthnCredential(db: Db, accountId: string, id: string): Promise<WebauthnCredentialRow | undefined> {
  const row = (await db('webauthn_credentials').where({ id, account_id: accountId }).first()) as RawRow | undefined;
  return row ? toRow(row) : undefined;
}

/** Renames the account's own credential; false when it has none by that id. */
export async function renameWebauthnCredential(db: Db, accountId: string, id: string, name: string): Promise<boolean> {
  return (await db('webauthn_credentials').where({ id, account_id: accountId }).update({ name })) > 0;
}

/** Removes the account's own credential; false when it has none by that id. */
export async function deleteWebauthnCredential(db: Db, accountId: string, id: string): Promise<boolean> {
  return (await db('webauthn_credentials').where({ id, account_id: accountId }).delete()) > 0;
}

/** Removes every credential of the account (an operator's reset); how many there were. */
export async function deleteAllWebauthnCredentials(db: Db, accountId: string): Promise<number> {
  return db('webauthn_credentials').where({ account_id: accountId }).delete();
}

/**
 * Records a verified assertion: the new counter, backup state and time of use — only if the stored counter
 * is still the one the assertion was checked against, so two parallel assertions carrying the same counter
 * cannot both pass (the second finds the row changed and is refused as a clone would be).
 */
export async function recordWebauthnUse(
  db: Db,
  id: string,
  use: { expectedCounter: number; newCounter: number; backupState: boolean; at: Date },
): Promise<boolean> {
  const updated = await db('webauthn_credentials')
    .where({ id, counter: use.expectedCounter })
    .update({ counter: use.newCounter, backup_state: use.backupState, last_used_at: use.at });
  return updated > 0;
}
