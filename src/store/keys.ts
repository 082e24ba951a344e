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
}

interface RawKeyRow {
  kid: string;
  purpose: KeyPurpose;
  alg: string | null;
  state: KeyState;
  public_jwk: Record<string, unknown> | null;
  private_sealed: string;
  created_at: Date;
}

const toKey = (r: RawKeyRow): KeyRow => ({
  kid: r.kid,
  purpose: r.purpose,
  alg: r.alg,
  state: r.state,
  publicJwk: r.public_jwk,
  privateSealed: r.private_sealed,
  createdAt: r.created_at,
});

/** Keys in publication order: current first, then next, then retired; newest first within a state. */
export async function listKeys(db: Db, purpose: KeyPurpose): Promise<KeyRow[]> {
  const rows = await db<RawKeyRow>('keys')
    .where('purpose', purpose)
    .orderByRaw(`case state when 'current' then 0 when 'next' then 1 else 2 end`)
    .orderBy('created_at', 'desc');
  return rows.map(toKey);
}

export async function insertKey(db: Db, key: Omit<KeyRow, 'createdAt'>): Promise<void> {
  await db('keys').insert({
    kid: key.kid,
    purpose: key.purpose,
    alg: key.alg,
    state: key.state,
    public_jwk: key.publicJwk ? JSON.stringify(key.publicJwk) : null,
    private_sealed: key.privateSealed,
    activated_at: key.state === 'current' ? db.fn.now() : null,
  });
}

/**
 * Runs `fn` in a transaction holding a PostgreSQL advisory lock, so that when several processes start
 * together exactly one of them generates missing keys.
 */
export async function withKeyLock<T>(db: Db, fn: (trx: Db) => Promise<T>): Promise<T> {
  return db.transaction(async (trx) => {
    await trx.raw('select pg_advisory_xact_lock(?)', [KEY_LOCK_ID]);
    return fn(trx as unknown as Db);
  });
}

const KEY_LOCK_ID = 0x7e55e4a; // "tessera" keys
