// The service layer's one table of named use cases: the CLI (directly, or through the embedded server's
// control socket, src/control-socket.ts), the admin API (http/admin/routes) and the tests call these, so
// every path runs the same rules. Each is a plain function of the ServiceContext (context.ts) and an input;
// areas with many use cases live in their own files (management.ts, upstreams.ts) and are merged here.
import { Conflict, ValidationError } from '../errors.ts';
import { bearerHash } from '../store/bearer-hash.ts';
import { insertInitialAccessTokenRules } from '../store/initial-access-tokens.ts';
import { IAT_POLICY } from '../domain/initial-access-tokens.ts';
import { migrateToLatest } from '../store/db.ts';
import type { ServiceContext } from './context.ts';
import {
  changeRoles,
  createAccount,
  disableAccount,
  enableAccount,
  endSessions,
  publicAccount,
  requireAccount,
  setPassword,
  type NewAccount,
} from '../domain/accounts.ts';
import { createClient, disableClient, enableClient, type NewClient } from '../domain/clients.ts';
import { revocationWindow } from '../domain/grants-and-sessions.ts';
import {
  createResourceServer,
  publicResourceServer,
  removeResourceServer,
  updateResource,
  type ResourceServerInput,
} from '../domain/resource-servers.ts';
import { managementOperations } from './management.ts';
import { noticeAccountChange } from './account-notices.ts';
import { retireEmailTokens } from '../store/email-tokens.ts';
import { upstreamOperations } from './upstreams.ts';
import { mfaOperations } from './mfa.ts';
import { rotateClientSecret } from '../domain/client-secrets.ts';
import { localChecks } from './diagnostics.ts';
import { adminAudience } from '../domain/admin-scopes.ts';
import { feedAudience, privilegedScopes } from '../domain/scope-privileges.ts';
import { listKeyStatus, retireKey, rotateKeys, rotationPolicy, type RotationMode } from '../domain/keys.ts';
import type { KeyPurpose } from '../store/keys.ts';

export type { ServiceContext };

const revocationWindowOf = (ctx: ServiceContext) => revocationWindow(ctx.runtime.db, ctx.config.ttl.accessToken);

export const operations = {
  async migrate({ runtime }: ServiceContext) {
    return { applied: await migrateToLatest(runtime.db) };
  },
  // Lists, reads, changes and removals (users, clients, resource servers, grants, sessions, registration
  // tokens, audit events) and `admin.bootstrap`.
  ...managementOperations,
  ...upstreamOperations,
  ...mfaOperations,
  async 'user.create'({ runtime }: ServiceContext, input: NewAccount) {
    return publicAccount(await createAccount(runtime.db, runtime.hasher, input));
  },
  async 'user.show'({ runtime }: ServiceContext, input: { user: string }) {
    return publicAccount(await requireAccount(runtime.db, input.user));
  },
  async 'user.disable'(ctx: ServiceContext, input: { user: string }) {
    const { account, endedSessions } = await disableAccount(ctx.runtime.db, input.user, await revocationWindowOf(ctx));
    return { ...publicAccount(account), sessions_ended: endedSessions.length, logout_notifications: await ctx.notifyLogout(endedSessions) };
  },
  async 'user.end-sessions'(ctx: ServiceContext, input: { user: string }) {
    const { account, endedSessions } = await endSessions(ctx.runtime.db, input.user);
    return { ...publicAccount(account), sessions_ended: endedSessions.length, logout_notifications: await ctx.notifyLogout(endedSessions) };
  },
  async 'user.enable'({ runtime }: ServiceContext, input: { user: string }) {
    return publicAccount(await enableAccount(runtime.db, input.user));
  },
  async 'user.set-password'(ctx: ServiceContext, input: { user: string; password: string }) {
    const { account, endedSessions } = await setPassword(ctx.runtime.db, ctx.runtime.hasher, input.user, input.password, await revocationWindowOf(ctx));
    // A reset link still in someone's mailbox no longer overrides the password an operator just set.
    await retireEmailTokens(ctx.runtime.db, account.id, 'password_reset', ctx.runtime.clock.now());
    noticeAccountChange(ctx, account.id, 'password_changed');
    return { ...publicAccount(account), sessions_ended: endedSessions.length, logout_notifications: await ctx.notifyLogout(endedSessions) };
  },
  async 'user.add-role'({ runtime }: ServiceContext, input: { user: string; roles: string[] }) {
    return publicAccount(await changeRoles(runtime.db, input.user, { add: input.roles }));
  },
  async 'user.remove-role'({ runtime }: ServiceContext, input: { user: string; roles: string[] }) {
    return publicAccount(await changeRoles(runtime.db, input.user, { remove: input.roles }));
  },
  async 'client.create'({ runtime }: ServiceContext, input: NewClient) {
    return createClient(runtime.db, runtime.box, input);
  },
  async 'client.disable'(ctx: ServiceContext, input: { clientId: string }) {
    await disableClient(ctx.runtime.db, input.clientId, await revocationWindowOf(ctx));
    ctx.changed?.('client', input.clientId);
    return { client_id: input.clientId, disabled: true };
  },
  async 'client.enable'(ctx: ServiceContext, input: { clientId: string }) {
    await enableClient(ctx.runtime.db, input.clientId);
    ctx.changed?.('client', input.clientId);
    return { client_id: input.clientId, disabled: false };
  },
  async 'iat.create'(ctx: ServiceContext, input: { expiresIn?: number; maxUses?: number; scopes?: string[]; grantTypes?: string[] }) {
    if (ctx.config.registrationPolicy !== 'initial-access-token') {
      throw new ValidationError(`REGISTRATION_POLICY is ${ctx.config.registrationPolicy}: initial access tokens are not used`);
    }
    if (input.expiresIn !== undefined && (!Number.isInteger(input.expiresIn) || input.expiresIn < 60)) throw new ValidationError('expires-in must be at least 60 seconds');
    if (input.maxUses !== undefined && (!Number.isInteger(input.maxUses) || input.maxUses < 1)) throw new ValidationError('max-uses must be a positive whole number');
    // Registration never confers Tessera's own privileges (oidc/registrant-metadata.ts): a token allowing them is a mistake.
    const privileged = privilegedScopes(input.scopes ?? []);
    if (privileged.length) throw new ValidationError(`scope ${privileged.join(' ')} cannot be obtained by registration`);
    const provider = await ctx.provider();
    const value = await new provider.InitialAccessToken({ expiresIn: input.expiresIn, policies: [IAT_POLICY] }).save();
    const expiresAt = input.expiresIn ? new Date(Date.now() + input.expiresIn * 1000) : null;
    await insertInitialAccessTokenRules(ctx.runtime.db, {
      idHash: bearerHash(value),
      maxUses: input.maxUses ?? null,
      allowedScopes: input.scopes?.length ? input.scopes : null,
      allowedGrantTypes: input.grantTypes?.length ? input.grantTypes : null,
      expiresAt,
    });
    return {
      initial_access_token: value,
      // What lists and deletes it (the value itself is never stored).
      id: bearerHash(value),
      expires_at: expiresAt ? Math.floor(expiresAt.getTime() / 1000) : null,
      max_uses: input.maxUses ?? null,
      allowed_scopes: input.scopes ?? null,
      allowed_grant_types: input.grantTypes ?? null,
    };
  },
  async 'resource.create'(ctx: ServiceContext, input: ResourceServerInput) {
    const { runtime, config } = ctx;
    // Audiences Tessera serves itself: an API registered under one would get an introspection client for it.
    if ([adminAudience(config.issuer), feedAudience(config.issuer)].includes(input.identifier)) {
      throw new Conflict(`"${input.identifier}" is reserved for Tessera's own ${input.identifier.endsWith('/admin') ? 'admin API' : 'revocation feed'}`);
    }
    const { resource, introspectionClient } = await createResourceServer(runtime.db, runtime.box, input);
    ctx.changed?.('resource', resource.identifier);
    return { ...publicResourceServer(resource), introspection_client: { client_id: introspectionClient.client_id, client_secret: introspectionClient.client_secret! } };
  },
  async 'resource.update'(ctx: ServiceContext, input: ResourceServerInput) {
    const updated = publicResourceServer(await updateResource(ctx.runtime.db, input));
    ctx.changed?.('resource', input.identifier);
    return updated;
  },
  async 'resource.delete'(ctx: ServiceContext, input: { identifier: string }) {
    const { introspectionClientIds } = await removeResourceServer(ctx.runtime.db, input.identifier);
    for (const clientId of introspectionClientIds) {
      await disableClient(ctx.runtime.db, clientId, await revocationWindowOf(ctx), { remove: true });
      ctx.changed?.('client', clientId);
    }
    ctx.changed?.('resource', input.identifier);
    return { identifier: input.identifier, deleted: true };
  },
  async 'client.rotate-secret'(ctx: ServiceContext, input: { clientId: string; graceSeconds?: number | undefined }) {
    const rotated = await rotateClientSecret(ctx.runtime.db, ctx.runtime.box, input.clientId, input.graceSeconds ?? ctx.config.clientSecretGraceSeconds);
    ctx.changed?.('client', input.clientId);
    return rotated;
  },
  /** The database-side checks of `tessera doctor`, run by the serving process in embedded mode. */
  async doctor({ runtime, config }: ServiceContext) {
    return { checks: await localChecks(config, runtime.db, runtime.box) };
  },
  async 'keys.list'({ runtime }: ServiceContext) {
    return { keys: await listKeyStatus(runtime.db) };
  },
  async 'keys.rotate'(ctx: ServiceContext, input: { mode?: RotationMode | undefined; alg?: string | undefined; purpose?: KeyPurpose | undefined; actor?: string | undefined }) {
    const mode = input.mode ?? 'scheduled';
    if (!['scheduled', 'now', 'emergency'].includes(mode)) throw new ValidationError('mode must be scheduled, now or emergency');
    if (input.purpose !== undefined && input.purpose !== 'signing' && input.purpose !== 'cookie') throw new ValidationError('purpose must be signing or cookie');
    const changes = await rotateKeys(ctx.runtime.db, ctx.runtime.box, await rotationPolicy(ctx.runtime.db, ctx.config), { ...input, mode }, ctx.runtime.clock.now());
    await ctx.keysChanged?.();
    return { changes, keys: await listKeyStatus(ctx.runtime.db) };
  },
  async 'keys.retire'(ctx: ServiceContext, input: { kid: string; immediately?: boolean | undefined; actor?: string | undefined }) {
    const changes = await retireKey(ctx.runtime.db, ctx.runtime.box, await rotationPolicy(ctx.runtime.db, ctx.config), input, ctx.runtime.clock.now());
    await ctx.keysChanged?.();
    return { changes, keys: await listKeyStatus(ctx.runtime.db) };
  },
} as const;

export type OperationName = keyof typeof operations;
export type OperationInput<N extends OperationName> = Parameters<(typeof operations)[N]>[1];
export type OperationResult<N extends OperationName> = Awaited<ReturnType<(typeof operations)[N]>>;

export function isOperationName(name: string): name is OperationName {
  return Object.hasOwn(operations, name);
}

export function runOperation<N extends OperationName>(ctx: ServiceContext, name: N, input: OperationInput<N>): Promise<OperationResult<N>> {
  const run = operations[name] as (ctx: ServiceContext, input: OperationInput<N>) => Promise<OperationResult<N>>;
  return run(ctx, input);
}
