// Signing and cookie keys. Private parts arrive already sealed; this module never sees plaintext keys.
import type { Db } from './db.ts';

export type KeyPurpose = 'signing' | 'cookie';
export type KeyState = 'next' | 'current' | 'retired';

export interface KeyRow {
  kid: string;
  purpose: KeyPurpose;
  alg: string | null;
  state: KeyState;
  publicJwk: Record<string, unknown> | null;
  privateSealed: string;
  createdAt: Date;
  /** When a `current` key started signing. */
  activatedAt: Date | null;
  /** When a `next` key is due to start signing. */
  activatesAt: Date | null;
  retiredAt: Date | null;
  /** When a `retired` key stops being published: every token it signed has expired by then. */
  removeAfter: Date | null;
}

interface RawKeyRow {
  kid: string;
  purpose: KeyPurpose;
  alg: string | null;
  state: KeyState;
  public_jwk: Record<string, unknown> | null;
  private_sealed: string;
  created_at: Date;
  activated_at: Date | null;
  activates_at: Date | null;
  retired_at: Date | null;
  remove_after: Date | null;
}

const toKey = (r: RawKeyRow): KeyRow => ({
  kid: r.kid,
  purpose: r.purpose,
  alg: r.alg,
  state: r.state,
  publicJwk: r.public_jwk,
  privateSealed: r.private_sealed,
  createdAt: r.created_at,
  activatedAt: r.activated_at,
  activatesAt: r.activates_at,
  retiredAt: r.retired_at,
  removeAfter: r.remove_after,
});

const PUBLICATION_ORDER = `case state when 'current' then 0 when 'next' then 1 else 2 end`;

/** Keys in publication order: current first, then next, then retired; newest first within a state. */
export async function listKeys(db: Db, purpose?: KeyPurpose): Promise<KeyRow[]> {
  const q = db<RawKeyRow>('keys').orderBy('purpose').orderByRaw(PUBLICATION_ORDER).orderBy('created_at', 'desc');
  if (purpose) q.where('purpose', purpose);
  return (await q).map(toKey);
}

export async function findKey(db: Db, kid: string): Promise<KeyRow | undefined> {
  const row = await db<RawKeyRow>('keys').where('kid', kid).first();
  return row ? toKey(row) : undefined;
}

export type NewKey = Pick<KeyRow, 'kid' | 'purpose' | 'alg' | 'state' | 'publicJwk' | 'privateSealed'> & { activatesAt?: Date | null };

export async function insertKey(db: Db, key: NewKey): Promise<void> {
  await db('keys').insert({
    kid: key.kid,
    purpose: key.purpose,
    alg: key.alg,
    state: key.state,
    public_jwk: key.publicJwk ? JSON.stringify(key.publicJwk) : null,
    private_sealed: key.privateSealed,
    activated_at: key.state === 'current' ? db.fn.now() : null,
    activates_at: key.activatesAt ?? null,
  });
}

export async function makeKeyCurrent(db: Db, kid: string, now: Date): Promise<void> {
  await db('keys').where('kid', kid).update({ state: 'current', activated_at: now, activates_at: null });
}

export async function retireKeyRow(db: Db, kid: string, now: Date, removeAfter: Date): Promise<void> {
  await db('keys').where('kid', kid).update({ state: 'retired', retired_at: now, remove_after: removeAfter });
}

export async function deleteKey(db: Db, kid: string): Promise<void> {
  await db('keys').where('kid', kid).delete();
}

/** Retired keys whose tokens have all expired. */
export async function deleteExpiredRetiredKeys(db: Db, now: Date): Promise<string[]> {
  const rows = await db('keys').where('state', 'retired').where('remove_after', '<=', now).delete().returning('kid');
  return rows.map((r: { kid: string }) => r.kid);
}

/** Changes whenever a key is added, changes state or is removed: what each process polls for. */
export async function keySetFingerprint(db: Db): Promise<string> {
  const row = await db('keys').first(db.raw(`coalesce(md5(string_agg(kid || ':' || state, ',' order by kid)), '') as fingerprint`));
  return (row as { fingerprint: string }).fingerprint;
}

/**
 * Runs `fn` in a transaction holding a PostgreSQL advisory lock, so that when several processes start
 * together exactly one of them generates missing keys, and manual rotations never interleave.
 */
export async function withKeyLock<T>(db: Db, fn: (trx: Db) => Promise<T>): Promise<T> {
  return db.transaction(async (trx) => {
    await trx.raw('select pg_advisory_xact_lock(?)', [KEY_LOCK_ID]);
    return fn(trx as unknown as Db);
  });
}

/** As withKeyLock, but gives up at once (undefined) when another process holds the lock. */
export async function tryWithKeyLock<T>(db: Db, fn: (trx: Db) => Promise<T>): Promise<T | undefined> {
  return db.transaction(async (trx) => {
    const result = await trx.raw('select pg_try_advisory_xact_lock(?) as locked', [KEY_LOCK_ID]);
    if (!result.rows[0].locked) return undefined;
    return fn(trx as unknown as Db);
  });
}

const KEY_LOCK_ID = 0x7e55e4a; // "tessera" keys
