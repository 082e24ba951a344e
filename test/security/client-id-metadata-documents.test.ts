// Client ID Metadata Documents under Tessera's policy (src/oidc/client-id-metadata-documents.ts). The
// documents are served over https on 127.0.0.1 (test/helpers/https-server.ts, a certificate this process
// trusts); a server that may fetch them runs with REGISTRATION_FETCH_ALLOW_PRIVATE=true, which only tests set
// (the production default refuses private addresses — the `guarded` server below). Errors are read from the
// pushed authorization request endpoint (RFC 9126), which loads the client exactly as /auth does and answers
// in JSON; one case checks the HTML page /auth shows. A request that reached the documents server is in
// `documents.requests`, so "refused before fetching" is seen, not assumed. The engine's own guard (the
// address connected to, after DNS resolution) is seen with this machine's host name where it resolves to
// 127.0.0.1 (the certificate covers it): fetched by the server that allows private addresses, refused by the
// one that does not; the case is skipped on a machine whose host name does not resolve to loopback.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostname } from 'node:os';
import { lookup } from 'node:dns/promises';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { startHttpsServer, type HttpsServer } from '../helpers/https-server.ts';
import { BrowserSession } from '../helpers/browser-session.ts';
import { createUser, REDIRECT_URI } from '../helpers/oauth.ts';
import { runOperation } from '../../src/services/operations.ts';
import { isHostPattern } from '../../src/domain/client-id-metadata-documents.ts';

/**
 * This machine's host name when it resolves to 127.0.0.1 (usual: /etc/hosts): a name whose address is private
 * although the URL does not say so, which only the engine's guard on the connected address can stop.
 */
async function loopbackHostName(): Promise<string | undefined> {
  const name = hostname().toLowerCase();
  if (!isHostPattern(name) || name === 'localhost' || name.startsWith('*')) return undefined;
  const address = await lookup(name, { family: 4 }).catch(() => undefined);
  return address?.address === '127.0.0.1' ? name : undefined;
}
const loopbackName = await loopbackHostName();

let off: TestServer; // the defaults: no client ID metadata documents
let on: TestServer; // on; allow-list 127.0.0.1 and *.example.com, deny-list denied.example.com
let guarded: TestServer; // on, but REGISTRATION_FETCH_ALLOW_PRIVATE=false (production default)
let documents: HttpsServer;
let flakyFixed = false;

const url = (path: string) => `${documents.url}${path}`;
const valid = (path: string, extra: Record<string, unknown> = {}) => ({
  client_id: url(path),
  client_name: 'Document client',
  redirect_uris: [REDIRECT_URI],
  grant_types: ['authorization_code', 'refresh_token'],
  token_endpoint_auth_method: 'none',
  ...extra,
});

beforeAll(async () => {
  documents = await startHttpsServer((req, res) => {
    const path = req.url ?? '';
    const json = (body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(200, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    // Valid wherever it is asked for (its client_id names the host the request came to).
    if (path.startsWith('/ok/')) return json(valid(path, { client_id: `https://${req.headers.host}${path}` }), { 'cache-control': 'max-age=600' });
    if (path === '/logo.json') return json(valid(path, { logo_uri: 'https://cdn.example.com/brand.png', client_name: 'Totally Official' }));
    if (path === '/mismatch.json') return json(valid(path, { client_id: url('/someone-else.json') }));
    if (path === '/no-redirect-uris.json') return json({ client_id: url(path), token_endpoint_auth_method: 'none' });
    if (path === '/redirect.json') return void res.writeHead(302, { location: url('/ok/redirect-target.json') }).end();
    if (path === '/big.json') return json(valid(path, { padding: 'x'.repeat(6 * 1024) }));
    if (path === '/not-json') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hello</html>');
    if (path === '/array.json') return json([valid(path)]);
    if (path === '/first-party.json') return json(valid(path, { tessera_first_party: true }));
    if (path === '/resource-scopes.json') return json(valid(path, { tessera_resource_scopes: 'admin:*' }));
    if (path === '/admin-scope.json') return json(valid(path, { scope: 'openid admin:*' }));
    if (path === '/secret.json') return json(valid(path, { token_endpoint_auth_method: 'client_secret_basic' }));
    if (path === '/client-credentials.json') return json(valid(path, { grant_types: ['client_credentials'] }));
    if (path === '/backchannel.json') return json(valid(path, { backchannel_logout_uri: 'https://10.0.0.1/logout' }));
    if (path === '/javascript-redirect.json') return json(valid(path, { redirect_uris: ['javascript:alert(1)//'] }));
    if (path === '/data-logo.json') return json(valid(path, { logo_uri: 'data:image/png;base64,AAAA' }));
    if (path === '/flaky.json') return flakyFixed ? json(valid(path)) : void res.writeHead(500).end();
    res.writeHead(404).end();
  }, { dnsNames: loopbackName ? [loopbackName] : [] });
  const lists = { CLIENT_ID_METADATA_DOCUMENT_ALLOWED_HOSTS: `127.0.0.1, *.example.com${loopbackName ? `, ${loopbackName}` : ''}`, CLIENT_ID_METADATA_DOCUMENT_DENIED_HOSTS: 'denied.example.com' };
  [off, on, guarded] = await Promise.all([
    startTestServer(),
    startTestServer({ env: { CLIENT_ID_METADATA_DOCUMENTS: 'true', CLIENT_ID_METADATA_DOCUMENT_SCOPES: 'mcp:tools', REGISTRATION_FETCH_ALLOW_PRIVATE: 'true', ...lists } }),
    startTestServer({ env: { CLIENT_ID_METADATA_DOCUMENTS: 'true' } }),
  ]);
  await createUser(on, 'alice');
});
afterAll(async () => {
  await Promise.all([off?.stop(), on?.stop(), guarded?.stop()]);
  await documents?.close();
});

const fetchesOf = (path: string) => documents.requests.filter((r) => r === `GET ${path}`).length;

/** A pushed authorization request (RFC 9126) as a public client: the engine loads the client first. */
async function push(server: TestServer, clientId: string, extra: Record<string, string> = {}) {
  const res = await fetch(`${server.issuer}/request`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      client_id: clientId,
      response_type: 'code',
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      ...extra,
    }),
  });
  return { status: res.status, body: (await res.json()) as { error?: string; error_description?: string; request_uri?: string } };
}

describe('client ID metadata documents: the switch', () => {
  it('is off by default: a URL client_id is an unknown client, nothing is fetched, discovery does not offer it', async () => {
    const { status, body } = await push(off, url('/ok/off.json'));
    expect(status).toBe(401);
    expect(body.error).toBe('invalid_client');
    expect(fetchesOf('/ok/off.json')).toBe(0);
    const metadata = await (await fetch(`${off.issuer}/.well-known/openid-configuration`)).json();
    expect(metadata.client_id_metadata_document_supported).toBeUndefined();
  });

  it('when on, is advertised and resolves a valid document once, then from the cache', async () => {
    const metadata = await (await fetch(`${on.issuer}/.well-known/oauth-authorization-server`)).json();
    expect(metadata.client_id_metadata_document_supported).toBe(true);
    expect((await push(on, url('/ok/cached.json'))).status).toBe(201);
    expect((await push(on, url('/ok/cached.json'))).status).toBe(201);
    expect(fetchesOf('/ok/cached.json')).toBe(1);
  });
});

describe('client ID metadata documents: refused documents', () => {
  const cases: Array<[string, string, RegExp, RegExp]> = [
    ['a client_id that is not the document URL', '/mismatch.json', /^invalid_client_metadata$/, /client_id does not match/],
    ['a document without redirect_uris', '/no-redirect-uris.json', /^invalid_(client_metadata|redirect_uri)$/, /redirect_uris/],
    ['a redirect (never followed)', '/redirect.json', /^invalid_client$/, /fetch failed/],
    ['a document over 5 KiB', '/big.json', /^invalid_client$/, /fetch failed/],
    ['a body that is not JSON', '/not-json', /^invalid_client$/, /fetch failed/],
    ['a JSON array', '/array.json', /^invalid_client_metadata$/, /not a JSON object/],
    ['a shared-secret authentication method', '/secret.json', /^invalid_client_metadata$/, /shared-secret/],
    ['a grant type other than the code flow and refresh', '/client-credentials.json', /^invalid_client_metadata$/, /grant_types/],
    ['a back-channel logout URI', '/backchannel.json', /^invalid_client_metadata$/, /backchannel_logout_uri/],
    ['a javascript: redirect URI', '/javascript-redirect.json', /^invalid_redirect_uri$/, /redirect_uris/],
    ['a data: logo', '/data-logo.json', /^invalid_client_metadata$/, /logo_uri/],
  ];
  for (const [what, path, error, description] of cases) {
    it(`refuses ${what} with ${error.source.replace(/[\^$]/g, '')}`, async () => {
      const { status, body } = await push(on, url(path));
      expect(status).toBeGreaterThanOrEqual(400);
      expect(status).toBeLessThan(500);
      expect(body.error).toMatch(error);
      expect(body.error_description).toMatch(description);
    });
  }

  it('answers hostile client_id URLs with an OAuth error, never a 5xx', async () => {
    const port = new URL(documents.url).port;
    for (const id of [
      `https://127.0.0.1:${port}/ok/../first-party.json`,
      `https://127.0.0.1:${port}/ok/%2e%2e/first-party.json`,
      `https://user:secret@127.0.0.1:${port}/ok/creds.json`,
      `https://127.0.0.1:${port}/ok/fragment.json#x`,
      `https://127.0.0.1:${port}/ok/${'a'.repeat(8000)}.json`,
      `https://127.0.0.1:${port}/ok/spa ce.json`,
      'https://',
      'https://%00/x',
    ]) {
      const { status, body } = await push(on, id);
      expect(status, id.slice(0, 80)).toBeGreaterThanOrEqual(400);
      expect(status, id.slice(0, 80)).toBeLessThan(500);
      expect(body.error, id.slice(0, 80)).toMatch(/^invalid_(client|request)$/);
    }
    expect(documents.requests.some((r) => r.includes('first-party') || r.includes('creds') || r.includes('fragment'))).toBe(false);
  });

  it('never follows the redirect to its target', () => {
    expect(fetchesOf('/ok/redirect-target.json')).toBe(0);
  });

  it('refuses a client_id URL without a path, before fetching', async () => {
    const { body } = await push(on, `${documents.url}/`);
    expect(body).toMatchObject({ error: 'invalid_client', error_description: expect.stringMatching(/must have a path/) });
    expect(documents.requests).not.toContain('GET /');
  });

  it('remembers a failed document for a while instead of fetching it again (negative caching)', async () => {
    expect((await push(on, url('/flaky.json'))).body.error).toBe('invalid_client');
    flakyFixed = true;
    expect((await push(on, url('/flaky.json'))).body.error).toBe('invalid_client');
    expect(fetchesOf('/flaky.json')).toBe(1);
  });

  it('shows the engine error page, not a redirect, at the authorization endpoint', async () => {
    const res = await new BrowserSession(on.issuer).request(
      `${on.issuer}/auth?${new URLSearchParams({ client_id: url('/mismatch.json'), response_type: 'code', redirect_uri: REDIRECT_URI, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })}`,
    );
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    expect(await res.text()).toContain('invalid_client_metadata');
  });
});

describe('client ID metadata documents: hosts', () => {
  it('honours the deny-list over the allow-list, before any request', async () => {
    const { body } = await push(on, 'https://denied.example.com/client.json');
    expect(body).toMatchObject({ error: 'invalid_client', error_description: 'denied.example.com is not allowed to host client metadata documents here' });
  });

  it('honours the allow-list', async () => {
    const { body } = await push(on, 'https://tools.example.org/client.json');
    expect(body).toMatchObject({ error: 'invalid_client', error_description: "tools.example.org is not on this server's list of client metadata document hosts" });
  });

  it('refuses documents on private addresses under the production default, before any request', async () => {
    for (const id of [url('/ok/guarded.json'), 'https://localhost/client.json', 'https://[::1]/client.json', 'https://10.1.2.3/client.json']) {
      const { body } = await push(guarded, id);
      expect(body.error).toBe('invalid_client');
      expect(body.error_description).toMatch(/private network addresses/);
    }
    expect(fetchesOf('/ok/guarded.json')).toBe(0);
  });

  it.runIf(loopbackName !== undefined)('refuses a host name that resolves to a loopback address, at connection time (the engine guard)', async () => {
    const port = new URL(documents.url).port;
    // Control: the same kind of document on the same name is fetched where private addresses are allowed.
    expect((await push(on, `https://${loopbackName}:${port}/ok/dns-control.json`)).status).toBe(201);
    expect(fetchesOf('/ok/dns-control.json')).toBe(1);
    const { body } = await push(guarded, `https://${loopbackName}:${port}/ok/dns-guarded.json`);
    expect(body).toMatchObject({ error: 'invalid_client', error_description: 'client_id metadata document fetch failed' });
    expect(fetchesOf('/ok/dns-guarded.json')).toBe(0);
  });

  it('refuses an address literal of a private host however it is spelled, before any request', async () => {
    const port = new URL(documents.url).port;
    for (const host of ['[::ffff:127.0.0.1]', '127.1', '2130706433', '0x7f.0.0.1']) {
      const { body } = await push(guarded, `https://${host}:${port}/ok/spelled.json`);
      expect(body.error, host).toBe('invalid_client');
      expect(body.error_description, host).toMatch(/private network addresses/);
    }
    expect(fetchesOf('/ok/spelled.json')).toBe(0);
  });
});

describe('client ID metadata documents: no privileges', () => {
  it('refuses tessera_* properties: first-party consent skipping, API scopes as the engine holds them', async () => {
    for (const path of ['/first-party.json', '/resource-scopes.json']) {
      const { body } = await push(on, url(path));
      expect(body.error).toBe('invalid_client_metadata');
      expect(body.error_description).toMatch(/must not set tessera_/);
    }
  });

  it('refuses a document claiming an admin scope', async () => {
    const { body } = await push(on, url('/admin-scope.json'));
    expect(body).toMatchObject({ error: 'invalid_client_metadata', error_description: 'scope admin:* cannot be held by a client_id metadata document client' });
  });

  it('gives a valid document client no admin or feed token', async () => {
    for (const [resource, scope] of [[`${on.issuer}/admin`, 'admin:*'], [`${on.issuer}/revocations`, 'revocations:read']] as const) {
      const { body } = await push(on, url('/ok/privileges.json'), { resource, scope });
      expect(body.error).toMatch(/^invalid_(target|scope)$/);
    }
  });

  it('shows the sign-in page with "Unverified app from <host>" and without the logo the document names', async () => {
    const session = new BrowserSession(on.issuer);
    const { res } = await session.follow(
      `${on.issuer}/auth?${new URLSearchParams({ client_id: url('/logo.json'), response_type: 'code', redirect_uri: REDIRECT_URI, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })}`,
    );
    const html = await res.text();
    expect(res.status).toBe(200);
    expect(html).toContain(`Unverified app from ${new URL(documents.url).host}`);
    expect(html).toContain('Totally Official');
    expect(html).not.toContain('cdn.example.com');
  });

  it('is not a stored client: the operators\' client list does not show it', async () => {
    const list = await runOperation(on.operations, 'client.list', {});
    expect(JSON.stringify(list)).not.toContain(documents.url);
  });
});
