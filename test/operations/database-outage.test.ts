// PostgreSQL stops and comes back while the server runs: requests are answered with 503
// temporarily_unavailable (JSON, or a readable page, or the admin API's JSON) instead of hanging or a 500,
// /readyz says not ready,
// the process stays up, and service resumes without a restart. The database here is a private cluster of
// this test's own (scripts/private-postgres.ts), so stopping it disturbs no one.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPrivatePostgres, type PrivatePostgres } from '../../scripts/private-postgres.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { basic, createClient, postForm } from '../helpers/oauth.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';
import { adminSession } from '../admin/helpers.ts';
import { CACHE_TTL_MS } from '../../src/oidc/short-lived-cache.ts';

const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const havePostgres = existsSync(`${PG_BIN}/initdb`);

/** Any answer within 20 s: a hang fails the test rather than the suite's timeout. */
const within = () => ({ signal: AbortSignal.timeout(20_000) });

/**
 * Asks again (every 100 ms, for up to 30 s) until the server answers `status`: after PostgreSQL is back,
 * the signal that service has resumed is the server's own answer. Returns the last status.
 */
async function untilStatus(ask: () => Promise<Response>, status: number): Promise<number> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await ask();
    await res.body?.cancel();
    if (res.status === status || Date.now() > deadline) return res.status;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!havePostgres)('database outage', { timeout: 120_000 }, () => {
  let pg: PrivatePostgres;
  let server: TestServer;
  let service: ClientMetadata;
  let opaqueRefreshClient: ClientMetadata;

  beforeAll(async () => {
    pg = await startPrivatePostgres();
    server = await startTestServer({ env: { DATABASE_URL: pg.url } });
    service = await createClient(server, { name: 'Outage service', redirectUris: [], grantTypes: ['client_credentials'] });
    opaqueRefreshClient = await createClient(server, { name: 'Outage web app' });
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    await pg?.stop();
  });

  const token = () => fetch(`${server.url}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...basic(service) }, body: 'grant_type=client_credentials', ...within() });

  it('answers 503 temporarily_unavailable while PostgreSQL is down, and recovers when it returns', async () => {
    expect((await token()).status).toBe(200);
    // The client is in the engine's cache now, loaded at the latest by this answer.
    const clientCachedBy = Date.now();
    await pg.kill();
    try {
      await duringOutage(clientCachedBy);
    } finally {
      await pg.start();
    }
    expect(await untilStatus(token, 200)).toBe(200);
    expect((await fetch(`${server.url}/readyz`, within())).status).toBe(200);
  });

  async function duringOutage(clientCachedBy: number) {
    // Until the cached client expires (CACHE_TTL_MS, a second) the engine issues tokens from memory; from
    // then on it must ask the database. Waiting out the rest of that second is inherent.
    await new Promise((r) => setTimeout(r, Math.max(0, clientCachedBy + CACHE_TTL_MS - Date.now())));

    const refused = await token();
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(await refused.json()).toMatchObject({ error: 'temporarily_unavailable' });

    const introspection = await fetch(`${server.url}/token/introspection`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...basic(service) },
      body: 'token=whatever',
      ...within(),
    });
    expect(introspection.status).toBe(503);

    // Browser endpoints: a readable page, never a stack trace.
    const page = await fetch(`${server.url}/auth?client_id=${opaqueRefreshClient.client_id}&response_type=code&scope=openid`, { headers: { accept: 'text/html' }, ...within() });
    expect(page.status).toBe(503);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const html = await page.text();
    expect(html).toContain('temporarily unavailable');
    expect(html).not.toMatch(/\bat .+\.(ts|js):\d+/);

    const ready = await fetch(`${server.url}/readyz`, within());
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: 'not_ready' });
    // Alive, and what needs no database still works.
    expect((await fetch(`${server.url}/healthz`, within())).status).toBe(200);
    expect((await fetch(`${server.url}/.well-known/openid-configuration`, within())).status).toBe(200);
    expect(server.logs.join('')).not.toContain('unhandled error');
    // The outage is visible at warn level, without a flood of connection lines or stack traces.
    const lines = server.logs.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: number; msg: string; component?: string; status?: number });
    expect(lines.some((l) => l.level >= 40 && l.msg === 'oauth error' && l.status === 503)).toBe(true);
    expect(lines.filter((l) => l.component === 'database').length).toBeLessThanOrEqual(6);
    expect(lines.every((l) => !/\n\s+at /.test(l.msg))).toBe(true);
  }

  it('keeps what was committed before the outage', async () => {
    const res = await postForm(`${server.url}/token`, { grant_type: 'client_credentials' }, basic(service));
    expect(res.status).toBe(200);
    // A crash (no checkpoint: recovery from the WAL), and back at once: how long it stays down does not
    // matter here, what was committed does.
    await pg.restart({ mode: 'immediate' });
    // The client registered before the crash is still there: its credentials still work.
    expect(await untilStatus(token, 200)).toBe(200);
  });

  it('the admin API answers 503 temporarily_unavailable with Retry-After while PostgreSQL is down, not 500', async () => {
    const { token } = await adminSession(server);
    const admin = (method: string, path: string, body?: unknown) =>
      fetch(`${server.issuer}/admin/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
        ...within(),
      });
    expect((await admin('GET', '/clients')).status).toBe(200);
    await pg.kill();
    try {
      // A read, and a write (whose audit record cannot be written either).
      for (const [method, path, body] of [
        ['GET', '/clients', undefined],
        ['POST', '/users', { username: 'during-outage', password: 'correct horse battery' }],
      ] as const) {
        const res = await admin(method, path, body);
        expect(res.status, `${method} ${path}`).toBe(503);
        expect(res.headers.get('retry-after'), `${method} ${path}`).toBe('5');
        expect(res.headers.get('cache-control')).toBe('no-store');
        expect(await res.json()).toEqual({ error: 'temporarily_unavailable', error_description: expect.stringMatching(/temporarily unavailable/), details: [] });
      }
      expect(server.logs.join('')).not.toContain('admin API error');
    } finally {
      await pg.start();
    }
    expect(await untilStatus(() => admin('GET', '/clients'), 200)).toBe(200);
  });
});
