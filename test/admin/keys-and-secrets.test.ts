// Signing keys and client secrets through the admin API: the same operations as the CLI, and the serving
// engine follows at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeProtectedHeader } from 'jose';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { basic, createClient, postForm } from '../helpers/oauth.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';
import { adminApi, adminClient, adminSession, adminToken, type Api } from './helpers.ts';

let server: TestServer;
let api: Api;
let service: ClientMetadata;

beforeAll(async () => {
  server = await startTestServer();
  api = (await adminSession(server)).api;
  service = await createClient(server, { name: 'Keyed service', redirectUris: [], grantTypes: ['client_credentials'] });
});
afterAll(() => server?.stop());

async function issuedKid(): Promise<string> {
  const res = await postForm(`${server.url}/token`, { grant_type: 'client_credentials' }, basic(service));
  return decodeProtectedHeader(((await res.json()) as { access_token: string }).access_token).kid!;
}

describe('keys', () => {
  it('lists keys without any private part', async () => {
    const res = await api.get('/keys');
    expect(res.status).toBe(200);
    expect(res.body.keys.filter((k: { state: string }) => k.state === 'current')).toHaveLength(4);
    expect(JSON.stringify(res.body)).not.toMatch(/"d"|private/);
  });

  it('stages a rotation, then makes it sign now; the engine signs with the new key at once', async () => {
    const staged = await api.post('/keys/rotate', { alg: 'ES256' });
    expect(staged.status).toBe(200);
    expect(staged.body.changes).toEqual([expect.objectContaining({ change: 'staged', alg: 'ES256' })]);
    const next = staged.body.changes[0].kid;
    expect(await issuedKid()).not.toBe(next);

    const now = await api.post('/keys/rotate', { alg: 'ES256', mode: 'now' });
    expect(now.body.changes).toContainEqual(expect.objectContaining({ change: 'activated', kid: next }));
    expect(await issuedKid()).toBe(next);
  });

  it('retires a key immediately (compromised): it leaves the JWKS', async () => {
    const current = (await api.get('/keys')).body.keys.find((k: { alg: string; state: string }) => k.alg === 'EdDSA' && k.state === 'current');
    const res = await api.post(`/keys/${current.kid}/retire`, { immediately: true });
    expect(res.status).toBe(200);
    const jwks = (await (await fetch(`${server.url}/jwks`)).json()) as { keys: Array<{ kid: string }> };
    expect(jwks.keys.map((k) => k.kid)).not.toContain(current.kid);
    expect((await api.post('/keys/no-such-kid/retire', {})).status).toBe(404);
  });

  it('refuses a bad mode or algorithm with 422, and a read-only token with 403', async () => {
    expect((await api.post('/keys/rotate', { mode: 'sometime' })).status).toBe(422);
    expect((await api.post('/keys/rotate', { alg: 'HS256' })).status).toBe(422);
    const reader = await adminClient(server, 'admin:keys:read');
    const readOnly = adminApi(server, await adminToken(server, reader, 'admin:keys:read'));
    expect((await readOnly.get('/keys')).status).toBe(200);
    expect((await readOnly.post('/keys/rotate', {})).status).toBe(403);
  });
});

describe('client secrets', () => {
  it('rotates a secret with a grace period: both work, and the answer shows the new one once', async () => {
    const res = await api.post(`/clients/${service.client_id}/secret`, { grace_seconds: 600 });
    expect(res.status).toBe(200);
    expect(res.body.previous_secret_expires_at).toBeGreaterThan(Date.now() / 1000);
    for (const secret of [service.client_secret!, res.body.client_secret]) {
      expect((await postForm(`${server.url}/token`, { grant_type: 'client_credentials' }, basic({ ...service, client_secret: secret }))).status).toBe(200);
    }
    expect(JSON.stringify((await api.get(`/clients/${service.client_id}`)).body)).not.toContain(res.body.client_secret);
  });

  it('refuses a negative grace period (422) and an unknown client (404)', async () => {
    expect((await api.post(`/clients/${service.client_id}/secret`, { grace_seconds: -5 })).status).toBe(422);
    expect((await api.post('/clients/nope/secret', {})).status).toBe(404);
  });
});
