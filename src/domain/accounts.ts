// Accounts: creation with validated input, and password authentication that returns a result, not an error.
import { randomUUID } from 'node:crypto';
import type { Db } from '../store/db.ts';
import {
  deleteAccountRow,
  findAccountById,
  findAccountByUsernameKey,
  insertAccount,
  listAccountsPage,
  updateAccount,
  updateAccountProfile,
  updatePasswordHash,
  type AccountRow,
  type FindOptions,
  type ProfileChanges,
} from '../store/accounts.ts';

export type { AccountRow };
import { endAccountAccess, endAccountSessions } from '../store/grants-and-sessions.ts';
import { insertAuditEvent } from '../store/audit.ts';
import { Conflict, NotFound, ValidationError } from '../errors.ts';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, NO_PASSWORD, type PasswordHasher } from './password.ts';
import { normalizeUsername } from './usernames.ts';

export interface NewAccount {
  username: string;
  password: string;
  email?: string | undefined;
  name?: string | undefined;
}

// ASCII letters, digits and . _ @ -: no control character, no whitespace. Names are compared in their
// normalized form (domain/usernames.ts), which for these is the lower case.
const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;
const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,255}$/;
// No account's name or id holds one, and PostgreSQL refuses NUL in text: such a name is not looked up.
const CONTROL = /\p{Cc}/u;

export function validatePassword(password: string): string | undefined {
  if (password.length < MIN_PASSWORD_LENGTH) return `password must be at least ${MIN_PASSWORD_LENGTH} characters`;
  if (password.length > MAX_PASSWORD_LENGTH) return `password must be at most ${MAX_PASSWORD_LENGTH} characters`;
  return undefined;
}

/** The rules for what identifies and describes a person, at creation and on every later change. */
function checkProfile(profile: { username?: string | undefined; email?: string | null | undefined; name?: string | null | undefined }): void {
  if (profile.username !== undefined && !USERNAME.test(profile.username)) {
    throw new ValidationError('username must be 1-128 characters: letters, digits, and . _ @ - (not first)');
  }
  if (typeof profile.email === 'string' && !EMAIL.test(profile.email)) throw new ValidationError('email is not a valid address');
  if (typeof profile.name === 'string' && (profile.name.length === 0 || profile.name.length > 200)) {
    throw new ValidationError('name must be 1-200 characters');
  }
}

export async function createAccount(db: Db, hasher: PasswordHasher, input: NewAccount): Promise<AccountRow> {
  checkProfile(input);
  const passwordProblem = validatePassword(input.password);
  if (passwordProblem) throw new ValidationError(passwordProblem);

  const id = randomUUID();
  const result = await insertAccount(db, {
    id,
    username: input.username,
    usernameKey: normalizeUsername(input.username),
    email: input.email ?? null,
    name: input.name ?? null,
    passwordHash: await hasher.hash(input.password),
  });
  if (!result.ok) throw new Conflict(`username "${input.username}" is already taken`);
  const created = await findAccountById(db, id);
  if (!created) throw new Error('account vanished after insert');
  return created;
}

export type AuthenticationResult =
  | { ok: true; account: AccountRow }
  | { ok: false; reason: 'invalid_credentials' | 'disabled' };

export async function authenticate(
  db: Db,
  hasher: PasswordHasher,
  username: string,
  password: string,
): Promise<AuthenticationResult> {
  const plausible = password.length <= MAX_PASSWORD_LENGTH;
  const account = plausible ? await findAccountByUsername(db, username) : undefined;
  // Always verify (against a dummy hash when the account is unknown) so both answers take the same time.
  // Accounts without a password (upstream sign-in only) are checked against the dummy hash as well, so
  // timing does not tell them apart.
  const hash = account && account.passwordHash !== NO_PASSWORD ? account.passwordHash : undefined;
  const valid = (await hasher.verify(hash, plausible ? password : '')) && hash !== undefined;
  if (!account || !valid) return { ok: false, reason: 'invalid_credentials' };
  if (account.disabled) return { ok: false, reason: 'disabled' };
  if (hasher.needsRehash(account.passwordHash)) {
    await updatePasswordHash(db, account.id, await hasher.hash(password));
  }
  return { ok: true, account };
}

const ROLE = /^[A-Za-z0-9][A-Za-z0-9:._-]{0,63}$/;

/** The account whose name is `username` in its normalized form (any case, width or surrounding space). */
export async function findAccountByUsername(db: Db, username: string, options: FindOptions = {}): Promise<AccountRow | undefined> {
  const key = normalizeUsername(username);
  return key.length > 0 && key.length <= 256 && !CONTROL.test(key) ? findAccountByUsernameKey(db, key, options) : undefined;
}

/** The account a session belongs to, while it may still use it (not disabled, not deleted). */
export async function findActiveAccount(db: Db, accountId: string): Promise<AccountRow | undefined> {
  const account = await findAccountById(db, accountId);
  return account && !account.disabled ? account : undefined;
}

/** By id or username; `lock` (inside a transaction) holds the row until the transaction ends. */
export async function requireAccount(db: Db, idOrUsername: string, options: FindOptions = {}): Promise<AccountRow> {
  const account = CONTROL.test(idOrUsername)
    ? undefined
    : ((await findAccountById(db, idOrUsername, options)) ?? (await findAccountByUsername(db, idOrUsername, options)));
  if (!account) throw new NotFound(`no user "${idOrUsername}"`);
  return account;
}

/**
 * Disabling an account or changing its password ends its sessions and revokes its grants, so every token
 * issued from them stops working. The ended sessions are returned for back-channel logout.
 */
export async function disableAccount(db: Db, idOrUsername: string, revocation: { coverUntil: Date }) {
  return db.transaction(async (trx) => {
    const account = await requireAccount(trx, idOrUsername, { lock: true });
    const updated = (await updateAccount(trx, account.id, { disabled: true }))!;
    const endedSessions = await endAccountAccess(trx, account.id, 'account_disabled', revocation.coverUntil);
    await insertAuditEvent(trx, { type: 'user.disabled', accountId: account.id });
    return { account: updated, endedSessions };
  });
}

/** An operator signs a person out everywhere: sessions end (back-channel logout follows); grants stay. */
export async function endSessions(db: Db, idOrUsername: string) {
  return db.transaction(async (trx) => {
    const account = await requireAccount(trx, idOrUsername);
    const endedSessions = await endAccountSessions(trx, account.id);
    await insertAuditEvent(trx, { type: 'sessions.ended', accountId: account.id, details: { sessions: endedSessions.length, by: 'operator' } });
    return { account, endedSessions };
  });
}

export async function enableAccount(db: Db, idOrUsername: string): Promise<AccountRow> {
  return db.transaction(async (trx) => {
    const account = await requireAccount(trx, idOrUsername, { lock: true });
    const updated = (await updateAccount(trx, account.id, { disabled: false }))!;
    await insertAuditEvent(trx, { type: 'user.enabled', accountId: account.id });
    return updated;
  });
}

export async function setPassword(db: Db, hasher: PasswordHasher, idOrUsername: string, password: string, revocation: { coverUntil: Date }) {
  const problem = validatePassword(password);
  if (problem) throw new ValidationError(problem);
  // Hashed before the transaction: argon2 takes a while, and no row should stay locked meanwhile.
  const passwordHash = await hasher.hash(password);
  return db.transaction(async (trx) => {
    const account = await requireAccount(trx, idOrUsername, { lock: true });
    const updated = (await updateAccount(trx, account.id, { passwordHash }))!;
    const endedSessions = await endAccountAccess(trx, account.id, 'password_changed', revocation.coverUntil);
    await insertAuditEvent(trx, { type: 'user.password_changed', accountId: account.id });
    return { account: updated, endedSessions };
  });
}

export async function changeRoles(db: Db, idOrUsername: string, change: { add?: string[]; remove?: string[] }): Promise<AccountRow> {
  for (const role of change.add ?? []) if (!ROLE.test(role)) throw new ValidationError(`role "${role}" must be 1-64 characters: letters, digits, : . _ -`);
  // Read, change and write under the row's lock: two role changes at once must not lose one.
  return db.transaction(async (trx) => {
    const account = await requireAccount(trx, idOrUsername, { lock: true });
    const roles = new Set(account.roles);
    for (const r of change.add ?? []) roles.add(r);
    for (const r of change.remove ?? []) roles.delete(r);
    const updated = (await updateAccount(trx, account.id, { roles: [...roles].sort() }))!;
    await insertAuditEvent(trx, { type: 'user.roles_changed', accountId: account.id, details: { add: change.add ?? [], remove: change.remove ?? [] } });
    return updated;
  });
}

/** An operator corrects a person's username, email or name (null clears email and name). */
export async function updateProfile(db: Db, idOrUsername: string, changes: ProfileChanges): Promise<AccountRow> {
  checkProfile(changes);
  return db.transaction(async (trx) => {
    const account = await requireAccount(trx, idOrUsername, { lock: true });
    // A new address is not verified until its owner uses the link (services/email-links.ts), unless the
    // operator says in the same change that it is.
    const newAddress = changes.email !== undefined && changes.email !== account.email;
    const result = await updateAccountProfile(trx, account.id, {
      ...changes,
      ...(newAddress && changes.emailVerified === undefined ? { emailVerified: false } : {}),
      ...(changes.username !== undefined ? { usernameKey: normalizeUsername(changes.username) } : {}),
    });
    if (!result.ok) throw new Conflict(`username "${changes.username}" is already taken`);
    if (!result.account) throw new NotFound(`no user "${idOrUsername}"`);
    await insertAuditEvent(trx, { type: 'user.updated', accountId: account.id, details: { fields: Object.keys(changes).sort() } });
    return result.account;
  });
}

/** Deleting an account first ends its sessions and revokes its grants, as disabling does. */
export async function deleteAccount(db: Db, idOrUsername: string, revocation: { coverUntil: Date }) {
  // One transaction with the row locked: no sign-in can start a session between the clean-up and the deletion.
  return db.transaction(async (trx) => {
    const account = await requireAccount(trx, idOrUsername, { lock: true });
    const endedSessions = await endAccountAccess(trx, account.id, 'account_deleted', revocation.coverUntil);
    if (!(await deleteAccountRow(trx, account.id))) throw new NotFound(`no user "${idOrUsername}"`);
    await insertAuditEvent(trx, { type: 'user.deleted', accountId: account.id, details: { username: account.username } });
    return { account, endedSessions };
  });
}

export { listAccountsPage };

/** The account as shown to operators: never the password hash. */
export function publicAccount(a: AccountRow) {
  return {
    id: a.id,
    username: a.username,
    email: a.email,
    email_verified: a.emailVerified,
    name: a.name,
    disabled: a.disabled,
    roles: a.roles,
    groups: a.groups,
    created_at: a.createdAt.toISOString(),
  };
}
