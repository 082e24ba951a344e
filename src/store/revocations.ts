// Revocation bookkeeping. Every revocation writes two things in the caller's transaction:
// - a `revocations` row (kind grant | jti | client) that introspection checks, kept until the tokens it
//   covers have expired;
// - a `revocation_events` row, the durable feed that resource servers validating JWTs locally follow.
import type { Db } from './db.ts';
import { noticeChanges } from './change-notices.ts';
import { createHandleHook } from './handle-hooks.ts';
import { lockGrants } from './grant-locks.ts';
import { delegatedGrantsOf } from './delegated-grants.ts';

export type RevocationKind = 'grant' | 'jti' | 'client';

/** Event types, aligned with OpenID Shared Signals / CAEP where one fits (docs/revocation-feed.md). */
export type RevocationEventType = 'token-revoked' | 'session-revoked' | 'client-disabled';

export interface Revocation {
  kind: RevocationKind;
  value: string;
  reason: string;
  coverUntil: Date;
  event: {
    type: RevocationEventType;
    jti?: string | undefined;
    grantId?: string | undefined;
    clientId?: string | null | undefined;
    sub?: string | null | undefined;
    /** undefined or null: the event concerns every audience. */
    audiences?: string[] | null | undefined;
  };
}

// Serialises the transactions that append to the feed, so ids are assigned in commit order: a reader that
// has seen id N can never later find a smaller id committing (which it would skip for good).
const FEED_APPEND_LOCK = 0x7e55e4b;

/** One revocation event as a process's in-memory state applies it (domain/revocation-state.ts). */
export interface RevocationEventRow {
  id: string;
  type: string;
  jti: string | null;
  grantId: string | null;
  clientId: string | null;
  occurredAt: Date;
  expiresAt: Date;
}

/** Where every process listens for new revocation events (the payload is the newest id). */
export const REVOCATIONS_CHANNEL = 'tessera_revocations';

/**
 * Told of each revocation transaction's newest event id before it commits, so that this process's
 * in-memory state (revocation-watch.ts) catches up before it answers from memory again: the process that
 * revokes must never answer its own next request from a state without the revocation. One per database
 * handle (handle-hooks.ts).
 */
export type RevocationsRecordedHook = (newestEventId: bigint) => void;
const recorded = createHandleHook<RevocationsRecordedHook>();

export function onRevocationsRecorded(db: Db, hook: RevocationsRecordedHook): void {
  recorded.set(db, hook);
}

export async function recordRevocations(trx: Db, revocations: Revocation[]): Promise<void> {
  if (revocations.length === 0) return;
  await trx.raw('select pg_advisory_xact_lock(?)', [FEED_APPEND_LOCK]);
  await trx('revocations')
    .insert(revocations.map((r) => ({ kind: r.kind, value: r.value, reason: r.reason, expires_at: r.coverUntil })))
    .onConflict(['kind', 'value'])
    // created_at moves to the latest revocation: a `client` revocation covers every token issued before it.
    .merge({ expires_at: trx.raw('greatest(revocations.expires_at, excluded.expires_at)'), created_at: trx.fn.now() });
  const inserted: Array<{ id: string | number }> = await trx('revocation_events')
    .insert(
      revocations.map((r) => ({
        type: r.event.type,
        jti: r.event.jti ?? null,
        grant_id: r.event.grantId ?? null,
        client_id: r.event.clientId ?? null,
        sub: r.event.sub ?? null,
        audiences: r.event.audiences ? JSON.stringify(r.event.audiences) : null,
        reason: r.reason,
        expires_at: r.coverUntil,
      })),
    )
    .returning('id');
  const newest = inserted.reduce((max, row) => (BigInt(row.id) > max ? BigInt(row.id) : max), 0n);
  // Delivered at commit, in commit order, to every process listening (none is told of a rollback).
  await trx.raw('select pg_notify(?, ?)', [REVOCATIONS_CHANNEL, newest.toString()]);
  recorded.get(trx)?.(newest);
}

/** Revocation events after `afterId`, oldest first: what a process's in-memory state has not applied yet. */
export async function revocationEventsAfter(db: Db, afterId: bigint, limit = 10_000): Promise<RevocationEventRow[]> {
  const rows = await db('revocation_events')
    .where('id', '>', afterId.toString())
    .orderBy('id')
    .limit(limit)
    .select('id', 'type', 'jti', 'grant_id', 'client_id', 'occurred_at', 'expires_at');
  return rows.map(toEventRow);
}

/** The events still in force (what a process loads at start), and the newest id of all. */
export async function liveRevocationEvents(db: Db): Promise<{ events: RevocationEventRow[]; newestId: bigint }> {
  return db.transaction(
    async (trx) => {
      const events = (await trx('revocation_events').where('expires_at', '>', trx.fn.now()).orderBy('id').select('id', 'type', 'jti', 'grant_id', 'client_id', 'occurred_at', 'expires_at')).map(toEventRow);
      const newest = (await trx('revocation_events').max({ id: 'id' }))[0] as { id: string | number | null } | undefined;
      return { events, newestId: newest?.id ? BigInt(newest.id) : 0n };
    },
    // One snapshot for both reads: no event can commit between them.
    { isolationLevel: 'repeatable read' },
  );
}

function toEventRow(r: { id: string | number; type: string; jti: string | null; grant_id: string | null; client_id: string | null; occurred_at: Date; expires_at: Date }): RevocationEventRow {
  return { id: String(r.id), type: r.type, jti: r.jti, grantId: r.grant_id, clientId: r.client_id, occurredAt: new Date(r.occurred_at), expiresAt: new Date(r.expires_at) };
}

interface GrantRow {
  id: string;
  account_id: string | null;
  client_id: string;
  payload: { resources?: Record<string, unknown> };
}

function grantRevocation(row: GrantRow | undefined, grantId: string, reason: string, coverUntil: Date): Revocation {
  const audiences = row?.payload?.resources ? Object.keys(row.payload.resources) : null;
  return {
    kind: 'grant',
    value: grantId,
    reason,
    coverUntil,
    // CAEP "session-revoked": the grant — and every token issued from it — is no longer valid.
    event: { type: 'session-revoked', grantId, clientId: row?.client_id, sub: row?.account_id, audiences: audiences?.length ? audiences : null },
  };
}

/**
 * Grant-level revocation: deletes every stored token of the grants (and, with `deleteGrants`, the grants)
 * and records the revocations, in one transaction.
 */
export async function revokeGrants(
  db: Db,
  grantIds: string[],
  options: { reason: string; coverUntil: Date; deleteGrants: boolean },
): Promise<void> {
  if (grantIds.length === 0) return;
  await db.transaction(async (trx) => {
    // Locks before any row of theirs: a refresh exchange holding one of these grants' locks may be rotating
    // its tokens, and the revocation waits for it instead of deadlocking with it (store/grant-locks.ts).
    // Grants delegated from these by token exchange end with them (store/delegated-grants.ts), locked in
    // the same statement and order, so two revocations sharing a parent and a child cannot deadlock. An
    // exchange records a delegation under its parent's lock, so once these are held the chain is read
    // again: a delegation that raced this revocation is found then, and locked after.
    const delegated = await delegatedGrantsOf(trx as unknown as Db, grantIds);
    await lockGrants(trx as unknown as Db, [...grantIds, ...delegated]);
    const known = new Set([...grantIds, ...delegated]);
    const raced = (await delegatedGrantsOf(trx as unknown as Db, grantIds)).filter((id) => !known.has(id));
    await lockGrants(trx as unknown as Db, raced);
    grantIds = [...known, ...raced];
    const rows: GrantRow[] = await trx('grants').whereIn('id', grantIds).select('id', 'account_id', 'client_id', 'payload');
    await trx('tokens').whereIn('grant_id', grantIds).delete();
    if (options.deleteGrants) await trx('grants').whereIn('id', grantIds).delete();
    // Every process drops its cached copy (the engine must not find a revoked grant again).
    await noticeChanges(trx as unknown as Db, 'grant', grantIds);
    const byId = new Map(rows.map((r) => [r.id, r]));
    await recordRevocations(
      trx as unknown as Db,
      grantIds.map((id) => grantRevocation(byId.get(id), id, options.reason, options.coverUntil)),
    );
  });
}

export interface JwtTokenState {
  revoked: boolean;
  grantExists: boolean;
  clientEnabled: boolean;
  accountEnabled: boolean;
  username: string | null;
}

/**
 * Everything introspection must know about a JWT access token beyond its signature, in one round trip:
 * is its jti, grant or client revoked, does its grant still exist, are its client and account enabled.
 */
export async function jwtTokenState(
  db: Db,
  token: { jti: string; grantId?: string | undefined; clientId: string; sub?: string | undefined; issuedAt: number },
): Promise<JwtTokenState> {
  // A client revocation (disabled, deleted) covers the tokens issued before it — also once the client is
  // enabled again: enabling undoes the disabling, not the revocation.
  const result = await db.raw(
    `select
       exists(select 1 from revocations where (kind = 'jti' and value = ?) or (kind = 'grant' and value = ?)
              or (kind = 'client' and value = ? and created_at >= to_timestamp(?))) as revoked,
       (? :: text is null or exists(select 1 from grants where id = ?)) as grant_exists,
       coalesce((select not disabled from clients where id = ?), false) as client_enabled,
       (? :: text is null or coalesce((select not disabled from accounts where id = ?), false)) as account_enabled,
       (select username from accounts where id = ?) as username`,
    [token.jti, token.grantId ?? null, token.clientId, token.issuedAt, token.grantId ?? null, token.grantId ?? null, token.clientId, token.sub ?? null, token.sub ?? null, token.sub ?? null],
  );
  const row = (result as { rows: Array<Record<string, unknown>> }).rows[0]!;
  return {
    revoked: row.revoked === true,
    grantExists: row.grant_exists === true,
    clientEnabled: row.client_enabled === true,
    accountEnabled: row.account_enabled === true,
    username: (row.username as string | null) ?? null,
  };
}

export interface FeedEvent {
  cursor: string;
  type: RevocationEventType;
  jti: string | null;
  grantId: string | null;
  clientId: string | null;
  sub: string | null;
  audiences: string[] | null;
  reason: string;
  occurredAt: Date;
  expiresAt: Date;
}

/** Events after `cursor` that concern `audience` (or every audience), oldest first. */
export async function readFeed(db: Db, audience: string, cursor: bigint, limit: number): Promise<FeedEvent[]> {
  const rows = await db('revocation_events')
    .where('id', '>', cursor.toString())
    .where((q) => q.whereNull('audiences').orWhereRaw('audiences @> ?::jsonb', [JSON.stringify([audience])]))
    .orderBy('id')
    .limit(limit);
  return rows.map((r: Record<string, unknown>) => ({
    cursor: String(r.id),
    type: r.type as RevocationEventType,
    jti: (r.jti as string | null) ?? null,
    grantId: (r.grant_id as string | null) ?? null,
    clientId: (r.client_id as string | null) ?? null,
    sub: (r.sub as string | null) ?? null,
    audiences: (r.audiences as string[] | null) ?? null,
    reason: r.reason as string,
    occurredAt: r.occurred_at as Date,
    expiresAt: r.expires_at as Date,
  }));
}


/**
 * Everything a client holds stops working: its grants and their tokens, its own stored tokens
 * (client_credentials, registration), and — through a `client` revocation — its JWTs.
 */
export async function revokeClientAccess(db: Db, clientId: string, reason: string, coverUntil: Date): Promise<void> {
  const grantIds = (await db('grants').where('client_id', clientId).select('id')).map((r: { id: string }) => r.id);
  await revokeGrants(db, grantIds, { reason, coverUntil, deleteGrants: true });
  await db.transaction(async (trx) => {
    await trx('tokens').whereRaw(`payload->>'clientId' = ?`, [clientId]).delete();
    await recordRevocations(trx as unknown as Db, [
      { kind: 'client', value: clientId, reason, coverUntil, event: { type: 'client-disabled', clientId, audiences: null } },
    ]);
  });
}

/** Seconds since the client's latest `client` revocation (undefined when it has none). */
export async function secondsSinceClientRevocation(db: Db, clientId: string): Promise<number | undefined> {
  const row = await db('revocations')
    .where({ kind: 'client', value: clientId })
    .first(db.raw('extract(epoch from (clock_timestamp() - created_at))::float8 as seconds'));
  return row ? Number((row as { seconds: number }).seconds) : undefined;
}

export type SubjectState = Omit<JwtTokenState, 'revoked'>;

/**
 * jwtTokenState without the revocation check, for a process that knows the revocations from memory
 * (revocation-watch.ts): does the grant still exist, are the client and the account enabled, the username.
 */
export async function jwtSubjectState(db: Db, token: { grantId?: string | undefined; clientId: string; sub?: string | undefined }): Promise<SubjectState> {
  const result = await db.raw(
    `select
       (? :: text is null or exists(select 1 from grants where id = ?)) as grant_exists,
       coalesce((select not disabled from clients where id = ?), false) as client_enabled,
       (? :: text is null or coalesce((select not disabled from accounts where id = ?), false)) as account_enabled,
       (select username from accounts where id = ?) as username`,
    [token.grantId ?? null, token.grantId ?? null, token.clientId, token.sub ?? null, token.sub ?? null, token.sub ?? null],
  );
  const row = (result as { rows: Array<Record<string, unknown>> }).rows[0]!;
  return {
    grantExists: row.grant_exists === true,
    clientEnabled: row.client_enabled === true,
    accountEnabled: row.account_enabled === true,
    username: (row.username as string | null) ?? null,
  };
}
