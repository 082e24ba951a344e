// Signing and cookie keys rotate through next → current → retired → removed, by hand (CLI/admin API
// operations) or on a schedule, and the serving engine picks each change up without a restart.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeProtectedHeader } from 'jose';
import { manualClock, startTestServer, type TestServer } from '../helpers/server.ts';
import { authorize, basic, createClient, createUser, discover, postForm } from '../helpers/oauth.ts';
import { BrowserSession } from '../helpers/browser-session.ts';
import { runOperation } from '../../src/services/operations.ts';
import { rotationPolicy, runScheduledRotation } from '../../src/domain/keys.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';

const API = 'https://keys.example.test/api';

let server: TestServer;
let service: ClientMetadata;
let introspector: ClientMetadata;

beforeAll(async () => {
  server = await startTestServer({ env: { JWKS_MAX_AGE: '120' } });
  introspector = (await runOperation(server.operations, 'resource.create', { identifier: API, scopes: [{ name: 'read' }] })).introspection_client as ClientMetadata;
  service = await createClient(server, { name: 'Service', redirectUris: [], grantTypes: ['client_credentials'], scope: 'read' });
});
afterAll(async () => {
  await server?.stop();
});

async function issue(at: TestServer = server): Promise<string> {
  const res = await postForm(`${at.url}/token`, { grant_type: 'client_credentials', resource: API, scope: 'read' }, basic(service));
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}
const kidOf = (jwt: string) => decodeProtectedHeader(jwt).kid!;
async function jwks(at: TestServer = server) {
  const res = await fetch(`${at.url}/jwks`);
  return { res, kids: ((await res.json()) as { keys: Array<Record<string, unknown>> }).keys.map((k) => k.kid as string), body: res };
}
async function active(token: string): Promise<boolean> {
  const res = await postForm(`${server.url}/token/introspection`, { token }, basic(introspector));
  return ((await res.json()) as { active: boolean }).active;
}
const keysOf = async (state: string, alg: string | null) =>
  (await runOperation(server.operations, 'keys.list', undefined)).keys.filter((k) => k.state === state && k.alg === alg);

describe('key states and publication', () => {
  it('keeps one current key per algorithm and a cookie key, and publishes no private part', async () => {
    const { keys } = await runOperation(server.operations, 'keys.list', undefined);
    for (const alg of ['ES256', 'RS256', 'EdDSA', null]) expect(keys.filter((k) => k.alg === alg && k.state === 'current')).toHaveLength(1);
    const res = await fetch(`${server.url}/jwks`);
    expect(res.headers.get('cache-control')).toBe('public, max-age=120');
    const { keys: published } = (await res.json()) as { keys: Array<Record<string, unknown>> };
    for (const key of published) for (const p of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(key).not.toHaveProperty(p);
    expect(JSON.stringify(await server.runtime.db('keys').select('private_sealed'))).not.toMatch(/"d"\s*:/);
  });

  it('a scheduled rotation publishes the next key at once but keeps signing with the current one', async () => {
    const [current] = await keysOf('current', 'ES256');
    const { changes } = await runOperation(server.operations, 'keys.rotate', { mode: 'scheduled', alg: 'ES256' });
    expect(changes).toEqual([expect.objectContaining({ change: 'staged', alg: 'ES256' })]);
    const [next] = await keysOf('next', 'ES256');
    expect(new Date(next!.activates_at!).getTime()).toBeGreaterThan(Date.now() + (server.config.keys.prepublishSeconds - 60) * 1000);
    expect((await jwks()).kids).toContain(next!.kid);
    expect(kidOf(await issue())).toBe(current!.kid);
  });

  it('rotating now signs with the already-published next key; the old one stays published and its tokens valid', async () => {
    const old = await issue();
    const [staged] = await keysOf('next', 'ES256');
    await runOperation(server.operations, 'keys.rotate', { mode: 'now', alg: 'ES256' });
    const fresh = await issue();
    expect(kidOf(fresh)).toBe(staged!.kid);
    expect((await jwks()).kids).toContain(kidOf(old));
    expect(await active(old)).toBe(true);
    expect(await active(fresh)).toBe(true);
    const [retired] = (await keysOf('retired', 'ES256')).filter((k) => k.kid === kidOf(old));
    expect(new Date(retired!.remove_after!).getTime()).toBeGreaterThanOrEqual(Date.now() + server.config.ttl.accessToken * 1000 - 5000);
  });

  it('an emergency rotation stops publishing the old key at once, and its tokens stop validating', async () => {
    const compromised = await issue();
    await runOperation(server.operations, 'keys.rotate', { mode: 'emergency', alg: 'ES256' });
    const fresh = await issue();
    expect(kidOf(fresh)).not.toBe(kidOf(compromised));
    expect((await jwks()).kids).not.toContain(kidOf(compromised));
    expect(await active(compromised)).toBe(false);
    expect(await active(fresh)).toBe(true);
  });

  it('retires keys by kid: a next key is dropped, a retired one only when asked to go immediately', async () => {
    await runOperation(server.operations, 'keys.rotate', { mode: 'scheduled', alg: 'EdDSA' });
    const [next] = await keysOf('next', 'EdDSA');
    await runOperation(server.operations, 'keys.retire', { kid: next!.kid });
    expect((await jwks()).kids).not.toContain(next!.kid);

    const [current] = await keysOf('current', 'EdDSA');
    await runOperation(server.operations, 'keys.retire', { kid: current!.kid });
    expect((await keysOf('current', 'EdDSA'))[0]!.kid).not.toBe(current!.kid);
    expect((await jwks()).kids).toContain(current!.kid);
    await expect(runOperation(server.operations, 'keys.retire', { kid: current!.kid })).rejects.toMatchObject({ status: 422 });
    await runOperation(server.operations, 'keys.retire', { kid: current!.kid, immediately: true });
    expect((await jwks()).kids).not.toContain(current!.kid);
    await expect(runOperation(server.operations, 'keys.retire', { kid: 'no-such-key' })).rejects.toMatchObject({ status: 404 });
    await expect(runOperation(server.operations, 'keys.rotate', { mode: 'now', alg: 'HS256' })).rejects.toMatchObject({ status: 422 });
  });

  it('removes a retired key once every token it signed has expired', async () => {
    await runOperation(server.operations, 'keys.rotate', { mode: 'now', alg: 'RS256' });
    const [retired] = await keysOf('retired', 'RS256');
    const policy = await rotationPolicy(server.runtime.db, server.config);
    const later = new Date(new Date(retired!.remove_after!).getTime() + 1000);
    // The schedule runs with a clock past the retention time (the lock may be busy with this process's poll).
    let changes;
    for (let i = 0; i < 20 && !changes; i++) changes = await runScheduledRotation(server.runtime.db, server.runtime.box, { ...policy, intervalSeconds: 10 * 365 * 24 * 3600 }, later);
    expect(changes).toContainEqual(expect.objectContaining({ kid: retired!.kid, change: 'removed' }));
    expect((await runOperation(server.operations, 'keys.list', undefined)).keys.map((k) => k.kid)).not.toContain(retired!.kid);
  });

  it('records every key change in the audit log', async () => {
    const types = (await server.runtime.db('audit_events').where('type', 'like', 'key.%').select('type')).map((r: { type: string }) => r.type);
    expect(new Set(types)).toEqual(new Set(['key.created', 'key.staged', 'key.activated', 'key.retired', 'key.removed']));
  });
});

describe('cookie keys', () => {
  it('a session survives a cookie-key rotation, and ends with an emergency one', async () => {
    await createUser(server, 'cookie-person');
    const app = await createClient(server, { name: 'Cookie app' });
    const config = await discover(server, app);
    const session = new BrowserSession(server.issuer);
    await authorize(server, config, session, { username: 'cookie-person' });

    await runOperation(server.operations, 'keys.rotate', { mode: 'now', purpose: 'cookie' });
    const silent = await authorize(server, config, session, { extra: { prompt: 'none' } });
    expect(silent.callback.searchParams.get('code')).toBeTruthy();

    await runOperation(server.operations, 'keys.rotate', { mode: 'emergency', purpose: 'cookie' });
    const refused = await authorize(server, config, session, { extra: { prompt: 'none' } });
    expect(refused.callback.searchParams.get('error')).toBe('login_required');
  });
});

describe('scheduled rotation', () => {
  it('rotates by itself: the next key is published before it signs', async () => {
    // Every 4 s of the server's clock, each key published 2 s before it signs; the test moves the clock a
    // quarter second at a time and runs the poll the KEY_POLL_INTERVAL timer would run every second.
    const clock = manualClock();
    const fast = await startTestServer({ clock, env: { KEY_ROTATION_INTERVAL: '4', KEY_PREPUBLISH: '2', KEY_POLL_INTERVAL: '1', JWKS_MAX_AGE: '1' } });
    try {
      await runOperation(fast.operations, 'resource.create', { identifier: API, scopes: [{ name: 'read' }] });
      const fastService = await createClient(fast, { name: 'Service', redirectUris: [], grantTypes: ['client_credentials'], scope: 'read' });
      const firstPublished = new Map<string, number>();
      const firstSigned = new Map<string, number>();
      for (let step = 0; step < 4 * 20 && firstSigned.size < 3; step++) {
        const now = clock.advance(0.25).getTime();
        if (step % 4 === 0) await fast.pollKeys();
        for (const kid of (await jwks(fast)).kids) if (!firstPublished.has(kid)) firstPublished.set(kid, now);
        const res = await postForm(`${fast.url}/token`, { grant_type: 'client_credentials', resource: API, scope: 'read' }, basic(fastService));
        const kid = kidOf(((await res.json()) as { access_token: string }).access_token);
        if (!firstSigned.has(kid)) firstSigned.set(kid, now);
      }
      expect(firstSigned.size).toBeGreaterThanOrEqual(3);
      // Published for the whole window before it signs (the first key signed from the start).
      const [, ...rotated] = firstSigned;
      for (const [kid, signedAt] of rotated) expect(signedAt - firstPublished.get(kid)!).toBeGreaterThanOrEqual(2000);
    } finally {
      await fast.stop();
    }
  });
});
