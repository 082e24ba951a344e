// Grants and sessions as operators see and end them (the person's own view is http/account.ts). Ending a
// grant is a revocation like any other (introspection and the revocation feed see it at once); ending a
// session returns what back-channel logout needs.
import type { Db } from '../store/db.ts';
import {
  endSessionByUid,
  findGrantParties,
  listGrantsOfAccount,
  listGrantsPage,
  markConsentRemembered,
  revokeGrantsOfAccount,
  listSessionsPage,
  type EndedSession,
  type GrantRecord,
  type SessionRecord,
} from '../store/grants-and-sessions.ts';
import { revokeGrants } from '../store/revocations.ts';
import { insertAuditEvent } from '../store/audit.ts';
import { revocationCoverUntil } from '../store/resource-servers.ts';
import type { Page, PageRequest } from '../store/pagination.ts';
import { BadRequest, NotFound } from '../errors.ts';
import { requireAccount } from './accounts.ts';
import { ACCOUNT_CLIENT_ID } from './clients.ts';

/**
 * How long a revocation must be remembered: until every access token issued before it has expired — the
 * longest access-token lifetime of any API, or the global one (introspection and the feed rely on it).
 */
export async function revocationWindow(db: Db, accessTokenTtlSeconds: number): Promise<{ coverUntil: Date }> {
  return { coverUntil: await revocationCoverUntil(db, accessTokenTtlSeconds) };
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function publicGrant(g: GrantRecord) {
  return {
    grant_id: g.grantId,
    user_id: g.accountId,
    client_id: g.clientId,
    client_name: g.clientName,
    scopes: g.scopes,
    resources: g.resources,
    created_at: g.createdAt.toISOString(),
    expires_at: iso(g.expiresAt),
  };
}

export function publicSession(s: SessionRecord) {
  return {
    uid: s.uid,
    user_id: s.accountId,
    client_ids: s.clientIds,
    login_at: iso(s.loginAt),
    created_at: s.createdAt.toISOString(),
    expires_at: iso(s.expiresAt),
  };
}

/** `user` is a user id or username and must exist; `client` is a client id. */
export async function listGrants(db: Db, filter: { user?: string | undefined; client?: string | undefined }, page: PageRequest): Promise<Page<GrantRecord>> {
  if (filter.user === undefined && filter.client === undefined) throw new BadRequest('give user, client, or both');
  const accountId = filter.user === undefined ? undefined : (await requireAccount(db, filter.user)).id;
  return listGrantsPage(db, { ...(accountId !== undefined ? { accountId } : {}), ...(filter.client !== undefined ? { clientId: filter.client } : {}) }, page);
}

export async function revokeGrant(db: Db, grantId: string, revocation: { coverUntil: Date }): Promise<void> {
  const parties = await findGrantParties(db, grantId);
  if (!parties) throw new NotFound(`no grant "${grantId}"`);
  await revokeGrants(db, [grantId], { reason: 'revoked_by_operator', coverUntil: revocation.coverUntil, deleteGrants: true });
  await insertAuditEvent(db, { type: 'grant.revoked', accountId: parties.accountId, clientId: parties.clientId, details: { grant_id: grantId, by: 'operator' } });
}

/** The person ticked "remember": later requests for the same scopes skip the consent page (oidc/consent.ts). */
export function rememberConsent(db: Db, grantId: string): Promise<void> {
  return markConsentRemembered(db, grantId);
}

/** The apps a person has granted access to, as the account page lists them (not the account page itself). */
export async function appsOfAccount(db: Db, accountId: string) {
  return (await listGrantsOfAccount(db, accountId)).filter((g) => g.clientId !== ACCOUNT_CLIENT_ID);
}

/** The person removes an app: every grant of theirs to it, and every token issued from them, is revoked. */
export async function removeAppOfAccount(
  db: Db,
  accountId: string,
  clientId: string,
  revocation: { coverUntil: Date },
  from: { ip?: string | undefined; userAgent?: string | undefined },
): Promise<void> {
  const revoked = await revokeGrantsOfAccount(db, accountId, { clientId, reason: 'revoked_by_user', coverUntil: revocation.coverUntil });
  await insertAuditEvent(db, { type: 'grant.revoked', accountId, clientId, ip: from.ip, userAgent: from.userAgent, details: { grants: revoked.length, by: 'user' } });
}

export async function listSessions(db: Db, filter: { user?: string | undefined }, page: PageRequest): Promise<Page<SessionRecord>> {
  const accountId = filter.user === undefined ? undefined : (await requireAccount(db, filter.user)).id;
  return listSessionsPage(db, accountId !== undefined ? { accountId } : {}, page);
}

export async function endSession(db: Db, uid: string): Promise<EndedSession> {
  const ended = await endSessionByUid(db, uid);
  if (!ended) throw new NotFound(`no session "${uid}"`);
  await insertAuditEvent(db, { type: 'session.ended', accountId: ended.accountId || null, details: { uid, by: 'operator' } });
  return ended;
}
