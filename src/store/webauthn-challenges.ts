// The challenge of each WebAuthn ceremony in progress, kept server-side (W3C WebAuthn §13.4.3: the
// challenge must be generated and remembered by the server, never taken from the client). One row per
// purpose and binding (a session or an interaction): a new ceremony replaces the one before; taking it
// deletes it, so a challenge verifies at most one response.
import type { Db } from './db.ts';

export interface StoredChallenge {
  challenge: string;
  accountId: string | null;
}

export async function putWebauthnChallenge(db: Db, key: string, value: StoredChallenge & { expiresAt: Date }): Promise<void> {
  await db('webauthn_challenges')
    .insert({ id: key, challenge: value.challenge, account_id: value.accountId, expires_at: value.expiresAt })
    .onConflict('id')
    .merge();
}

/** Deletes and returns the challenge under `key`, if one was there and has not expired by `now`. */
export async function takeWebauthnChallenge(db: Db, key: string, now: Date): Promise<StoredChallenge | undefined> {
  const rows = (await db('webauthn_challenges').where({ id: key }).delete().returning(['challenge', 'account_id', 'expires_at'])) as Array<{
    challenge: string;
    account_id: string | null;
    expires_at: Date;
  }>;
  const row = rows[0];
  if (!row || row.expires_at.getTime() <= now.getTime()) return undefined;
  return { challenge: row.challenge, accountId: row.account_id };
}
