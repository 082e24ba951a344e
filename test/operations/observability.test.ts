// What operators see: Prometheus metrics for every kind of operation, one structured log line per request
// with route, status, latency, client and account — and, after a full flow, not one secret in the log.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession } from '../helpers/browser-session.ts';
import { authorize, basic, createClient, createUser, discover, exchange, postForm } from '../helpers/oauth.ts';
import { runOperation } from '../../src/services/operations.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';

const METRICS_TOKEN = 'metrics-token-0123456789abcdef';
const API = 'https://observed.example.test/api';
const PASSWORD = 'observable horse battery';

let server: TestServer;
let introspector: ClientMetadata;
let service: ClientMetadata;
let web: ClientMetadata;
/** Every secret value the flow below used or received. */
const secrets: Record<string, string> = {};

beforeAll(async () => {
  server = await startTestServer({ env: { METRICS_TOKEN, LOGIN_MAX_FAILURES: '2', CLEANUP_INTERVAL: '1', AUDIT_RETENTION_DAYS: '30' } });
  const user = await createUser(server, 'olivia', PASSWORD);
  secrets.password = PASSWORD;
  introspector = (await runOperation(server.operations, 'resource.create', { identifier: API, scopes: [{ name: 'read' }] })).introspection_client as ClientMetadata;
  secrets.introspectorSecret = introspector.client_secret!;
  service = await createClient(server, { name: 'Observed service', redirectUris: [], grantTypes: ['client_credentials'], scope: 'read' });
  secrets.serviceSecret = service.client_secret!;
  web = await createClient(server, { name: 'Observed web app' });
  secrets.webSecret = web.client_secret!;

  // A full flow: a failed and a good sign-in, consent, code, tokens, refresh, introspection, revocation.
  const session = new BrowserSession(server.issuer);
  const config = await discover(server, web);
  await expect(authorize(server, config, new BrowserSession(server.issuer), { username: 'olivia', password: 'wrong password here' })).rejects.toThrow();
  const result = await authorize(server, config, session, { username: 'olivia', password: PASSWORD });
  secrets.code = result.callback.searchParams.get('code')!;
  secrets.codeVerifier = result.codeVerifier;
  const tokens = await exchange(config, result);
  secrets.accessToken = tokens.access_token;
  secrets.idToken = tokens.id_token!;
  secrets.refreshToken = tokens.refresh_token!;
  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
  secrets.refreshed = refreshed.refresh_token!;
  for (const cookie of session.cookieHeader().split('; ')) secrets[`cookie:${cookie.split('=')[0]}`] = cookie.split('=').slice(1).join('=');
  const cc = await postForm(`${server.url}/token`, { grant_type: 'client_credentials', resource: API, scope: 'read' }, basic(service));
  secrets.serviceToken = ((await cc.json()) as { access_token: string }).access_token;
  await postForm(`${server.url}/token/introspection`, { token: secrets.serviceToken }, basic(introspector));
  await postForm(`${server.url}/token/revocation`, { token: secrets.serviceToken }, basic(service));
  const rotated = await runOperation(server.operations, 'client.rotate-secret', { clientId: service.client_id, graceSeconds: 60 });
  secrets.rotatedSecret = rotated.client_secret;
  void user;
}, 60_000);
afterAll(() => server?.stop());

async function scrape(): Promise<string> {
  const res = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/text\/plain/);
  return res.text();
}

describe('metrics', () => {
  it('requires the metrics bearer token on the main port', async () => {
    expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${server.url}/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
  });

  it('counts requests by route pattern and status, tokens by grant type, introspection, revocation and sign-ins', async () => {
    const text = await scrape();
    expect(text).toMatch(/tessera_http_request_duration_seconds_count\{method="POST",route="engine:token",status="200"\} \d+/);
    expect(text).toMatch(/tessera_http_request_duration_seconds_count\{method="POST",route="engine:introspection",status="200"\} \d+/);
    expect(text).toMatch(/tessera_http_request_duration_seconds_count\{method="POST",route="engine:revocation",status="200"\} \d+/);
    expect(text).toMatch(/tessera_http_request_duration_seconds_count\{method="GET",route="\/interaction\/:uid",status="200"\} \d+/);
    // Raw paths (with ids in them) never become labels.
    expect(text).not.toMatch(/route="\/interaction\/[A-Za-z0-9_-]{10,}"/);
    for (const grant of ['authorization_code', 'refresh_token', 'client_credentials']) {
      expect(text).toMatch(new RegExp(`tessera_tokens_issued_total\\{grant_type="${grant}"\\} [1-9]`));
    }
    expect(text).toMatch(/tessera_introspections_total\{active="true"\} [1-9]/);
    expect(text).toMatch(/tessera_revocations_total\{outcome="revoked"\} [1-9]/);
    expect(text).toMatch(/tessera_logins_total\{result="success"\} [1-9]/);
    expect(text).toMatch(/tessera_logins_total\{result="failure"\} [1-9]/);
  });

  it('reports the database pool, query latency, key age and event-loop lag', async () => {
    const text = await scrape();
    expect(text).toMatch(/tessera_db_pool_connections\{state="max"\} \d+/);
    expect(text).toMatch(/tessera_db_query_duration_seconds_count\{outcome="ok"\} [1-9]/);
    expect(text).toMatch(/tessera_key_age_seconds\{purpose="signing",alg="ES256"\} \d+/);
    expect(text).toMatch(/nodejs_eventloop_lag_seconds \d/);
  });

  it('serves metrics on a separate listener when METRICS_PORT is set, and not on the main port without a token', async () => {
    const other = await startTestServer({ env: { METRICS_PORT: '0', METRICS_HOST: '127.0.0.1' } });
    try {
      expect(other.metricsUrl).toBeDefined();
      const res = await fetch(other.metricsUrl!);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('tessera_http_request_duration_seconds');
      expect((await fetch(`${other.url}/metrics`)).status).toBe(404);
    } finally {
      await other.stop();
    }
  });
});

describe('logs', () => {
  const lines = () => server.logs.flatMap((chunk) => chunk.split('\n')).filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

  it('writes one JSON line per request with id, route, status, latency, and the client and account where known', () => {
    const requests = lines().filter((l) => l.msg === 'request');
    expect(requests.length).toBeGreaterThan(10);
    for (const r of requests) {
      expect(r).toMatchObject({ reqId: expect.any(String), method: expect.any(String), route: expect.any(String), status: expect.any(Number), ms: expect.any(Number) });
    }
    const tokenCalls = requests.filter((r) => r.route === 'engine:token' && r.status === 200);
    expect(tokenCalls.some((r) => r.client_id === web.client_id && typeof r.sub === 'string')).toBe(true);
    expect(tokenCalls.some((r) => r.client_id === service.client_id)).toBe(true);
    expect(requests.some((r) => r.route === '/interaction/:uid/login' && typeof r.sub === 'string')).toBe(true);
    // Introspection and revocation (whose bodies the host rewrites before the engine sees them) too.
    expect(requests).toContainEqual(expect.objectContaining({ route: 'engine:introspection', status: 200, client_id: introspector.client_id }));
    expect(requests).toContainEqual(expect.objectContaining({ route: 'engine:revocation', status: 200, client_id: service.client_id }));
    expect(requests.some((r) => r.route === 'unmatched' && typeof r.path === 'string' && r.path.startsWith('/token'))).toBe(false);
  });

  it('contains none of the passwords, secrets, codes, tokens or cookies the flow used', () => {
    const log = server.logs.join('');
    expect(Object.keys(secrets).length).toBeGreaterThan(10);
    for (const [name, value] of Object.entries(secrets)) {
      expect(value.length, name).toBeGreaterThan(8);
      expect(log.includes(value), `${name} appears in the log`).toBe(false);
    }
  });
});

describe('audit trail', () => {
  const db = () => server.runtime.db;

  it('records token issuance per grant type and revocations (written in batches within about a second)', async () => {
    let rows: Array<{ type: string; client_id: string | null; account_id: string | null; details: { grant_type?: string } }> = [];
    for (let i = 0; i < 40; i++) {
      rows = await db()('audit_events').whereIn('type', ['token.issued', 'token.revoked']).select('type', 'client_id', 'account_id', 'details');
      if (rows.some((r) => r.type === 'token.revoked')) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const issued = rows.filter((r) => r.type === 'token.issued');
    expect(new Set(issued.map((r) => r.details.grant_type))).toEqual(new Set(['authorization_code', 'refresh_token', 'client_credentials']));
    expect(issued.find((r) => r.details.grant_type === 'authorization_code')).toMatchObject({ client_id: web.client_id, account_id: expect.any(String) });
    expect(rows.find((r) => r.type === 'token.revoked')).toMatchObject({ client_id: service.client_id });
    const types = new Set((await db()('audit_events').select('type')).map((r: { type: string }) => r.type));
    for (const type of ['login.success', 'login.failure', 'consent.granted', 'client.secret_rotated']) expect(types).toContain(type);
  });

  it('prunes events older than AUDIT_RETENTION_DAYS', async () => {
    const old = new Date(Date.now() - 31 * 86_400_000);
    await db()('audit_events').insert([{ type: 'test.ancient', at: old, details: '{}' }]);
    let left = 1;
    for (let i = 0; i < 40 && left > 0; i++) {
      await new Promise((r) => setTimeout(r, 250));
      left = Number((await db()('audit_events').where('type', 'test.ancient').count({ n: '*' }))[0]!.n);
    }
    expect(left).toBe(0);
    expect(Number((await db()('audit_events').where('type', 'login.success').count({ n: '*' }))[0]!.n)).toBeGreaterThan(0);
  });
});
