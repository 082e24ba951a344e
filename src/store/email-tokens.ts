// Single-use links sent by email (password reset, email verification): only the SHA-256 of a link's token
// is stored (the caller hashes, store/bearer-hash.ts). Times come from the caller's clock (src/clock.ts), so
// tests can move past an expiry; using a link is one UPDATE … WHERE used_at IS NULL, so of two requests
// presenting the same link exactly one gets the row.
import { noticeChange } from './change-notices.ts';
import type { Db } from './db.ts';

export type EmailTokenPurpose = 'password_reset' | 'email_verification';

export interface EmailTokenRow {
  tokenHash: string;
  purpose: EmailTokenPurpose;
  accountId: string;
  /** The address the link was sent to. */
  email: string;
  interactionUid: string | null;
  expiresAt: Date;
}

const toRow = (r: Record<string, unknown>): EmailTokenRow => ({
  tokenHash: r.token_hash as string,
  purpose: r.purpose as EmailTokenPurpose,
  accountId: r.account_id as string,
  email: r.email as string,
  interactionUid: (r.interaction_uid as string | null) ?? null,
  expiresAt: new Date(r.expires_at as string | Date),
});

export async function insertEmailToken(
  db: Db,
  token: { tokenHash: string; purpose: EmailTokenPurpose; accountId: string; email: string; interactionUid: string | null; createdAt: Date; expiresAt: Date },
): Promise<void> {
  await db('email_tokens').insert({
    token_hash: token.tokenHash,
    purpose: token.purpose,
    account_id: token.accountId,
    email: token.email,
    interaction_uid: token.interactionUid,
    created_at: token.createdAt,
    expires_at: token.expiresAt,
  });
}

/** The link's row while it may still be used (unused, unexpired at `now`); nothing changes. */
export async function findUsableEmailToken(db: Db, tokenHash: string, purpose: EmailTokenPurpose, now: Date): Promise<EmailTokenRow | undefined> {
  const row = await db('email_tokens').where({ token_hash: tokenHash, purpose }).whereNull('used_at').where('expires_at', '>', now).first();
  return row ? toRow(row) : undefined;
}

/** Uses the link: marks it used and returns its row, or undefined when it is unknown, used or expired. */
export async function consumeEmailToken(db: Db, tokenHash: string, purpose: EmailTokenPurpose, now: Date): Promise<EmailTokenRow | undefined> {
  const rows = await db('email_tokens')
    .where({ token_hash: tokenHash, purpose })
    .whereNull('used_at')
    .where('expires_at', '>', now)
    .update({ used_at: now })
    .returning('*');
  return rows[0] ? toRow(rows[0] as Record<string, unknown>) : undefined;
}

/** Every link of this purpose the account still holds stops working (a newer one, or the change done). */
export async function retireEmailTokens(db: Db, accountId: string, purpose: EmailTokenPurpose, now: Date): Promise<void> {
  await db('email_tokens').where({ account_id: accountId, purpose }).whereNull('used_at').update({ used_at: now });
}

/** Accounts whose address is `email`, compared case-insensitively (index accounts_email_lower_idx). */
export async function findAccountIdsByEmail(db: Db, email: string, limit: number): Promise<string[]> {
  const rows = await db('accounts').whereRaw('lower(email) = lower(?)', [email]).whereNotNull('email').orderBy('created_at').limit(limit).select('id');
  return rows.map((r: { id: string }) => r.id);
}

/** Marks the address verified only if it is still the account's address (it may have changed since). */
export async function markEmailVerified(db: Db, accountId: string, email: string): Promise<boolean> {
  const rows = await db('accounts').where({ id: accountId, email }).update({ email_verified: true, updated_at: db.fn.now() }).returning('id');
  if (rows.length > 0) await noticeChange(db, { kind: 'account', id: accountId });
  return rows.length > 0;
}
