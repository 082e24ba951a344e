// Initial access tokens through the admin API, used for real dynamic registrations (RFC 7591), and the
// audit trail that records admin calls and can be filtered by time, actor and type.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { REDIRECT_URI } from '../helpers/oauth.ts';
import { bearerHash } from '../../src/store/bearer-hash.ts';
import { adminSession, allPages, type AdminClient, type Api } from './helpers.ts';

let server: TestServer;
let api: Api;
let caller: AdminClient;

beforeAll(async () => {
  server = await startTestServer();
  ({ api, client: caller } = await adminSession(server));
});
afterAll(() => server?.stop());

async function register(token: string) {
  const res = await fetch(`${server.issuer}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ client_name: 'Third-party app', redirect_uris: [REDIRECT_URI], scope: 'openid' }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

describe('initial access tokens', () => {
  it('issues one (201); an app registers with it and is then an ordinary client of the admin API', async () => {
    const res = await api.post('/initial-access-tokens', { max_uses: 2, expires_in: 3600, scopes: ['openid', 'profile'], grant_types: ['authorization_code', 'refresh_token'] });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ max_uses: 2, allowed_scopes: ['openid', 'profile'], allowed_grant_types: ['authorization_code', 'refresh_token'] });
    expect(res.body.id).toBe(bearerHash(res.body.initial_access_token));
    expect(res.body.expires_at).toBeGreaterThan(Date.now() / 1000 + 3500);

    const registered = await register(res.body.initial_access_token);
    expect(registered.status).toBe(201);
    const seen = await api.get(`/clients/${registered.body.client_id}`);
    expect(seen.status).toBe(200);
    expect(seen.body).toMatchObject({ client_name: 'Third-party app', redirect_uris: [REDIRECT_URI], disabled: false });
    expect(JSON.stringify(seen.body)).not.toContain(registered.body.client_secret);
    // A registered client's metadata changes through the admin API under the same rules.
    expect((await api.patch(`/clients/${registered.body.client_id}`, { client_name: 'Renamed' })).body.client_name).toBe('Renamed');
    expect((await api.patch(`/clients/${registered.body.client_id}`, { redirect_uris: ['http://evil.example.test/cb'] })).status).toBe(422);

    const listed = (await api.get('/initial-access-tokens')).body.items.find((t: { id: string }) => t.id === res.body.id);
    expect(listed).toMatchObject({ id: res.body.id, uses: 1, max_uses: 2 });
    expect(JSON.stringify((await api.get('/initial-access-tokens')).body)).not.toContain(res.body.initial_access_token);
  });

  it('withdraws one: it no longer registers anything, and a second delete is 404', async () => {
    const { body: made } = await api.post('/initial-access-tokens', {});
    expect(made.max_uses).toBeNull();
    const res = await api.delete(`/initial-access-tokens/${encodeURIComponent(made.id)}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ id: made.id, deleted: true });
    expect((await register(made.initial_access_token)).status).toBe(401);
    expect((await api.delete(`/initial-access-tokens/${encodeURIComponent(made.id)}`)).status).toBe(404);
  });

  it('refuses a too-short lifetime and an unknown grant type with 422 and the field in details', async () => {
    const res = await api.post('/initial-access-tokens', { expires_in: 5, grant_types: ['implicit'] });
    expect(res.status).toBe(422);
    expect(res.body.details.map((d: { path: string[] }) => d.path.join('.'))).toEqual(expect.arrayContaining(['expires_in', 'grant_types.0']));
  });
});

describe('audit events', () => {
  it('records every write call with the caller, method, route and status; reads are not recorded', async () => {
    const { body: user } = await api.post('/users', { username: 'audited', password: 'correct horse battery' });
    await api.post('/users', { username: 'audited', password: 'correct horse battery' });
    await api.get('/users/audited');
    const res = await api.get(`/audit-events?type=admin.request&actor=${caller.client_id}&limit=5`);
    expect(res.status).toBe(200);
    const [conflict, created] = res.body.items;
    expect(conflict).toMatchObject({ type: 'admin.request', client_id: caller.client_id, details: { method: 'POST', route: '/admin/v1/users', status: 409 } });
    expect(created).toMatchObject({ details: { method: 'POST', route: '/admin/v1/users', status: 201 } });
    expect(res.body.items.some((e: { details: { method: string } }) => e.details.method === 'GET')).toBe(false);
    // The domain's own events are there too, found with the user as actor.
    await api.patch('/users/audited', { name: 'Audited Person' });
    const byUser = (await api.get(`/audit-events?actor=${user.id}`)).body.items as Array<{ type: string; account_id: string | null; client_id: string | null }>;
    expect(byUser.map((e) => e.type)).toContain('user.updated');
    expect(byUser.every((e) => e.account_id === user.id || e.client_id === user.id)).toBe(true);
  });

  it('filters by time window and type, newest first, across pages', async () => {
    const start = new Date(Date.now() - 1000).toISOString();
    for (let i = 0; i < 7; i++) await api.post('/users/audited/roles', { add: [`r${i}`] });
    const until = new Date(Date.now() + 1000).toISOString();
    const events = await allPages(api, `/audit-events?type=user.roles_changed&since=${encodeURIComponent(start)}&until=${encodeURIComponent(until)}`, 3);
    expect(events).toHaveLength(7);
    expect(events.map((e) => e.details.add[0])).toEqual(['r6', 'r5', 'r4', 'r3', 'r2', 'r1', 'r0']);
    expect(new Set(events.map((e) => e.id)).size).toBe(7);
    expect((await api.get(`/audit-events?type=user.roles_changed&until=${encodeURIComponent(start)}`)).body.items.filter((e: { details: { add: string[] } }) => e.details.add[0]?.startsWith('r'))).toEqual([]);
  });

  it('refuses a malformed time and a window that ends before it starts', async () => {
    const bad = await api.get('/audit-events?since=yesterday');
    expect(bad.status).toBe(400);
    expect(bad.body.details[0].path).toEqual(['since']);
    const backwards = await api.get(`/audit-events?since=2030-01-01T00:00:00Z&until=2029-01-01T00:00:00Z`);
    expect(backwards.status).toBe(422);
  });
});
