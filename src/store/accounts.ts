import { noticeChange } from './change-notices.ts';
import type { Db } from './db.ts';
import { keysetPage, type Page, type PageRequest } from './pagination.ts';
import { isUniqueViolation } from '../problem.ts';

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

/** `usernameKey` is the username's normalized form (domain/usernames.ts): unique, and what lookups compare. */
export async function insertAccount(
  db: Db,
  account: { id: string; username: string; usernameKey: string; email: string | null; name: string | null; passwordHash: string },
): Promise<InsertAccountResult> {
  const inserted = await db('accounts')
    .insert({
      id: account.id,
      username: account.username,
      username_key: account.usernameKey,
      email: account.email,
      name: account.name,
      password_hash: account.passwordHash,
    })
    .onConflict('username_key')
    .ignore()
    .returning('id');
  return inserted.length === 1 ? { ok: true } : { ok: false, reason: 'username_taken' };
}

/** `lock`: inside a transaction, hold the row (FOR UPDATE) until it ends, for a read-change-write. */
export interface FindOptions {
  lock?: boolean;
}

async function findAccountWhere(db: Db, column: 'id' | 'username_key', value: string, options: FindOptions): Promise<AccountRow | undefined> {
  const query = db<RawAccountRow>('accounts').where(column, value).first();
  const row = await (options.lock ? query.forUpdate() : query);
  return row ? toAccount(row) : undefined;
}

export function findAccountById(db: Db, id: string, options: FindOptions = {}): Promise<AccountRow | undefined> {
  return findAccountWhere(db, 'id', id, options);
}

/** By the normalized username (domain/usernames.ts), never by the database's lower(). */
export function findAccountByUsernameKey(db: Db, usernameKey: string, options: FindOptions = {}): Promise<AccountRow | undefined> {
  return findAccountWhere(db, 'username_key', usernameKey, options);
}

export async function updatePasswordHash(db: Db, id: string, passwordHash: string): Promise<void> {
  await db('accounts').where('id', id).update({ password_hash: passwordHash, updated_at: db.fn.now() });
  await noticeChange(db, { kind: 'account', id });
}


export async function updateAccount(
  db: Db,
  id: string,
  changes: { disabled?: boolean; roles?: string[]; groups?: string[]; passwordHash?: string },
): Promise<AccountRow | undefined> {
  const row: Record<string, unknown> = { updated_at: db.fn.now() };
  if (changes.disabled !== undefined) row.disabled = changes.disabled;
  if (changes.roles !== undefined) row.roles = JSON.stringify(changes.roles);
  if (changes.groups !== undefined) row.groups = JSON.stringify(changes.groups);
  if (changes.passwordHash !== undefined) {
    row.password_hash = changes.passwordHash;
    row.password_changed_at = db.fn.now();
  }
  const updated = await db<RawAccountRow>('accounts').where('id', id).update(row).returning('*');
  await noticeChange(db, { kind: 'account', id });
  return updated[0] ? toAccount(updated[0] as RawAccountRow) : undefined;
}

/** Oldest first, by (created_at, id). */
export async function listAccountsPage(db: Db, page: PageRequest): Promise<Page<AccountRow>> {
  const query = db('accounts').select('accounts.*');
  return keysetPage(db, query, { keys: [{ column: 'accounts.created_at', kind: 'timestamp' }, { column: 'accounts.id', kind: 'text' }], direction: 'asc', page }, (r) =>
    toAccount(r as unknown as RawAccountRow),
  );
}

export type ProfileChanges = { username?: string; email?: string | null; name?: string | null; emailVerified?: boolean };

/**
 * Changes what an operator may edit; a username whose normalized form (`usernameKey`, required with
 * `username`) another account holds is refused.
 */
export async function updateAccountProfile(
  db: Db,
  id: string,
  changes: ProfileChanges & { usernameKey?: string },
): Promise<{ ok: true; account: AccountRow | undefined } | { ok: false; reason: 'username_taken' }> {
  const row: Record<string, unknown> = { updated_at: db.fn.now() };
  if (changes.username !== undefined) {
    if (changes.usernameKey === undefined) throw new Error('a new username needs its usernameKey');
    row.username = changes.username;
    row.username_key = changes.usernameKey;
  }
  if (changes.email !== undefined) row.email = changes.email;
  if (changes.name !== undefined) row.name = changes.name;
  if (changes.emailVerified !== undefined) row.email_verified = changes.emailVerified;
  if (changes.usernameKey !== undefined) {
    const holder = await db('accounts').where('username_key', changes.usernameKey).whereNot('id', id).first('id');
    if (holder) return { ok: false, reason: 'username_taken' };
  }
  try {
    const updated = await db<RawAccountRow>('accounts').where('id', id).update(row).returning('*');
    await noticeChange(db, { kind: 'account', id });
    return { ok: true, account: updated[0] ? toAccount(updated[0] as RawAccountRow) : undefined };
  } catch (error) {
    // Taken between the check and the update: the unique index on username_key decides.
    if (isUniqueViolation(error)) return { ok: false, reason: 'username_taken' };
    throw error;
  }
}

export async function deleteAccountRow(db: Db, id: string): Promise<boolean> {
  // `returning`: knex-pglite answers a bare DELETE with a result object, not a row count.
  const deleted = (await db('accounts').where('id', id).delete().returning('id')).length > 0;
  if (deleted) await noticeChange(db, { kind: 'account', id });
  return deleted;
}
