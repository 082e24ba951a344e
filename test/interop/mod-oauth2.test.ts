// Apache httpd with mod_oauth2 (Debian's libapache2-mod-oauth2, liboauth2's Apache module) as the resource
// server in front of a backend, validating Tessera's access tokens two ways: signatures against /jwks, and
// RFC 7662 introspection with the resource server's introspection client. The module keeps its default
// claim settings (remote user = `sub`, claims passed as OAUTH2_CLAIM_* headers); the backend is a small
// Node echo app behind mod_proxy that answers with the headers it got.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt } from 'jose';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { basic, createClient, postForm } from '../helpers/oauth.ts';
import { runOperation } from '../../src/services/operations.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';
import { startApache, type RunningApache } from './helpers/apache.ts';

const ORDERS = 'https://orders.example.test/api';
const OTHER = 'https://other.example.test/api';
/** An API whose tokens live one second (set below the 30-second floor in the database, for the expiry tests). */
const SHORT = 'https://short.example.test/api';
/** APIs whose tokens are signed with the other two algorithms Tessera offers (ES256 is the default). */
const RSA_SIGNED = 'https://rsa.example.test/api';
const ED_SIGNED = 'https://eddsa.example.test/api';

type Introspector = { client_id: string; client_secret: string };

let server: TestServer;
let service: ClientMetadata;
let ordersRs: Introspector;
let shortRs: Introspector;
let backend: Server;
let backendPort: number;
let jwksApache: RunningApache;
let introspectApache: RunningApache;
/** Minted at start-up, never shown to Apache before it has expired (mod_oauth2 caches a valid result). */
let shortLived: string;

async function token(resource: string, scope: string): Promise<string> {
  const res = await postForm(`${server.issuer}/token`, { grant_type: 'client_credentials', resource, scope }, basic(service));
  const body = (await res.json()) as { access_token: string };
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body.access_token;
}

async function revoke(accessToken: string): Promise<void> {
  const res = await postForm(`${server.issuer}/token/revocation`, { token: accessToken, token_type_hint: 'access_token' }, basic(service));
  expect(res.status).toBe(200);
}

/** Flips one character in the middle of the signature (not the last, whose low bits base64url may ignore). */
function tamper(jwt: string): string {
  const [h, p, s] = jwt.split('.') as [string, string, string];
  const i = Math.floor(s.length / 2);
  return `${h}.${p}.${s.slice(0, i)}${s[i] === 'A' ? 'B' : 'A'}${s.slice(i + 1)}`;
}

async function waitUntilExpired(jwt: string): Promise<void> {
  // The one wait for time itself: until the token's exp second has passed (mod_oauth2 refuses when now > exp).
  const { exp } = decodeJwt(jwt);
  const until = (exp! + 1) * 1000;
  expect(until - Date.now()).toBeLessThan(5000);
  while (Date.now() < until) await new Promise((r) => setTimeout(r, until - Date.now()));
}

async function call(apache: RunningApache, path: string, bearer?: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${apache.url}${path}`, { headers: { ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...headers } });
  const text = await res.text();
  const echo = res.status === 200 ? (JSON.parse(text) as { path: string; headers: Record<string, string> }) : undefined;
  return { status: res.status, wwwAuthenticate: res.headers.get('www-authenticate'), echo, text, log: () => apache.log() };
}

/**
 * One protected location: the token check, the issuer and (unless left out to show why it matters) the
 * audience the API requires, proxied to the echo app. mod_oauth2 has no setting for the expected issuer or
 * audience of a JWT: `Require oauth2_claim` (its authorization provider) is how they are checked.
 */
function location(path: string, verify: string, audience: string | undefined): string {
  return `
<Location ${path}>
  AuthType oauth2
  OAuth2TokenVerify ${verify}
  <RequireAll>
    Require oauth2_claim iss:${server.issuer}${audience ? `\n    Require oauth2_claim aud:${audience}` : ''}
  </RequireAll>
  RequestHeader set X-Remote-User "expr=%{REMOTE_USER}"
  ProxyPass http://127.0.0.1:${backendPort}${path}
</Location>`;
}

// authn_core: AuthType; headers: RequestHeader; proxy, proxy_http: the backend.
const MODULES = ['authn_core', 'oauth2', 'headers', 'proxy', 'proxy_http'];

beforeAll(async () => {
  server = await startTestServer();
  ordersRs = (await runOperation(server.operations, 'resource.create', { identifier: ORDERS, scopes: [{ name: 'orders:read' }] })).introspection_client as Introspector;
  await runOperation(server.operations, 'resource.create', { identifier: OTHER, scopes: [{ name: 'other:read' }] });
  await runOperation(server.operations, 'resource.create', { identifier: RSA_SIGNED, scopes: [{ name: 'rsa:read' }], alg: 'RS256' });
  await runOperation(server.operations, 'resource.create', { identifier: ED_SIGNED, scopes: [{ name: 'eddsa:read' }], alg: 'EdDSA' });
  shortRs = (await runOperation(server.operations, 'resource.create', { identifier: SHORT, scopes: [{ name: 'short:read' }], ttl: 30 })).introspection_client as Introspector;
  await server.runtime.db('resource_servers').where({ identifier: SHORT }).update({ access_token_ttl: 1 });
  service = await createClient(server, { name: 'Apache-fronted service', redirectUris: [], grantTypes: ['client_credentials'], scope: 'orders:read other:read short:read rsa:read eddsa:read' });
  shortLived = await token(SHORT, 'short:read');
  expect(decodeJwt(shortLived).exp! - decodeJwt(shortLived).iat!).toBe(1);

  backend = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path: req.url, headers: req.headers }));
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  backendPort = (backend.address() as AddressInfo).port;

  const jwks = `jwks_uri ${server.issuer}/jwks verify.exp=required`;
  const introspect = (rs: Introspector, options = '') =>
    `introspect ${server.issuer}/token/introspection introspect.auth=client_secret_basic&client_id=${rs.client_id}&client_secret=${rs.client_secret}${options}`;
  // Both at once; if one fails to start, the other is stopped before the error is reported.
  const started = await Promise.allSettled([
    startApache({
      modules: MODULES,
      config: [location('/orders', jwks, ORDERS), location('/short', jwks, SHORT), location('/any-api', jwks, undefined)].join('\n'),
    }),
    startApache({
      modules: MODULES,
      config: [
        location('/orders', introspect(ordersRs), ORDERS),
        location('/short', introspect(shortRs), SHORT),
        // The module caches a token's verification result for `expiry` seconds (300 by default), keyed on the
        // token: 0 asks Tessera on every request, so a revocation counts from the next one.
        location('/orders-uncached', introspect(ordersRs, '&expiry=0'), ORDERS),
      ].join('\n'),
    }),
  ]);
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    await Promise.all(started.map((r) => (r.status === 'fulfilled' ? r.value.stop() : undefined)));
    throw failed.reason;
  }
  [jwksApache, introspectApache] = started.map((r) => (r as PromiseFulfilledResult<RunningApache>).value) as [RunningApache, RunningApache];
});

afterAll(async () => {
  await Promise.all([jwksApache?.stop(), introspectApache?.stop()]);
  await new Promise((r) => (backend ? backend.close(r) : r(undefined)));
  await server?.stop();
});

describe.each([
  { mode: 'JWKS (jwks_uri)', apache: () => jwksApache },
  { mode: 'introspection (RFC 7662)', apache: () => introspectApache },
])('mod_oauth2, $mode', ({ mode, apache }) => {
  it('lets a valid token through: REMOTE_USER is its sub, the claims reach the backend as headers', async () => {
    const jwt = await token(ORDERS, 'orders:read');
    const claims = decodeJwt(jwt);
    // A client's own OAUTH2_CLAIM_* header is scrubbed by the module, never passed on.
    const res = await call(apache(), '/orders/items?x=1', jwt, { OAUTH2_CLAIM_sub: 'spoofed' });
    expect(res.status, res.text + res.log()).toBe(200);
    expect(res.echo!.path).toBe('/orders/items?x=1');
    const h = res.echo!.headers;
    expect(claims.sub).toBe(service.client_id);
    expect(h['x-remote-user']).toBe(service.client_id);
    expect(h['oauth2_claim_sub']).toBe(service.client_id);
    expect(h['oauth2_claim_client_id']).toBe(service.client_id);
    expect(h['oauth2_claim_scope']).toBe('orders:read');
    expect(h['oauth2_claim_aud']).toBe(ORDERS);
    expect(h['oauth2_claim_iss']).toBe(server.issuer);
  });

  it('answers 401 with a Bearer challenge when there is no token', async () => {
    const res = await call(apache(), '/orders/items');
    expect(res.status).toBe(401);
    expect(res.wwwAuthenticate).toMatch(/^Bearer/);
  });

  it('refuses an expired token', async () => {
    await waitUntilExpired(shortLived);
    const mark = apache().log().length;
    const res = await call(apache(), '/short/items', shortLived);
    expect(res.status, res.log()).toBe(401);
    expect(res.wwwAuthenticate).toContain('invalid_token');
    // Why: mod_oauth2's own exp check, or Tessera's introspection answering inactive.
    expect(apache().log().slice(mark)).toMatch(mode.startsWith('JWKS') ? /"exp" validation failure/ : /"active" boolean object with value "false"/);
  });

  it('refuses a token whose signature was tampered with', async () => {
    const res = await call(apache(), '/orders/items', tamper(await token(ORDERS, 'orders:read')));
    expect(res.status).toBe(401);
    expect(res.wwwAuthenticate).toContain('invalid_token');
  });

  it('refuses a token for another audience', async () => {
    const mark = apache().log().length;
    const res = await call(apache(), '/orders/items', await token(OTHER, 'other:read'));
    expect(res.status, res.log()).toBe(401);
    if (mode.startsWith('JWKS')) {
      // The signature is good: the `Require oauth2_claim aud:` line refuses it (Apache's authorization
      // failure: 401 without a Bearer challenge).
      expect(apache().log().slice(mark)).toContain('authorization failure');
    } else {
      // Tessera tells the orders API's introspection client nothing about another API's token.
      expect(res.wwwAuthenticate).toContain('invalid_token');
      expect(apache().log().slice(mark)).toMatch(/"active" boolean object with value "false"/);
    }
  });

  if (mode.startsWith('introspection')) {
    it('refuses a token revoked at Tessera (RFC 7009)', async () => {
      const jwt = await token(ORDERS, 'orders:read');
      await revoke(jwt);
      const res = await call(apache(), '/orders/items', jwt);
      expect(res.status).toBe(401);
      expect(res.wwwAuthenticate).toContain('invalid_token');
    });

    it('refuses a token in use from the request after its revocation when the result cache is off (expiry=0)', async () => {
      const jwt = await token(ORDERS, 'orders:read');
      expect((await call(apache(), '/orders-uncached/items', jwt)).status).toBe(200);
      await revoke(jwt);
      expect((await call(apache(), '/orders-uncached/items', jwt)).status).toBe(401);
    });

    it('keeps accepting a revoked token it has already seen, with the default 300-second result cache', async () => {
      const jwt = await token(ORDERS, 'orders:read');
      expect((await call(apache(), '/orders/items', jwt)).status).toBe(200);
      await revoke(jwt);
      expect((await call(apache(), '/orders/items', jwt)).status).toBe(200);
    });
  } else {
    it('still accepts a revoked JWT until it expires: signature checks cannot see revocation', async () => {
      const jwt = await token(ORDERS, 'orders:read');
      await revoke(jwt);
      expect((await call(apache(), '/orders/items', jwt)).status).toBe(200);
    });

    it('accepts any API\'s token where no `Require oauth2_claim aud:` line says which API this is', async () => {
      const res = await call(apache(), '/any-api/items', await token(OTHER, 'other:read'));
      expect(res.status).toBe(200);
      expect(res.echo!.headers['oauth2_claim_aud']).toBe(OTHER);
    });

    it('verifies RS256-signed tokens too, but not EdDSA ones (the module\'s JOSE library has no Ed25519)', async () => {
      expect((await call(apache(), '/any-api/items', await token(RSA_SIGNED, 'rsa:read'))).status).toBe(200);
      const mark = apache().log().length;
      const res = await call(apache(), '/any-api/items', await token(ED_SIGNED, 'eddsa:read'));
      expect(res.status).toBe(401);
      expect(apache().log().slice(mark)).toContain('cjose_jws_import failed');
    });
  }
});
