// Grants and sessions through the admin API, made by real sign-ins: listed by user and client, revoked
// (seen at introspection and in the revocation feed) and ended (with back-channel logout).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession } from '../helpers/browser-session.ts';
import { authorize, createClient, createUser, discover, exchange } from '../helpers/oauth.ts';
import { startRelyingParty, type RelyingParty } from '../helpers/relying-party.ts';
import { adminSession, type Api } from './helpers.ts';

let server: TestServer;
let rp: RelyingParty;
let api: Api;

beforeAll(async () => {
  server = await startTestServer();
  rp = await startRelyingParty();
  api = (await adminSession(server)).api;
  await createUser(server, 'alice');
  await createUser(server, 'bob');
});
afterAll(async () => {
  await server?.stop();
  await rp?.close();
});

async function signIn(username: string, name = 'App') {
  const client = await createClient(server, { name, scope: 'openid profile offline_access', backchannelLogoutUri: `${rp.url}/backchannel` });
  const config = await discover(server, client);
  const tokens = await exchange(config, await authorize(server, config, new BrowserSession(server.issuer), { username, scope: 'openid profile offline_access' }));
  return { client, config, tokens };
}

describe('grants', () => {
  it('lists a user\'s grants and a client\'s grants', async () => {
    const first = await signIn('alice', 'Mail');
    await signIn('alice', 'Calendar');
    await signIn('bob', 'Chat');
    const alice = (await api.get('/users/alice')).body;

    const byUser = await api.get('/grants?user=alice');
    expect(byUser.status).toBe(200);
    expect(byUser.body.items.map((g: { client_name: string }) => g.client_name)).toEqual(['Mail', 'Calendar']);
    expect(byUser.body.items[0]).toMatchObject({ user_id: alice.id, client_id: first.client.client_id, scopes: expect.arrayContaining(['openid', 'profile']) });

    const byClient = await api.get(`/grants?client=${first.client.client_id}`);
    expect(byClient.body.items).toHaveLength(1);
    expect((await api.get(`/grants?user=${alice.id}&client=${first.client.client_id}`)).body.items).toHaveLength(1);
  });

  it('needs a user or a client to list (400), and a known user (404)', async () => {
    const res = await api.get('/grants');
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
    expect((await api.get('/grants?user=nobody')).status).toBe(404);
  });

  it('revokes a grant: its tokens stop at introspection and the revocation is recorded and announced', async () => {
    const { client, config, tokens } = await signIn('bob', 'Revocable');
    const [grant] = (await api.get(`/grants?client=${client.client_id}`)).body.items;
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(true);

    const res = await api.delete(`/grants/${grant.grant_id}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ grant_id: grant.grant_id, revoked: true });

    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await server.runtime.db('revocations').where({ kind: 'grant', value: grant.grant_id }).first()).toMatchObject({ reason: 'revoked_by_operator' });
    expect(await server.runtime.db('revocation_events').where({ grant_id: grant.grant_id }).first()).toMatchObject({ type: 'session-revoked' });
    expect((await api.get(`/grants?client=${client.client_id}`)).body.items).toEqual([]);
    expect((await api.delete(`/grants/${grant.grant_id}`)).status).toBe(404);
  });
});

describe('sessions', () => {
  it('lists sessions, all or by user, never showing a session id', async () => {
    const all = await api.get('/sessions');
    expect(all.status).toBe(200);
    expect(all.body.items.length).toBeGreaterThanOrEqual(4);
    const bob = (await api.get('/users/bob')).body;
    const bobs = await api.get('/sessions?user=bob');
    expect(bobs.body.items.every((s: { user_id: string }) => s.user_id === bob.id)).toBe(true);
    expect(bobs.body.items[0]).toMatchObject({ uid: expect.any(String), client_ids: expect.any(Array), login_at: expect.any(String), expires_at: expect.any(String) });
    const stored = await server.runtime.db('sessions').select('id_hash', 'payload');
    for (const row of stored) {
      expect(JSON.stringify(all.body)).not.toContain(row.id_hash);
      if (row.payload.jti) expect(JSON.stringify(all.body)).not.toContain(row.payload.jti);
    }
  });

  it('ends one session by uid with back-channel logout to its apps; the person\'s other sessions stay', async () => {
    await createUser(server, 'carol');
    const { client } = await signIn('carol', 'Notes');
    await signIn('carol', 'Tasks');
    const sessions = (await api.get('/sessions?user=carol')).body.items as Array<{ uid: string; client_ids: string[] }>;
    expect(sessions).toHaveLength(2);
    const target = sessions.find((s) => s.client_ids.includes(client.client_id))!;
    const before = rp.logoutTokens.length;

    const res = await api.delete(`/sessions/${target.uid}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ uid: target.uid, ended: true, logout_notifications: 1 });
    const [logoutToken] = (await rp.waitForLogoutTokens(before + 1)).slice(before);
    expect(decodeJwt(logoutToken!).aud).toBe(client.client_id);
    expect((await api.get('/sessions?user=carol')).body.items.map((s: { uid: string }) => s.uid)).toEqual(sessions.filter((s) => s !== target).map((s) => s.uid));
    expect((await api.delete(`/sessions/${target.uid}`)).status).toBe(404);
  });
});
