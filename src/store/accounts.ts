import type { Db } from './db.ts';

export interface AccountRow {
  id: string;
  username: string;
  email: string | null;
  emailVerified: boolean;
  name: string | null;
  passwordHash: string;
  disabled: boolean;
  roles: string[];
  groups: string[];
  createdAt: Date;
}

interface RawAccountRow {
  id: string;
  username: string;
  email: string | null;
  email_verified: boolean;
  name: string | null;
  password_hash: string;
  disabled: boolean;
  roles: string[];
  groups: string[];
  created_at: Date;
}

const toAccount = (r: RawAccountRow): AccountRow => ({
  id: r.id,
  username: r.username,
  email: r.email,
  emailVerified: r.email_verified,
  name: r.name,
  passwordHash: r.password_hash,
  disabled: r.disabled,
  roles: r.roles,
  groups: r.groups,
  createdAt: r.created_at,
});

export type InsertAccountResult = { ok: true } | { ok: false; reason: 'username_taken' };

export async function insertAccount(
  db: Db,
  account: { id: string; username: string; email: string | null; name: string | null; passwordHash: string },
): Promise<InsertAccountResult> {
  const inserted = await db('accounts')
    .insert({
      id: account.id,
      username: account.username,
      email: account.email,
      name: account.name,
      password_hash: account.passwordHash,
    })
    .onConflict(db.raw('(lower(username))'))
    .ignore()
    .returning('id');
  return inserted.length === 1 ? { ok: true } : { ok: false, reason: 'username_taken' };
}

export async function findAccountById(db: Db, id: string): Promise<AccountRow | undefined> {
  const row = await db<RawAccountRow>('accounts').where('id', id).first();
  return row ? toAccount(row) : undefined;
}

export async function findAccountByUsername(db: Db, username: string): Promise<AccountRow | undefined> {
  const row = await db<RawAccountRow>('accounts').whereRaw('lower(username) = lower(?)', [username]).first();
  return row ? toAccount(row) : undefined;
}

export async function updatePasswordHash(db: Db, id: string, passwordHash: string): Promise<void> {
  await db('accounts').where('id', id).update({ password_hash: passwordHash, updated_at: db.fn.now() });
}
