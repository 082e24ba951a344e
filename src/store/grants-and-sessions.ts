// What a person has granted and where they are signed in: grants and sessions by account, and their
// revocation (store/revocations.ts does the grant part in one transaction). Ending sessions returns what
// back-channel logout needs (client ids and sids).
import type { Knex } from 'knex';
import type { Db } from './db.ts';
import { revokeGrants } from './revocations.ts';
import { keysetPage, type Page, type PageRequest } from './pagination.ts';

export interface GrantSummary {
  grantId: string;
  clientId: string;
  clientName: string | null;
  scopes: string[];
  createdAt: Date;
}

export interface EndedSession {
  accountId: string;
  /** client_id → sid, for clients that took part in the session. */
  sids: Record<string, string>;
}

function scopesOf(payload: Record<string, unknown>): string[] {
  const scopes = new Set<string>();
  const openid = payload.openid as { scope?: string } | undefined;
  for (const s of (openid?.scope ?? '').split(' ')) if (s) scopes.add(s);
  const resources = (payload.resources ?? {}) as Record<string, string>;
  for (const value of Object.values(resources)) for (const s of value.split(' ')) if (s) scopes.add(s);
  return [...scopes];
}

export async function listGrantsOfAccount(db: Db, accountId: string): Promise<GrantSummary[]> {
  const rows = await db('grants')
    .leftJoin('clients', 'clients.id', 'grants.client_id')
    .where('grants.account_id', accountId)
    .where((q) => q.whereNull('grants.expires_at').orWhere('grants.expires_at', '>', db.fn.now()))
    .orderBy('grants.created_at', 'desc')
    .select('grants.id', 'grants.client_id', 'grants.payload', 'grants.created_at', db.raw("clients.metadata->>'client_name' as client_name"));
  return rows.map((r: Record<string, unknown>) => ({
    grantId: r.id as string,
    clientId: r.client_id as string,
    clientName: (r.client_name as string | null) ?? null,
    scopes: scopesOf(r.payload as Record<string, unknown>),
    createdAt: r.created_at as Date,
  }));
}

export async function markConsentRemembered(db: Db, grantId: string): Promise<void> {
  await db('grants').where('id', grantId).update({ consent_remembered: true });
}

export async function isConsentRemembered(db: Db, grantId: string): Promise<boolean> {
  const row = await db('grants').where('id', grantId).first('consent_remembered');
  return row?.consent_remembered === true;
}

/** Revokes the grants an account gave one client (or all clients). Returns the revoked grant ids. */
export async function revokeGrantsOfAccount(
  db: Db,
  accountId: string,
  options: { clientId?: string; reason: string; coverUntil: Date },
): Promise<string[]> {
  const q = db('grants').where('account_id', accountId);
  if (options.clientId) q.where('client_id', options.clientId);
  const ids = (await q.select('id')).map((r: { id: string }) => r.id);
  await revokeGrants(db, ids, { reason: options.reason, coverUntil: options.coverUntil, deleteGrants: true });
  return ids;
}

/** Ends every session of the account (grants stay: the apps keep refresh tokens that outlive logout). */
export async function endAccountSessions(db: Db, accountId: string): Promise<EndedSession[]> {
  const sessions = await db('sessions').where('account_id', accountId).delete().returning('payload');
  return sessions.map(({ payload }: { payload: Record<string, unknown> }) => endedSession(accountId, payload));
}

/** Ends one session, by its uid; undefined when there is none. */
export async function endSessionByUid(db: Db, uid: string): Promise<EndedSession | undefined> {
  const [row] = await db('sessions').where('uid', uid).delete().returning(['account_id', 'payload']);
  return row ? endedSession(row.account_id ?? '', row.payload) : undefined;
}

function endedSession(accountId: string, payload: Record<string, unknown>): EndedSession {
  const authorizations = (payload.authorizations ?? {}) as Record<string, { sid?: string }>;
  const sids: Record<string, string> = {};
  for (const [clientId, a] of Object.entries(authorizations)) if (a.sid) sids[clientId] = a.sid;
  return { accountId, sids };
}

/** Deletes every session of the account and revokes all its grants. */
export async function endAccountAccess(db: Db, accountId: string, reason: string, coverUntil: Date): Promise<EndedSession[]> {
  const ended = await endAccountSessions(db, accountId);
  await revokeGrantsOfAccount(db, accountId, { reason, coverUntil });
  return ended;
}

export interface GrantRecord {
  grantId: string;
  accountId: string | null;
  clientId: string;
  clientName: string | null;
  scopes: string[];
  resources: string[];
  createdAt: Date;
  expiresAt: Date | null;
}

const unexpired = (db: Db, table: string) => (q: Knex.QueryBuilder) =>
  q.whereNull(`${table}.expires_at`).orWhere(`${table}.expires_at`, '>', db.fn.now());

/** Live grants, oldest first, of an account and/or a client. */
export async function listGrantsPage(db: Db, filter: { accountId?: string; clientId?: string }, page: PageRequest): Promise<Page<GrantRecord>> {
  const query = db('grants')
    .leftJoin('clients', 'clients.id', 'grants.client_id')
    .where(unexpired(db, 'grants'))
    .select('grants.id', 'grants.account_id', 'grants.client_id', 'grants.payload', 'grants.created_at', 'grants.expires_at', db.raw("clients.metadata->>'client_name' as client_name"));
  if (filter.accountId !== undefined) query.where('grants.account_id', filter.accountId);
  if (filter.clientId !== undefined) query.where('grants.client_id', filter.clientId);
  const keys = [{ column: 'grants.created_at', kind: 'timestamp' }, { column: 'grants.id', kind: 'text' }] as const;
  return keysetPage(db, query, { keys, direction: 'asc', page }, (r) => ({
    grantId: r.id as string,
    accountId: (r.account_id as string | null) ?? null,
    clientId: r.client_id as string,
    clientName: (r.client_name as string | null) ?? null,
    scopes: scopesOf(r.payload as Record<string, unknown>),
    resources: Object.keys(((r.payload as Record<string, unknown>).resources ?? {}) as object),
    createdAt: r.created_at as Date,
    expiresAt: (r.expires_at as Date | null) ?? null,
  }));
}

export async function findGrantParties(db: Db, grantId: string): Promise<{ accountId: string | null; clientId: string } | undefined> {
  const row = await db('grants').where('id', grantId).first('account_id', 'client_id');
  return row ? { accountId: row.account_id ?? null, clientId: row.client_id } : undefined;
}

export interface SessionRecord {
  uid: string;
  accountId: string | null;
  clientIds: string[];
  loginAt: Date | null;
  createdAt: Date;
  expiresAt: Date | null;
}

/** Live sessions, oldest first, optionally of one account. Never the session id (a bearer value). */
export async function listSessionsPage(db: Db, filter: { accountId?: string }, page: PageRequest): Promise<Page<SessionRecord>> {
  const query = db('sessions').where(unexpired(db, 'sessions')).select('sessions.uid', 'sessions.account_id', 'sessions.payload', 'sessions.created_at', 'sessions.expires_at');
  if (filter.accountId !== undefined) query.where('sessions.account_id', filter.accountId);
  const keys = [{ column: 'sessions.created_at', kind: 'timestamp' }, { column: 'sessions.uid', kind: 'text' }] as const;
  return keysetPage(db, query, { keys, direction: 'asc', page }, (r) => {
    const payload = r.payload as { loginTs?: number; authorizations?: Record<string, unknown> };
    return {
      uid: r.uid as string,
      accountId: (r.account_id as string | null) ?? null,
      clientIds: Object.keys(payload.authorizations ?? {}),
      loginAt: typeof payload.loginTs === 'number' ? new Date(payload.loginTs * 1000) : null,
      createdAt: r.created_at as Date,
      expiresAt: (r.expires_at as Date | null) ?? null,
    };
  });
}
