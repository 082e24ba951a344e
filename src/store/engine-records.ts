// Storage for everything oidc-provider persists except clients: grants, sessions, interactions, and one
// `tokens` table for the token-like models. Called only by oidc/adapter.ts (the engine's storage hook).
import type { Db } from './db.ts';
import { bearerHash } from './bearer-hash.ts';
import { grantLockSql } from './grant-locks.ts';
import { holdsTransaction } from './unit-of-work.ts';
import { preparedRows } from './prepared.ts';

export type Payload = Record<string, unknown> & { jti?: string };

interface TableSpec {
  table: string;
  /** Primary key column; `id_hash` columns hold bearerHash(id). */
  key: 'id' | 'id_hash';
  columns(payload: Payload): Record<string, unknown>;
  /** Whether rows are also filtered by a `model` column. */
  shared: boolean;
}

const str = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : null);

const GRANTS: TableSpec = {
  table: 'grants',
  key: 'id',
  shared: false,
  columns: (p) => ({ account_id: str(p.accountId), client_id: str(p.clientId) ?? '' }),
};
const SESSIONS: TableSpec = {
  table: 'sessions',
  key: 'id_hash',
  shared: false,
  columns: (p) => ({ uid: str(p.uid), account_id: str(p.accountId) }),
};
const INTERACTIONS: TableSpec = { table: 'interactions', key: 'id_hash', shared: false, columns: () => ({}) };
const TOKENS: TableSpec = {
  table: 'tokens',
  key: 'id_hash',
  shared: true,
  columns: (p) => ({ grant_id: str(p.grantId), user_code_hash: str(p.userCode) && bearerHash(p.userCode as string) }),
};

function specFor(model: string): TableSpec {
  if (model === 'Grant') return GRANTS;
  if (model === 'Session') return SESSIONS;
  if (model === 'Interaction') return INTERACTIONS;
  return TOKENS;
}

export type ConsumeResult = { ok: true } | { ok: false; grantId: string | null };

export interface EngineRecordStore {
  upsert(id: string, payload: Payload, expiresInSeconds: number | undefined): Promise<void>;
  find(id: string): Promise<Payload | undefined>;
  findByUid(uid: string): Promise<Payload | undefined>;
  findByUserCode(userCode: string): Promise<Payload | undefined>;
  /** Returns whether a record was deleted. */
  destroy(id: string): Promise<boolean>;
  /** Marks the record consumed; refuses (ok: false) when it already was — of parallel callers exactly one wins. */
  consume(id: string): Promise<ConsumeResult>;
  /**
   * A refresh token about to be rotated, read inside the exchange's transaction after taking its grant's
   * lock (store/grant-locks.ts): what every earlier holder of the lock committed is seen, and no one else
   * consumes, stores or revokes that grant's tokens until this transaction ends. RefreshToken only.
   */
  findForRotation(id: string): Promise<Payload | undefined>;
  /**
   * A refresh token presented for rotation, read without a lock or a transaction, and whether it may be
   * spent: unconsumed, or consumed but shown as unspent by the grace window. The
   * rotation itself is decided atomically later (`rotate`). RefreshToken only.
   */
  findRotatable(id: string): Promise<{ payload: Payload; spendable: boolean } | undefined>;
  /**
   * A rotation's writes in one statement, taking the grant's lock first: the refresh token `consumedId`
   * spent (unless its grace window lets it be spent again) and `writes` stored — only if it could be spent.
   * Returns whether it could: false means another request spent it first (or it was revoked), and nothing
   * was written. Atomic on its own (autocommit), or inside a transaction holding the same lock. RefreshToken only.
   */
  rotate(consumedId: string | undefined, grantId: string | null, writes: RotationWrite[]): Promise<boolean>;
  /**
   * Takes the lock of the grant the stored token belongs to (none for a token without one, or no such
   * token), bounded by lock_timeout; whether the token exists. Token models only, inside a transaction.
   */
  lockGrantOf(id: string): Promise<boolean>;
}

type TokenRow = { model: string; payload: Payload; consumed_at?: Date | null; grant_id?: string | null } | undefined;

/** How long a refresh exchange waits for its grant's lock (parallel uses of one token queue there). */
const LOCK_TIMEOUT = '5s';

/** What the engine's models need of a token row (a prepared statement lists its columns: store/prepared.ts). */
const TOKEN_COLUMNS = 'model, grant_id, payload, consumed_at';
const TOKEN_BY_HASH = `select ${TOKEN_COLUMNS} from tokens where id_hash = ?`;

/**
 * The engine looks an unknown token up as AccessToken, ClientCredentials and RefreshToken at once
 * (introspection, revocation). Lookups of the same hash that are in flight together share one query;
 * each model then keeps only its own row. A request holding a transaction (store/unit-of-work.ts) reads
 * in it and shares nothing: another's lookup may be waiting for the pool, or read outside the transaction.
 */
export function createTokenLookups(db: Db) {
  const inFlight = new Map<string, Promise<TokenRow>>();
  const read = async (idHash: string): Promise<TokenRow> => (await preparedRows<NonNullable<TokenRow>>(db, TOKEN_BY_HASH, [idHash]))[0];
  return (idHash: string): Promise<TokenRow> => {
    if (holdsTransaction()) return read(idHash);
    let pending = inFlight.get(idHash);
    if (!pending) {
      pending = read(idHash).finally(() => inFlight.delete(idHash));
      inFlight.set(idHash, pending);
    }
    return pending;
  };
}

const keyFor = (spec: TableSpec, id: string) => (spec.key === 'id' ? id : bearerHash(id));

/**
 * A row as `upsert` writes it (the raw id and the engine's `consumed` flag are never stored); the payload
 * as a JSON string, or (`asObject`) as the object itself for a row sent inside a JSON document.
 */
function recordRow(spec: TableSpec, model: string, id: string, payload: Payload, expiresInSeconds: number | undefined, asObject = false): Record<string, unknown> {
  const { jti: _omit, consumed: _consumed, ...stored } = payload;
  const expiresAt = typeof expiresInSeconds === 'number' ? new Date(Date.now() + expiresInSeconds * 1000) : null;
  const row: Record<string, unknown> = { [spec.key]: keyFor(spec, id), payload: asObject ? stored : JSON.stringify(stored), expires_at: expiresAt, ...spec.columns(payload) };
  if (spec.shared) row.model = model;
  return row;
}

/** The columns an existing row takes from a new write of it (never its key or model). */
const updatableColumns = (spec: TableSpec, row: Record<string, unknown>) => Object.keys(row).filter((c) => c !== spec.key && c !== 'model');

export interface RotationWrite {
  model: string;
  id: string;
  payload: Payload;
  expiresInSeconds: number | undefined;
}

/** The columns a rotation writes; the rest (created_at, consumed_at) take their defaults. */
const ROTATION_COLUMNS = 'id_hash, model, grant_id, user_code_hash, payload, expires_at';

/** A row as jsonb_populate_recordset reads it. */
const rotationRow = (write: RotationWrite) => recordRow(TOKENS, write.model, write.id, write.payload, write.expiresInSeconds, true);

export interface EngineRecordOptions {
  /** Seconds a rotated refresh token may be presented again (config ttl.refreshReuseGrace); 0: never. */
  refreshReuseGraceSeconds?: number;
}

export function createEngineRecordStore(db: Db, model: string, tokenLookups = createTokenLookups(db), options: EngineRecordOptions = {}): EngineRecordStore {
  const spec = specFor(model);
  const keyOf = (id: string) => keyFor(spec, id);
  const scoped = (query: ReturnType<Db>) => (spec.shared ? query.where('model', model) : query);
  const hydrate = (id: string, row: { payload: Payload; consumed_at?: Date | null } | undefined): Payload | undefined => {
    if (!row) return undefined;
    // The raw id is never stored; the engine expects it back as `jti`.
    const payload: Payload = { ...row.payload, jti: id };
    if (row.consumed_at) payload.consumed = Math.floor(row.consumed_at.getTime() / 1000);
    return payload;
  };

  // A refresh token rotated moments ago and presented again is, within the grace window, one of several
  // parallel refreshes by one relying party (mod_auth_openidc runs several processes), not a replay: it is
  // shown to the engine as unspent, so the request gets another successor in the same grant. The window
  // runs from the first use (consumed_at is never moved); after it, reuse revokes the grant as before.
  const graceSeconds = model === 'RefreshToken' ? Math.max(0, Math.trunc(options.refreshReuseGraceSeconds ?? 0)) : 0;
  const IN_GRACE = `consumed_at > now() - make_interval(secs => ${graceSeconds})`;
  const inGrace = async (idHash: string) => graceSeconds > 0 && Boolean(await db('tokens').where('id_hash', idHash).whereRaw(IN_GRACE).first('id_hash'));

  // The wait (and every other in this transaction) is bounded: lock_not_available is answered 503, and retried.
  const lockGrant = async (idHash: string): Promise<boolean> => {
    const locked = (await scoped(db('tokens').where('id_hash', idHash)).select(db.raw(`set_config('lock_timeout', '${LOCK_TIMEOUT}', true)`), db.raw(grantLockSql('grant_id')))) as unknown[];
    return locked.length > 0;
  };

  // Whether the grace window shows a consumed token as unspent, in the same read.
  const ROTATABLE = `select ${TOKEN_COLUMNS}, (consumed_at is not null and ${graceSeconds > 0 ? IN_GRACE : 'false'}) as spendable
    from tokens where id_hash = ? and model = 'RefreshToken'`;
  const readRotatable = async (idHash: string) => (await preparedRows<NonNullable<TokenRow> & { spendable: boolean }>(db, ROTATABLE, [idHash]))[0];
  /** The token as the engine should see it: a consumed one the grace window lets be spent again shown unspent. */
  const hydrateRotatable = (id: string, row: NonNullable<TokenRow> & { spendable: boolean }): Payload => hydrate(id, row.spendable ? { ...row, consumed_at: null } : row)!;

  // A rotation's writes (`rotate`), its text built once: the grant's lock first (store/grant-locks.ts) — a
  // revocation holding it has deleted the token by the time the update reaches the row (READ COMMITTED
  // rechecks a row changed since the statement began, and skips a deleted one), and one waiting for it sees
  // the new rows once this statement commits.
  const ROTATE = `with locked as materialized (select set_config('lock_timeout', '${LOCK_TIMEOUT}', true), ${grantLockSql('?::text')}),
        spent as (
          update tokens set consumed_at = coalesce(consumed_at, now())
          where id_hash = ? and model = 'RefreshToken' and exists (select from locked)
            and (consumed_at is null${graceSeconds > 0 ? ` or ${IN_GRACE}` : ''})
          returning id_hash
        ),
        stored as (
          insert into tokens (${ROTATION_COLUMNS})
          select ${ROTATION_COLUMNS} from jsonb_populate_recordset(null::tokens, ?::jsonb) where exists (select from spent)
          returning id_hash
        )
        select exists (select from spent) as spent`;

  return {
    async upsert(id, payload, expiresInSeconds) {
      const row = recordRow(spec, model, id, payload, expiresInSeconds);
      await db(spec.table).insert(row).onConflict(spec.key).merge(updatableColumns(spec, row));
    },

    async find(id) {
      if (spec === TOKENS) {
        const row = await tokenLookups(keyOf(id));
        if (row?.model !== model) return undefined;
        if (model === 'RefreshToken' && row.consumed_at && (await inGrace(keyOf(id)))) return hydrate(id, { ...row, consumed_at: null });
        return hydrate(id, row);
      }
      return hydrate(id, await db(spec.table).where(spec.key, keyOf(id)).first());
    },

    async findByUid(uid) {
      if (spec !== SESSIONS) return undefined;
      const row = await db('sessions').where('uid', uid).first();
      // The engine reads sessions by uid only to compare owner and grants (never to save or destroy them), so
      // the raw session id — which is not stored — is not needed here.
      return row ? { ...row.payload } : undefined;
    },

    async findByUserCode(userCode) {
      // The device code's id is not recoverable from its hash: the caller (oidc/device-code-storage.ts) opens
      // the sealed copy the payload carries. Indexed: tokens_user_code_hash_idx (unique).
      if (model !== 'DeviceCode') return undefined;
      const row = await db('tokens').where('user_code_hash', bearerHash(userCode)).andWhere('model', model).first('payload', 'consumed_at');
      if (!row) return undefined;
      const payload: Payload = { ...row.payload };
      if (row.consumed_at) payload.consumed = Math.floor(new Date(row.consumed_at).getTime() / 1000);
      return payload;
    },

    async destroy(id) {
      return (await scoped(db(spec.table).where(spec.key, keyOf(id))).delete()) > 0;
    },

    async consume(id) {
      const updated = await scoped(db(spec.table).where(spec.key, keyOf(id)))
        .whereNull('consumed_at')
        .update({ consumed_at: db.fn.now() })
        .returning(['grant_id']);
      if (updated.length === 1) return { ok: true };
      if (await inGrace(keyOf(id))) return { ok: true };
      const row = await scoped(db(spec.table).where(spec.key, keyOf(id))).first('grant_id');
      return { ok: false, grantId: row?.grant_id ?? null };
    },

    async lockGrantOf(id) {
      if (spec !== TOKENS) throw new Error('lockGrantOf is for token models');
      return lockGrant(keyOf(id));
    },

    async findForRotation(id) {
      if (model !== 'RefreshToken') throw new Error('findForRotation is for refresh tokens');
      const idHash = keyOf(id);
      // The lock, then a read of its own: in READ COMMITTED a statement sees what was committed before it
      // began, so the read must come after the wait for the lock, not in the same statement.
      if (!(await lockGrant(idHash))) return undefined;
      const row = await readRotatable(idHash);
      return row && hydrateRotatable(id, row);
    },

    async findRotatable(id) {
      if (model !== 'RefreshToken') throw new Error('findRotatable is for refresh tokens');
      const row = await readRotatable(keyOf(id));
      return row && { payload: hydrateRotatable(id, row), spendable: row.consumed_at == null || row.spendable };
    },

    async rotate(consumedId, grantId, writes) {
      if (model !== 'RefreshToken') throw new Error('rotate is for refresh tokens');
      const rows = JSON.stringify(writes.map((w) => rotationRow(w)));
      if (consumedId === undefined) {
        if (writes.length > 0) await db.raw(`insert into tokens (${ROTATION_COLUMNS}) select ${ROTATION_COLUMNS} from jsonb_populate_recordset(null::tokens, ?::jsonb)`, [rows]);
        return true;
      }
      const [result] = await preparedRows<{ spent: boolean }>(db, ROTATE, [grantId ?? '', bearerHash(consumedId), rows]);
      return Boolean(result?.spent);
    },
  };
}
