// The rules of the single-use links Tessera sends by email. A link's token is 256 random bits (base64url);
// only its SHA-256 is stored (store/bearer-hash.ts), so the database never holds a usable link.
//
// - Password reset: valid 30 minutes; using it sets the new password under the same rules and with the
//   same effects as an operator's set-password (domain/accounts.ts: sessions end, grants are revoked) in one
//   transaction with the use, so a refused password leaves the link usable and two uses at once cannot both
//   succeed. A new link retires the account's earlier ones; a reset retires them all. A link stops working
//   when the account's address is no longer the one it was sent to, or the account is disabled.
// - Email verification: valid 24 hours; using it marks the address verified only if it is still the
//   account's address.
import { randomBytes } from 'node:crypto';
import type { Db } from '../store/db.ts';
import { bearerHash } from '../store/bearer-hash.ts';
import { findAccountById, updateAccount, type AccountRow } from '../store/accounts.ts';
import { consumeEmailToken, findUsableEmailToken, insertEmailToken, markEmailVerified, retireEmailTokens, type EmailTokenPurpose, type EmailTokenRow } from '../store/email-tokens.ts';
import { endAccountAccess } from '../store/grants-and-sessions.ts';
import { insertAuditEvent } from '../store/audit.ts';
import { ValidationError } from '../errors.ts';
import { NO_PASSWORD, type PasswordHasher } from './password.ts';
import { validatePassword } from './accounts.ts';

export const PASSWORD_RESET_TTL_SECONDS = 30 * 60;
export const EMAIL_VERIFICATION_TTL_SECONDS = 24 * 3600;

const TTL: Record<EmailTokenPurpose, number> = { password_reset: PASSWORD_RESET_TTL_SECONDS, email_verification: EMAIL_VERIFICATION_TTL_SECONDS };

/** What a link's token looks like: anything else is not looked up. */
const TOKEN = /^[A-Za-z0-9_-]{43}$/;
export const isTokenShaped = (token: string) => TOKEN.test(token);

/** Whether a password reset may be offered to this account (upstream-only accounts have no password to reset). */
export const canResetPassword = (a: AccountRow) => !a.disabled && a.passwordHash !== NO_PASSWORD && !!a.email;

/** A new link for `account` (its current address); earlier links of the same purpose stop working. Returns the token. */
export async function issueEmailLink(db: Db, account: AccountRow, purpose: EmailTokenPurpose, now: Date, interactionUid?: string): Promise<string> {
  if (!account.email) throw new Error('an email link needs an address');
  const token = randomBytes(32).toString('base64url');
  await db.transaction(async (trx) => {
    await retireEmailTokens(trx, account.id, purpose, now);
    await insertEmailToken(trx, {
      tokenHash: bearerHash(token),
      purpose,
      accountId: account.id,
      email: account.email!,
      interactionUid: interactionUid ?? null,
      createdAt: now,
      expiresAt: new Date(now.getTime() + TTL[purpose] * 1000),
    });
  });
  return token;
}

/** The link's row and account while the link may still be used (nothing changes: showing the form). */
export async function peekEmailLink(db: Db, token: string, purpose: EmailTokenPurpose, now: Date): Promise<{ link: EmailTokenRow; account: AccountRow } | undefined> {
  if (!isTokenShaped(token)) return undefined;
  const link = await findUsableEmailToken(db, bearerHash(token), purpose, now);
  const account = link ? await findAccountById(db, link.accountId) : undefined;
  return link && account && usableFor(link, account) ? { link, account } : undefined;
}

const usableFor = (link: EmailTokenRow, account: AccountRow) => !account.disabled && account.email === link.email;

export type ResetResult =
  | { ok: true; account: AccountRow; interactionUid: string | null; endedSessions: Awaited<ReturnType<typeof endAccountAccess>> }
  | { ok: false; reason: 'invalid_link' };

/** Uses a reset link: the new password (checked first: a refused one leaves the link as it was). */
export async function resetPasswordWithLink(
  db: Db,
  hasher: PasswordHasher,
  request: { token: string; password: string; ip: string; userAgent: string | undefined },
  now: Date,
  revocation: { coverUntil: Date },
): Promise<ResetResult> {
  const { token, password } = request;
  const problem = validatePassword(password);
  if (problem) throw new ValidationError(problem);
  if (!isTokenShaped(token)) return { ok: false, reason: 'invalid_link' };
  // Hashed before the transaction (argon2 takes a while; no row stays locked meanwhile).
  const passwordHash = await hasher.hash(password);
  return db.transaction(async (trx) => {
    const link = await consumeEmailToken(trx, bearerHash(token), 'password_reset', now);
    const account = link ? await findAccountById(trx, link.accountId, { lock: true }) : undefined;
    // A link whose account was disabled or changed its address is spent and changes nothing else.
    if (!link || !account || !usableFor(link, account)) return { ok: false as const, reason: 'invalid_link' as const };
    const updated = (await updateAccount(trx, account.id, { passwordHash }))!;
    await retireEmailTokens(trx, account.id, 'password_reset', now);
    const endedSessions = await endAccountAccess(trx, account.id, 'password_reset', revocation.coverUntil);
    await insertAuditEvent(trx, { type: 'user.password_reset', accountId: account.id, ip: request.ip, userAgent: request.userAgent });
    return { ok: true as const, account: updated, interactionUid: link.interactionUid, endedSessions };
  });
}

/** Uses a verification link: the address it was sent to becomes verified, if it is still the account's. */
export async function verifyEmailWithLink(db: Db, token: string, now: Date): Promise<{ ok: true; account: AccountRow } | { ok: false }> {
  if (!isTokenShaped(token)) return { ok: false };
  return db.transaction(async (trx) => {
    const link = await consumeEmailToken(trx, bearerHash(token), 'email_verification', now);
    const account = link ? await findAccountById(trx, link.accountId, { lock: true }) : undefined;
    if (!link || !account || !usableFor(link, account) || !(await markEmailVerified(trx, account.id, link.email))) return { ok: false as const };
    await insertAuditEvent(trx, { type: 'user.email_verified', accountId: account.id });
    return { ok: true as const, account: { ...account, emailVerified: true } };
  });
}
