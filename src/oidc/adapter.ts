// oidc-provider's storage hook: the seven adapter methods, for every model the engine persists.
// See oidc-provider docs "adapter". Clients map to the clients table (secret unsealed here, never stored
// in clear); everything else goes through store/engine-records.ts.
import Provider, { errors } from 'oidc-provider';
import type { Db } from '../store/db.ts';
import { createEngineRecordStore, createTokenLookups, type Payload, type RotationWrite } from '../store/engine-records.ts';
import { deleteClient, findClientById, upsertClient } from '../store/clients.ts';
import { revokeGrants } from '../store/revocations.ts';
import type { UnitOfWork } from '../store/unit-of-work.ts';
import { revocationCoverUntil } from '../store/resource-servers.ts';
import { ACCOUNT_CLIENT_ID, checkClientMetadata, clientSecretContext } from '../domain/clients.ts';
import type { SecretBox } from '../domain/secret-box.ts';
import { RESOURCE_SCOPES_PROPERTY, splitRegisteredScope } from './scopes.ts';
import type { JwtAccessTokens } from './jwt-access-tokens.ts';
import type { EngineCaches } from './engine-caches.ts';
import { guardDatabase, unavailable } from './database-errors.ts';
import { isUniqueViolation } from '../problem.ts';
import { insertAuditEvent } from '../store/audit.ts';
import { FIRST_PARTY_PROPERTY } from './consent.ts';
import { isLoopbackHostname, isLoopbackIpRedirect } from '../domain/wire-syntax.ts';
import { noticeChange } from '../store/change-notices.ts';
import { INTROSPECTS_PROPERTY } from '../domain/resource-servers.ts';
import { DEFAULT_RESOURCE_PROPERTY } from './resources.ts';
import { openDeviceCodes, openFoundByUserCode, sealDeviceCodes } from './device-code-storage.ts';
import { EXCHANGE_AUDIENCES_PROPERTY, IMPERSONATION_PROPERTY } from '../domain/token-exchange.ts';
import { REQUIRE_MFA_PROPERTY } from '../domain/second-factor-policy.ts';

/** Client properties only operators set; the engine's writes (registration) never change them. */
const OPERATOR_PROPERTIES = [FIRST_PARTY_PROPERTY, INTROSPECTS_PROPERTY, DEFAULT_RESOURCE_PROPERTY, EXCHANGE_AUDIENCES_PROPERTY, IMPERSONATION_PROPERTY, REQUIRE_MFA_PROPERTY];

export interface AdapterDeps {
  db: Db;
  box: SecretBox;
  jwtAccessTokens: JwtAccessTokens;
  /** The global access-token lifetime (resource servers may set longer ones; see revocationCoverUntil). */
  accessTokenTtlSeconds: number;
  /** Seconds a rotated refresh token may be presented again (store/engine-records.ts). */
  refreshReuseGraceSeconds: number;
  /** Clients are read on every token request; see short-lived-cache.ts for the staleness bound. */
  clients: EngineCaches['clients'];
  /** Grants, dropped on every change by notice (store/change-notices.ts). */
  grants: EngineCaches['grants'];
  /** Refresh-token exchanges run in one transaction each (oidc/unit-of-work.ts); `db` is its stand-in. */
  unitOfWork: UnitOfWork;
  /** Device flow (oidc/device-flow.ts): user-code lookups go through its throttle … */
  userCodeLookup?: (userCode: string, lookup: () => Promise<Payload | undefined>) => Promise<Payload | undefined>;
  /** … and a device code read at the token endpoint is a poll, answered slow_down when too early. */
  devicePolled?: (deviceCode: string) => Promise<void>;
}

type EngineContext = { oidc?: { route?: string; params?: { grant_type?: unknown } } } | undefined;

/** Whether the engine is handling a refresh_token grant at the token endpoint (its context, via AsyncLocalStorage). */
function inRefreshExchange(): boolean {
  const ctx = Provider.ctx as EngineContext;
  return ctx?.oidc?.route === 'token' && ctx.oidc.params?.grant_type === 'refresh_token';
}

/** Whether the engine is answering the token endpoint (a device code read there is a device polling). */
function inTokenRequest(): boolean {
  return (Provider.ctx as EngineContext)?.oidc?.route === 'token';
}

/** Whether the engine is answering the revocation endpoint (RFC 7009). */
function inRevocationRequest(): boolean {
  return (Provider.ctx as EngineContext)?.oidc?.route === 'revocation';
}

/** Every model but these is stored in the tokens table (store/engine-records.ts). */
const OUTSIDE_TOKENS_TABLE = new Set(['Session', 'Grant', 'Interaction', 'Client']);
const isTokenModel = (model: string) => !OUTSIDE_TOKENS_TABLE.has(model);

export function createAdapterClass(deps: AdapterDeps) {
  const { db, box, clients, unitOfWork } = deps;
  const tokenLookups = createTokenLookups(db);

  /** A grant revoked as a replay revokes it (RFC 9700 §4.14.2): its tokens, and the JWTs it may have issued. */
  const revokeReplayedGrant = async (writer: Db, grantId: string, deleteGrant: boolean) =>
    revokeGrants(writer, [grantId], { reason: 'grant_revoked', coverUntil: await revocationCoverUntil(writer, deps.accessTokenTtlSeconds), deleteGrants: deleteGrant });

  /**
   * A grant to revoke from inside a refresh exchange's transaction (a replayed refresh token): the engine
   * asks once per token model and once more to delete the grant, in parallel; here that becomes one
   * revocation, made just before COMMIT under the grant's lock (held since the token was read).
   */
  const pendingRevocations = new WeakMap<Db, Map<string, { deleteGrant: boolean }>>();
  function revokeInUnit(grantId: string, deleteGrant: boolean): boolean {
    const unit = unitOfWork.open();
    if (!unit) return false;
    let pending = pendingRevocations.get(unit.trx);
    if (!pending) pendingRevocations.set(unit.trx, (pending = new Map()));
    const known = pending.get(grantId);
    if (known) {
      known.deleteGrant ||= deleteGrant;
      return true;
    }
    const entry = { deleteGrant };
    pending.set(grantId, entry);
    unit.beforeCommit(`revoke-grant:${grantId}`, (trx) => revokeReplayedGrant(trx, grantId, entry.deleteGrant));
    // The revocation dropped the cached grant before COMMIT; drop a copy read since.
    unit.afterCommit(() => deps.grants.delete(grantId));
    return true;
  }

  /**
   * A refresh exchange's own writes — consuming the old refresh token, storing its successor and the opaque
   * access token — are held until the request's unit finishes and made in one statement (records.rotate),
   * only for a successful answer and only if the token is still spendable then. Nothing in the exchange
   * reads these rows back. A request that finds the token spent by then is a replay: the grant is revoked
   * and the request refused (oidc/unit-of-work.ts answers the InvalidGrant thrown here).
   */
  const refreshRecords = createEngineRecordStore(db, 'RefreshToken', tokenLookups, { refreshReuseGraceSeconds: deps.refreshReuseGraceSeconds });
  const pendingRotations = new WeakMap<object, { consumed: string | undefined; grantId: string | null; writes: RotationWrite[] }>();
  function rotationInUnit(): { consumed: string | undefined; grantId: string | null; writes: RotationWrite[] } | undefined {
    if (!inRefreshExchange()) return undefined;
    const ctx = Provider.ctx as object | undefined;
    const unit = unitOfWork.deferred();
    if (!ctx || !unit) return undefined;
    let pending = pendingRotations.get(ctx);
    if (!pending) {
      const created = { consumed: undefined as string | undefined, grantId: null as string | null, writes: [] as RotationWrite[] };
      pendingRotations.set(ctx, (pending = created));
      unit.beforeCommit('rotation', async (writer, outcome) => {
        if (!outcome.succeeded) return;
        if (await refreshRecords.rotate(created.consumed, created.grantId, created.writes)) return;
        if (created.grantId) {
          await revokeReplayedGrant(writer, created.grantId, true);
          deps.grants.delete(created.grantId);
        }
        throw Object.assign(new errors.InvalidGrant('refresh token already used'), { revokedGrantId: created.grantId });
      });
    }
    return pending;
  }

  async function loadClient(id: string): Promise<Payload | undefined> {
    const row = await findClientById(db, id);
    if (!row || row.disabled) return undefined;
    const { oidc, resource } = splitRegisteredScope(row.metadata.scope);
    const metadata: Payload = { ...row.metadata, scope: oidc, [RESOURCE_SCOPES_PROPERTY]: resource };
    // A public client never holds client_credentials (RFC 6749 §4.4): checkClientMetadata refuses it on every
    // write, and a row stored before that rule existed is served without it, so the token endpoint refuses.
    if (metadata.token_endpoint_auth_method === 'none' && Array.isArray(metadata.grant_types)) {
      metadata.grant_types = (metadata.grant_types as string[]).filter((g) => g !== 'client_credentials');
    }
    if (row.secretSealed) metadata.client_secret = box.open(row.secretSealed, clientSecretContext(id));
    // RFC 8252 §7.3: a public client registered with a loopback IP redirect URI is a native app, which the
    // engine lets use any port there (and, §8.6, never signs in without the person's interaction: another
    // app on the device could be listening on that port). Only when every loopback redirect URI it has is
    // such an http IP literal: the engine would give `localhost` the same latitude (§8.3 advises against
    // it), and https on loopback is not valid for native apps. Confidential clients keep exact matching.
    const redirects = Array.isArray(metadata.redirect_uris) ? (metadata.redirect_uris as string[]) : [];
    const onLoopback = redirects.filter((u) => isLoopbackHostname(URL.parse(u)?.hostname ?? ''));
    // The account page's own client redirects to the issuer itself, which may be on loopback in development.
    const isPublic = metadata.token_endpoint_auth_method === 'none' && id !== ACCOUNT_CLIENT_ID;
    if (isPublic && metadata.application_type === undefined && onLoopback.length > 0 && onLoopback.every(isLoopbackIpRedirect)) metadata.application_type = 'native';
    return metadata;
  }

  class PostgresAdapter {
    readonly model: string;
    readonly records: ReturnType<typeof createEngineRecordStore>;

    constructor(model: string) {
      this.model = model;
      this.records = createEngineRecordStore(db, model, tokenLookups, { refreshReuseGraceSeconds: deps.refreshReuseGraceSeconds });
    }

    async upsert(id: string, payload: Payload, expiresIn?: number): Promise<void> {
      if (this.model === 'Client') {
        const { client_secret: secret, [RESOURCE_SCOPES_PROPERTY]: resourceScope, ...metadata } = payload;
        metadata.scope = [metadata.scope, resourceScope].filter(Boolean).join(' ') || undefined;
        // Dynamic registration and RFC 7592 updates arrive here: the same rules as every other path.
        const problem = checkClientMetadata(metadata);
        // The engine answers invalid_redirect_uri for descriptions that start with "redirect_uris".
        if (problem) throw new errors.InvalidClientMetadata(problem.code === 'invalid_redirect_uri' ? `redirect_uris: ${problem.description}` : problem.description);
        await db.transaction(async (trx) => {
          const existing = await findClientById(trx, id);
          // Operator-owned properties are never the registrant's to set (registrant-metadata.ts) nor to drop:
          // an RFC 7592 update replaces the registration metadata and keeps them as the operator left them.
          for (const property of OPERATOR_PROPERTIES) {
            delete metadata[property];
            if (existing?.metadata[property] !== undefined) metadata[property] = existing.metadata[property];
          }
          await upsertClient(trx, { id, metadata, secretSealed: typeof secret === 'string' ? box.seal(secret, clientSecretContext(id)) : null });
          await insertAuditEvent(trx, {
            type: existing ? 'client.updated' : 'client.created',
            clientId: id,
            details: { client_name: metadata.client_name, via: 'registration' },
          });
        });
        clients.delete(id);
        return;
      }
      const rotation = this.model === 'RefreshToken' || this.model === 'AccessToken' ? rotationInUnit() : undefined;
      if (rotation) {
        rotation.grantId ??= typeof payload.grantId === 'string' ? payload.grantId : null;
        // A token saved twice in one exchange is written once, as last saved (one statement cannot insert it twice).
        const write = { model: this.model, id, payload: structuredClone(payload), expiresInSeconds: expiresIn };
        const earlier = rotation.writes.findIndex((w) => w.id === id);
        if (earlier >= 0) rotation.writes[earlier] = write;
        else rotation.writes.push(write);
        return;
      }
      try {
        await this.records.upsert(id, sealDeviceCodes(box, this.model, id, payload), expiresIn);
      } catch (error) {
        // The engine draws user codes at random (20^8 of them); one equal to a stored code is refused by the
        // unique index. The device asks again (503 + Retry-After) and gets another code, instead of a 500.
        if (this.model === 'DeviceCode' && isUniqueViolation(error)) throw unavailable(error);
        throw error;
      }
      // A grant changed (consent given again): every process drops its cached copy.
      if (this.model === 'Grant') await noticeChange(db, { kind: 'grant', id });
    }

    async find(id: string): Promise<Payload | undefined> {
      if (this.model === 'Client') return clients.get(id, () => loadClient(id));
      if (this.model === 'RefreshToken' && inRefreshExchange()) return this.findForExchange(id);
      if (deps.jwtAccessTokens.isHandle(id)) return deps.jwtAccessTokens.find(this.model, id);
      if (this.model === 'Grant') {
        // Read on every refresh and opaque introspection; a copy each time, as the engine may change it.
        const grant = await deps.grants.get(id, () => this.records.find(id));
        return grant ? structuredClone(grant) : undefined;
      }
      const found = openDeviceCodes(box, this.model, id, await this.records.find(id));
      if (found && this.model === 'DeviceCode' && inTokenRequest()) await deps.devicePolled?.(id);
      return found;
    }

    /**
     * The refresh token of a refresh_token grant (oidc/unit-of-work.ts): read on the pool when it may be
     * spent (its rotation is decided atomically at the end); when it is already spent — a replay — read
     * again in the exchange's transaction under the grant's lock, where the revocation that follows commits.
     */
    async findForExchange(id: string): Promise<Payload | undefined> {
      const found = await this.records.findRotatable(id);
      if (!found || found.spendable) return found?.payload;
      const opening = unitOfWork.begin();
      if (!opening) return found.payload;
      await opening;
      return this.records.findForRotation(id);
    }

    async findByUid(uid: string): Promise<Payload | undefined> {
      return this.records.findByUid(uid);
    }

    async findByUserCode(userCode: string): Promise<Payload | undefined> {
      const lookup = async () => openFoundByUserCode(box, userCode, await this.records.findByUserCode(userCode));
      return deps.userCodeLookup ? deps.userCodeLookup(userCode, lookup) : lookup();
    }

    async destroy(id: string): Promise<void> {
      if (this.model === 'Client') {
        // Only RFC 7592 deletion reaches here (operators delete through domain/clients.ts).
        await db.transaction(async (trx) => {
          if (await deleteClient(trx, id)) await insertAuditEvent(trx, { type: 'client.deleted', clientId: id, details: { via: 'registration' } });
        });
        clients.delete(id);
        return;
      }
      // Inside a refresh exchange or a revocation request the grant is deleted with its revocation (revokeInUnit).
      if (this.model === 'Grant' && revokeInUnit(id, true)) return;
      // RFC 7009 revocation: the token is deleted and then (a refresh token) its grant revoked, in one
      // transaction opened here with the grant's lock, so a failure answered 503 has changed nothing.
      const opening = isTokenModel(this.model) && inRevocationRequest() ? unitOfWork.begin() : undefined;
      if (opening) {
        await opening;
        await this.records.lockGrantOf(id);
      }
      const deleted = await this.records.destroy(id);
      if (this.model === 'Grant') await noticeChange(db, { kind: 'grant', id });
      // Not stored: a JWT access token being revoked (RFC 7009) — remember its jti until it expires.
      if (!deleted && (this.model === 'AccessToken' || this.model === 'ClientCredentials')) await deps.jwtAccessTokens.revoke(id);
    }

    /**
     * Atomic: a conditional update whose loser is refused. The engine checks `consumed` before calling this,
     * but parallel requests can all pass that check; the loser is treated as a replay (RFC 6749 §4.1.2,
     * RFC 9700 §4.14.2): the grant is revoked and the request refused with invalid_grant, never a 5xx.
     */
    async consume(id: string): Promise<void> {
      const rotation = this.model === 'RefreshToken' ? rotationInUnit() : undefined;
      if (rotation) return void (rotation.consumed = id);
      const result = await this.records.consume(id);
      if (result.ok) return;
      if (result.grantId) await this.revokeByGrantId(result.grantId);
      throw new errors.InvalidGrant(`${this.model === 'RefreshToken' ? 'refresh token' : 'grant'} already used`);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      if (revokeInUnit(grantId, false)) return;
      await revokeReplayedGrant(db, grantId, false);
    }
  }

  // A database outage becomes 503 temporarily_unavailable at every endpoint, not the engine's 500.
  const methods = ['upsert', 'find', 'findByUid', 'findByUserCode', 'destroy', 'consume', 'revokeByGrantId'] as const;
  for (const name of methods) {
    const prototype = PostgresAdapter.prototype as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    prototype[name] = guardDatabase(prototype[name]!);
  }
  return PostgresAdapter;
}
