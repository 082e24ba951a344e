// Users through the admin API: the whole lifecycle, with the effects the CLI's commands have (sessions
// ended with back-channel logout, grants revoked) — checked against real sign-ins and tokens.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession } from '../helpers/browser-session.ts';
import { authorize, createClient, discover, exchange } from '../helpers/oauth.ts';
import { startRelyingParty, type RelyingParty } from '../helpers/relying-party.ts';
import { adminSession, type Api } from './helpers.ts';

let server: TestServer;
let rp: RelyingParty;
let api: Api;

beforeAll(async () => {
  server = await startTestServer();
  rp = await startRelyingParty();
  api = (await adminSession(server)).api;
});
afterAll(async () => {
  await server?.stop();
  await rp?.close();
});

const PASSWORD = 'correct horse battery';

async function signIn(username: string, password = PASSWORD) {
  const client = await createClient(server, { name: 'App', scope: 'openid offline_access', backchannelLogoutUri: `${rp.url}/backchannel` });
  const config = await discover(server, client);
  const session = new BrowserSession(server.issuer);
  const tokens = await exchange(config, await authorize(server, config, session, { username, password, scope: 'openid offline_access' }));
  return { config, session, tokens };
}

describe('creating and reading users', () => {
  it('creates a user (201), never shows a password hash, and reads it by id or username', async () => {
    const res = await api.post('/users', { username: 'alice', password: PASSWORD, email: 'alice@example.test', name: 'Alice Example' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ username: 'alice', email: 'alice@example.test', name: 'Alice Example', disabled: false, roles: [] });
    expect(JSON.stringify(res.body)).not.toMatch(/argon2|password/);
    expect((await api.get(`/users/${res.body.id}`)).body).toEqual(res.body);
    expect((await api.get('/users/ALICE')).body).toEqual(res.body);
    expect((await signIn('alice')).tokens.access_token).toBeTruthy();
  });

  it('refuses a taken username with 409, and a bad one or a short password with 422', async () => {
    const taken = await api.post('/users', { username: 'Alice', password: PASSWORD });
    expect(taken.status).toBe(409);
    expect(taken.body).toMatchObject({ error: 'conflict', details: [] });
    expect(taken.body.error_description).toMatch(/already taken/);
    expect((await api.post('/users', { username: '-bad', password: PASSWORD })).status).toBe(422);
    const short = await api.post('/users', { username: 'shorty', password: 'short' });
    expect(short.status).toBe(422);
    expect(short.body.error_description).toMatch(/8/);
  });

  it('answers 404 for an unknown user', async () => {
    for (const [method, path] of [['GET', '/users/nobody'], ['DELETE', '/users/nobody'], ['POST', '/users/nobody/disable'], ['GET', '/users/nobody/sessions']] as const) {
      const res = await api.request(method, path);
      expect(res.status, `${method} ${path}`).toBe(404);
    }
  });
});

describe('changing users', () => {
  it('changes username, email and name; null clears; a taken username is 409', async () => {
    await api.post('/users', { username: 'bruno', password: PASSWORD, email: 'bruno@example.test', name: 'Bruno' });
    const res = await api.patch('/users/bruno', { username: 'bruno2', email: 'b2@example.test', name: null, email_verified: true });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ username: 'bruno2', email: 'b2@example.test', name: null, email_verified: true });
    expect((await api.get('/users/bruno')).status).toBe(404);
    const clash = await api.patch('/users/bruno2', { username: 'alice' });
    expect(clash.status).toBe(409);
    expect((await api.patch('/users/bruno2', { email: 'not an email' })).status).toBe(422);
    expect((await signIn('bruno2')).tokens.access_token).toBeTruthy();
    // A new address alone is not verified (its owner has not used a link); the same address keeps its state.
    expect((await api.patch('/users/bruno2', { email: 'b2@example.test', name: 'Bruno' })).body.email_verified).toBe(true);
    expect((await api.patch('/users/bruno2', { email: 'b3@example.test' })).body).toMatchObject({ email: 'b3@example.test', email_verified: false });
  });

  it('adds and removes roles', async () => {
    await api.post('/users', { username: 'carla', password: PASSWORD });
    expect((await api.post('/users/carla/roles', { add: ['billing', 'admin'] })).body.roles).toEqual(['admin', 'billing']);
    expect((await api.post('/users/carla/roles', { remove: ['admin'], add: ['support'] })).body.roles).toEqual(['billing', 'support']);
    expect((await api.post('/users/carla/roles', { add: ['bad role!'] })).status).toBe(422);
  });
});

describe('disabling, passwords, sessions and deletion', () => {
  it('disabling ends sessions with back-channel logout and revokes grants; enabling lets the person back in', async () => {
    await api.post('/users', { username: 'dora', password: PASSWORD });
    const { config, tokens } = await signIn('dora');
    const sessions = await api.get('/users/dora/sessions');
    expect(sessions.body.items).toHaveLength(1);
    const before = rp.logoutTokens.length;

    const res = await api.post('/users/dora/disable');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ username: 'dora', disabled: true, sessions_ended: 1, logout_notifications: 1 });
    expect(await rp.waitForLogoutTokens(before + 1)).toHaveLength(before + 1);
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
    await expect(signIn('dora')).rejects.toThrow();

    expect((await api.post('/users/dora/enable')).body.disabled).toBe(false);
    expect((await signIn('dora')).tokens.access_token).toBeTruthy();
  });

  it('setting a password revokes grants and ends sessions; only the new password signs in', async () => {
    await api.post('/users', { username: 'erik', password: PASSWORD });
    const { config, tokens } = await signIn('erik');
    const res = await api.put('/users/erik/password', { password: 'a brand new password' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ username: 'erik', sessions_ended: 1 });
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
    await expect(signIn('erik')).rejects.toThrow();
    expect((await signIn('erik', 'a brand new password')).tokens.access_token).toBeTruthy();
    expect((await api.put('/users/erik/password', { password: 'short' })).status).toBe(422);
  });

  it('signs a person out everywhere while their grants stay', async () => {
    await api.post('/users', { username: 'fay', password: PASSWORD });
    const { config, tokens } = await signIn('fay');
    await signIn('fay');
    expect((await api.get('/users/fay/sessions')).body.items).toHaveLength(2);
    const res = await api.delete('/users/fay/sessions');
    expect(res.body).toMatchObject({ username: 'fay', sessions_ended: 2, logout_notifications: 2 });
    expect((await api.get('/users/fay/sessions')).body.items).toEqual([]);
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(true);
  });

  it('deleting a user ends their sessions and revokes their grants first', async () => {
    const { body: gus } = await api.post('/users', { username: 'gus', password: PASSWORD });
    const { config, tokens } = await signIn('gus');
    const res = await api.delete('/users/gus');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: gus.id, username: 'gus', deleted: true, sessions_ended: 1, logout_notifications: 1 });
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await api.get(`/users/${gus.id}`)).status).toBe(404);
    await expect(signIn('gus')).rejects.toThrow();
    // The name is free again.
    expect((await api.post('/users', { username: 'gus', password: PASSWORD })).status).toBe(201);
  });
});
