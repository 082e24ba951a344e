// Storage for everything oidc-provider persists except clients: grants, sessions, interactions, and one
// `tokens` table for the token-like models. Called only by oidc/adapter.ts (the engine's storage hook).
import type { Db } from './db.ts';
import { bearerHash } from './bearer-hash.ts';
import { grantLockSql } from './grant-locks.ts';
import { holdsTransaction } from './unit-of-work.ts';

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
   * Takes the lock of the grant the stored token belongs to (none for a token without one, or no such
   * token), bounded by lock_timeout; whether the token exists. Token models only, inside a transaction.
   */
  lockGrantOf(id: string): Promise<boolean>;
}

type TokenRow = { model: string; payload: Payload; consumed_at?: Date | null; grant_id?: string | null } | undefined;

/**
 * A refresh token whose rotation never completed. The engine marks the token consumed and then stores its
 * successor in a separate statement; if the database dies in between, the client is told 503 (retry) but
 * its token is already spent, and the retry would look like reuse and revoke the grant. A consumption that
 * left no successor behind is therefore undone — but only once it is older than ORPHANED_AFTER, so two
 * parallel uses of one token (the reuse that RFC 9700 §4.14.2 detection is for) still meet as a replay.
 * Only refresh tokens: a successful rotation always stores a successor, whereas a successful code exchange
 * may store nothing (JWT access token, no refresh token), so codes stay strictly single-use.
 */
const ORPHANED_AFTER_SECONDS = 2;
/** How long a refresh exchange waits for its grant's lock (parallel uses of one token queue there). */
const LOCK_TIMEOUT = '5s';
const ORPHANED_CONSUMPTION = `model = 'RefreshToken' and consumed_at < now() - interval '${ORPHANED_AFTER_SECONDS} seconds'
  and not exists (select 1 from tokens successor where successor.grant_id = tokens.grant_id and successor.id_hash <> tokens.id_hash
                  and successor.model = 'RefreshToken' and successor.created_at >= tokens.consumed_at)`;

/**
 * The engine looks an unknown token up as AccessToken, ClientCredentials and RefreshToken at once
 * (introspection, revocation). Lookups of the same hash that are in flight together share one query;
 * each model then keeps only its own row. A request holding a transaction (store/unit-of-work.ts) reads
 * in it and shares nothing: another's lookup may be waiting for the pool, or read outside the transaction.
 */
export function createTokenLookups(db: Db) {
  const inFlight = new Map<string, Promise<TokenRow>>();
  return (idHash: string): Promise<TokenRow> => {
    if (holdsTransaction()) return Promise.resolve(db('tokens').where('id_hash', idHash).first());
    let pending = inFlight.get(idHash);
    if (!pending) {
      pending = Promise.resolve(db('tokens').where('id_hash', idHash).first()).finally(() => inFlight.delete(idHash));
      inFlight.set(idHash, pending);
    }
    return pending;
  };
}

const keyFor = (spec: TableSpec, id: string) => (spec.key === 'id' ? id : bearerHash(id));

/** A row as `upsert` writes it (the raw id and the engine's `consumed` flag are never stored). */
function recordRow(spec: TableSpec, model: string, id: string, payload: Payload, expiresInSeconds: number | undefined): Record<string, unknown> {
  const { jti: _omit, consumed: _consumed, ...stored } = payload;
  const expiresAt = typeof expiresInSeconds === 'number' ? new Date(Date.now() + expiresInSeconds * 1000) : null;
  const row: Record<string, unknown> = { [spec.key]: keyFor(spec, id), payload: JSON.stringify(stored), expires_at: expiresAt, ...spec.columns(payload) };
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

/**
 * A refresh exchange's writes in one statement: the old refresh token consumed (unless it is in its grace
 * window, which the exchange's read under the grant's lock already decided) and the new tokens stored.
 * Inside the exchange's transaction, just before COMMIT (oidc/adapter.ts).
 */
export async function writeRotation(db: Db, consumedId: string | undefined, writes: RotationWrite[]): Promise<void> {
  if (writes.length === 0 && consumedId === undefined) return;
  const consume = (q: Db) =>
    q('tokens')
      .where({ id_hash: bearerHash(consumedId!), model: 'RefreshToken' })
      .where((w) => w.whereNull('consumed_at').orWhereRaw(ORPHANED_CONSUMPTION))
      .update({ consumed_at: db.fn.now() });
  if (writes.length === 0) return void (await consume(db));
  const rows = writes.map((w) => recordRow(TOKENS, w.model, w.id, w.payload, w.expiresInSeconds));
  const insert = (consumedId === undefined ? db('tokens') : db.with('consumed', consume(db).returning('id_hash'))).insert(rows);
  await insert.into('tokens').onConflict('id_hash').merge(updatableColumns(TOKENS, rows[0]!));
}

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

  const isOrphaned = async (idHash: string) => Boolean(await db('tokens').where('id_hash', idHash).whereRaw(ORPHANED_CONSUMPTION).first('id_hash'));

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

  return {
    async upsert(id, payload, expiresInSeconds) {
      const row = recordRow(spec, model, id, payload, expiresInSeconds);
      await db(spec.table).insert(row).onConflict(spec.key).merge(updatableColumns(spec, row));
    },

    async find(id) {
      if (spec === TOKENS) {
        const row = await tokenLookups(keyOf(id));
        if (row?.model !== model) return undefined;
        if (model === 'RefreshToken' && row.consumed_at && ((await inGrace(keyOf(id))) || (await isOrphaned(keyOf(id))))) return hydrate(id, { ...row, consumed_at: null });
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
      // Device flow is not enabled; kept for the adapter contract. The device code id is not recoverable from
      // its hash, so the record is returned read-only.
      const row = await scoped(db('tokens').where('user_code_hash', bearerHash(userCode))).first();
      return row ? { ...row.payload } : undefined;
    },

    async destroy(id) {
      return (await scoped(db(spec.table).where(spec.key, keyOf(id))).delete()) > 0;
    },

    async consume(id) {
      const updated = await scoped(db(spec.table).where(spec.key, keyOf(id)))
        .where((q) => (model === 'RefreshToken' ? q.whereNull('consumed_at').orWhereRaw(ORPHANED_CONSUMPTION) : q.whereNull('consumed_at')))
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
      // Whether the grace window or the orphan rule shows a consumed token as unspent, in the same read
      // (now() is the transaction's start, as in consume(): both decide alike).
      const row = (await db('tokens')
        .where({ id_hash: idHash, model })
        .first(
          '*',
          db.raw(`(consumed_at is not null and ${graceSeconds} > 0 and ${IN_GRACE}) as in_grace`),
          db.raw(`(consumed_at is not null and ${ORPHANED_CONSUMPTION}) as orphaned`),
        )) as (NonNullable<TokenRow> & { in_grace: boolean; orphaned: boolean }) | undefined;
      if (!row) return undefined;
      return hydrate(id, row.in_grace || row.orphaned ? { ...row, consumed_at: null } : row);
    },
  };
}
