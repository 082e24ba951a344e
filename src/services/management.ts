// Operations for managing what exists — listing page by page, reading one thing, changing and removing it —
// shared by the CLI and the admin API (http/admin/). Part of the one operations table (operations.ts).
// Inputs are camelCase; results are what callers see (wire names).
import type { ServiceContext } from './context.ts';
import { ValidationError } from '../errors.ts';
import type { Page, PageRequest } from '../store/pagination.ts';
import { changeRoles, deleteAccount, listAccountsPage, publicAccount, updateProfile } from '../domain/accounts.ts';
import { assertNotBuiltIn, disableClient, listClientsPage, publicClient, requireClient, updateClient, type ClientChanges } from '../domain/clients.ts';
import { listResourceServersPage, publicResourceServer, requireResourceServer } from '../domain/resource-servers.ts';
import { endSession, listGrants, listSessions, publicGrant, publicSession, revocationWindow, revokeGrant } from '../domain/grants-and-sessions.ts';
import { listInitialAccessTokensPage, publicInitialAccessToken, withdrawInitialAccessToken } from '../domain/initial-access-tokens.ts';
import { listAuditPage, publicAuditEvent } from '../domain/audit.ts';
import { bootstrapAdminClient } from '../domain/admin-clients.ts';
import { adminAudience } from '../domain/admin-scopes.ts';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from './page-size.ts';

export { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE };

export interface PageInput {
  limit?: number | undefined;
  cursor?: string | undefined;
}

function pageRequest(input: PageInput | undefined): PageRequest {
  const limit = input?.limit ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) throw new ValidationError(`limit must be a whole number from 1 to ${MAX_PAGE_SIZE}`);
  return { limit, cursor: input?.cursor };
}

/** `{ <name>: items, next_cursor }`: pass next_cursor back as `cursor` for the next page; null at the end. */
function pageOf<K extends string, T, U>(name: K, page: Page<T>, map: (item: T) => U) {
  return { [name]: page.items.map(map), next_cursor: page.nextCursor } as { [P in K]: U[] } & { next_cursor: string | null };
}

function instant(name: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new ValidationError(`${name} must be an ISO 8601 date-time`);
  return date;
}

const revocationWindowOf = (ctx: ServiceContext) => revocationWindow(ctx.runtime.db, ctx.config.ttl.accessToken);

export const managementOperations = {
  async 'user.list'({ runtime }: ServiceContext, input?: PageInput) {
    return pageOf('users', await listAccountsPage(runtime.db, pageRequest(input)), publicAccount);
  },
  async 'user.update'({ runtime }: ServiceContext, input: { user: string; username?: string | undefined; email?: string | null | undefined; name?: string | null | undefined; emailVerified?: boolean | undefined }) {
    const { user, ...changes } = input;
    const defined = Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined));
    return publicAccount(await updateProfile(runtime.db, user, defined));
  },
  async 'user.delete'(ctx: ServiceContext, input: { user: string }) {
    const { account, endedSessions } = await deleteAccount(ctx.runtime.db, input.user, await revocationWindowOf(ctx));
    return { id: account.id, username: account.username, deleted: true, sessions_ended: endedSessions.length, logout_notifications: await ctx.notifyLogout(endedSessions) };
  },
  async 'user.change-roles'({ runtime }: ServiceContext, input: { user: string; add?: string[] | undefined; remove?: string[] | undefined }) {
    return publicAccount(await changeRoles(runtime.db, input.user, { add: input.add ?? [], remove: input.remove ?? [] }));
  },
  async 'user.sessions'({ runtime }: ServiceContext, input: { user: string } & PageInput) {
    return pageOf('sessions', await listSessions(runtime.db, { user: input.user }, pageRequest(input)), publicSession);
  },
  async 'session.list'({ runtime }: ServiceContext, input?: { user?: string | undefined } & PageInput) {
    return pageOf('sessions', await listSessions(runtime.db, { user: input?.user }, pageRequest(input)), publicSession);
  },
  async 'session.end'(ctx: ServiceContext, input: { uid: string }) {
    const ended = await endSession(ctx.runtime.db, input.uid);
    return { uid: input.uid, user_id: ended.accountId || null, ended: true, logout_notifications: await ctx.notifyLogout([ended]) };
  },
  async 'grant.list'({ runtime }: ServiceContext, input?: { user?: string | undefined; client?: string | undefined } & PageInput) {
    return pageOf('grants', await listGrants(runtime.db, { user: input?.user, client: input?.client }, pageRequest(input)), publicGrant);
  },
  async 'grant.revoke'(ctx: ServiceContext, input: { grantId: string }) {
    await revokeGrant(ctx.runtime.db, input.grantId, await revocationWindowOf(ctx));
    return { grant_id: input.grantId, revoked: true };
  },
  async 'client.list'({ runtime }: ServiceContext, input?: PageInput) {
    return pageOf('clients', await listClientsPage(runtime.db, pageRequest(input)), publicClient);
  },
  async 'client.get'({ runtime }: ServiceContext, input: { clientId: string }) {
    return publicClient(await requireClient(runtime.db, input.clientId));
  },
  async 'client.update'(ctx: ServiceContext, input: { clientId: string } & ClientChanges) {
    const { clientId, ...changes } = input;
    const updated = await updateClient(ctx.runtime.db, clientId, changes);
    ctx.changed?.('client', clientId);
    return updated;
  },
  async 'client.delete'(ctx: ServiceContext, input: { clientId: string }) {
    assertNotBuiltIn(input.clientId);
    await disableClient(ctx.runtime.db, input.clientId, await revocationWindowOf(ctx), { remove: true });
    ctx.changed?.('client', input.clientId);
    return { client_id: input.clientId, deleted: true };
  },
  async 'resource.list'({ runtime }: ServiceContext, input?: PageInput) {
    return pageOf('resources', await listResourceServersPage(runtime.db, pageRequest(input)), publicResourceServer);
  },
  async 'resource.get'({ runtime }: ServiceContext, input: { identifier: string }) {
    return publicResourceServer(await requireResourceServer(runtime.db, input.identifier));
  },
  async 'iat.list'({ runtime }: ServiceContext, input?: PageInput) {
    return pageOf('initial_access_tokens', await listInitialAccessTokensPage(runtime.db, pageRequest(input)), publicInitialAccessToken);
  },
  async 'iat.delete'({ runtime }: ServiceContext, input: { id: string }) {
    await withdrawInitialAccessToken(runtime.db, input.id);
    return { id: input.id, deleted: true };
  },
  /** `since` (inclusive) and `until` (exclusive) are ISO 8601 date-times; `actor` a client or user id. */
  async 'audit.list'({ runtime }: ServiceContext, input?: { since?: string | undefined; until?: string | undefined; actor?: string | undefined; type?: string | undefined } & PageInput) {
    const since = instant('since', input?.since);
    const until = instant('until', input?.until);
    if (since && until && since >= until) throw new ValidationError('since must be before until');
    const filter = { since, until, actor: input?.actor, type: input?.type };
    return pageOf('events', await listAuditPage(runtime.db, filter, pageRequest(input)), publicAuditEvent);
  },
  async 'admin.bootstrap'({ runtime, config }: ServiceContext, input?: { force?: boolean | undefined }) {
    const client = await bootstrapAdminClient(runtime.db, runtime.box, config.issuer, { force: input?.force });
    return {
      client_id: client.client_id,
      client_secret: client.client_secret!,
      scope: String(client.scope),
      audience: adminAudience(config.issuer),
      token_endpoint: `${config.issuer}/token`,
    };
  },
} as const;
