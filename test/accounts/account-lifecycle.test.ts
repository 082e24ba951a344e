import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import argon2 from 'argon2';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession } from '../helpers/browser-session.ts';
import { authorize, createClient, createUser, discover, exchange } from '../helpers/oauth.ts';
import { startRelyingParty, type RelyingParty } from '../helpers/relying-party.ts';
import { runOperation } from '../../src/services/operations.ts';
import { listAuditEvents } from '../../src/store/audit.ts';

let server: TestServer;
let rp: RelyingParty;

beforeAll(async () => {
  server = await startTestServer();
  rp = await startRelyingParty();
});
afterAll(async () => {
  await server?.stop();
  await rp?.close();
});

async function signIn(username: string, options: { scope?: string; extra?: Record<string, string>; backchannel?: boolean } = {}) {
  const client = await createClient(server, {
    name: 'Lifecycle App',
    scope: 'openid profile email offline_access roles',
    ...(options.backchannel ? { backchannelLogoutUri: `${rp.url}/backchannel` } : {}),
  });
  const config = await discover(server, client);
  const session = new BrowserSession(server.issuer);
  const tokens = await exchange(config, await authorize(server, config, session, { username, scope: options.scope, extra: options.extra }));
  return { client, config, session, tokens };
}

describe('disabling an account', () => {
  it('revokes its tokens, ends its sessions with back-channel logout, and refuses its sign-in', async () => {
    await createUser(server, 'dora');
    const { config, session, tokens, client } = await signIn('dora', { backchannel: true });
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(true);

    const result = await runOperation(server.operations, 'user.disable', { user: 'dora' });
    expect(result).toMatchObject({ disabled: true, sessions_ended: 1, logout_notifications: 1 });

    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
    expect((await oidc.tokenIntrospection(config, tokens.refresh_token!)).active).toBe(false);
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });

    const [logoutToken] = await rp.waitForLogoutTokens(1);
    const { payload } = await jwtVerify(logoutToken!, createRemoteJWKSet(new URL(`${server.issuer}/jwks`)), { issuer: server.issuer, audience: client.client_id });
    expect(payload.sub).toBe(tokens.claims()!.sub);
    expect(payload.sid).toBeTruthy();
    expect(payload.events).toHaveProperty(['http://schemas.openid.net/event/backchannel-logout']);

    // The old browser session is gone: the next request asks for a password, and the password is refused.
    await expect(authorize(server, config, session, { username: 'dora' })).rejects.toThrow();
    await runOperation(server.operations, 'user.enable', { user: 'dora' });
    const again = await signIn('dora');
    expect(again.tokens.access_token).toBeTruthy();
  });
});

describe('changing a password', () => {
  it('revokes existing grants and lets the new password sign in', async () => {
    await createUser(server, 'pavel', 'old password 123');
    const { config, tokens } = await signInWith('pavel', 'old password 123');
    await runOperation(server.operations, 'user.set-password', { user: 'pavel', password: 'new password 456' });
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
    await expect(signInWith('pavel', 'old password 123')).rejects.toThrow();
    expect((await signInWith('pavel', 'new password 456')).tokens.access_token).toBeTruthy();
  });
});

async function signInWith(username: string, password: string) {
  const client = await createClient(server, { name: 'Password App' });
  const config = await discover(server, client);
  const tokens = await exchange(config, await authorize(server, config, new BrowserSession(server.issuer), { username, password }));
  return { config, tokens };
}

describe('roles', () => {
  it('puts roles and groups into the ID token and the JWT access token when the roles scope is granted', async () => {
    await createUser(server, 'rita');
    await runOperation(server.operations, 'user.add-role', { user: 'rita', roles: ['billing:admin', 'staff'] });
    const client = await createClient(server, { name: 'Roles App', scope: 'openid roles invoices:read' });
    const config = await discover(server, client);
    const tokens = await exchange(
      config,
      await authorize(server, config, new BrowserSession(server.issuer), { username: 'rita', scope: 'openid roles invoices:read', extra: { resource: server.config.defaultAudience } }),
    );
    expect(tokens.claims()).toMatchObject({ roles: ['billing:admin', 'staff'], groups: [] });
    expect(decodeJwt(tokens.access_token)).toMatchObject({ roles: ['billing:admin', 'staff'], aud: server.config.defaultAudience });

    const removed = await runOperation(server.operations, 'user.remove-role', { user: 'rita', roles: ['staff'] });
    expect(removed.roles).toEqual(['billing:admin']);
  });

  it('leaves roles out when the roles scope was not asked for', async () => {
    await createUser(server, 'ravi');
    await runOperation(server.operations, 'user.add-role', { user: 'ravi', roles: ['staff'] });
    const { tokens } = await signIn('ravi', { scope: 'openid profile' });
    expect(tokens.claims()!.roles).toBeUndefined();
  });
});

describe('password hashing', () => {
  it('re-hashes an older-parameter hash with the current argon2id parameters at sign-in', async () => {
    const user = await createUser(server, 'olga', 'legacy password 1');
    const weak = await argon2.hash('legacy password 1', { type: argon2.argon2id, memoryCost: 8192, timeCost: 1, parallelism: 1 });
    await server.runtime.db('accounts').where('id', user.id).update({ password_hash: weak });
    await signInWith('olga', 'legacy password 1');
    const { password_hash: hash } = await server.runtime.db('accounts').where('id', user.id).first('password_hash');
    expect(hash).not.toBe(weak);
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
  });
});

describe('audit trail', () => {
  it('records sign-ins, consent and account changes without any password', async () => {
    const events = await listAuditEvents(server.runtime.db, { limit: 500 });
    const types = new Set(events.map((e) => e.type));
    for (const t of ['login.success', 'consent.granted', 'user.disabled', 'user.enabled', 'user.password_changed', 'user.roles_changed']) expect(types).toContain(t);
    const dump = JSON.stringify(events);
    for (const secret of ['correct horse battery', 'old password 123', 'new password 456', 'legacy password 1']) expect(dump).not.toContain(secret);
    const success = events.find((e) => e.type === 'login.success')!;
    expect(success.ip).toBeTruthy();
    expect(success.clientId).toBeTruthy();
  });
});
