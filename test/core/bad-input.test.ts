// Malformed and hostile requests against the real server. The rule under test: every such request gets a
// spec-shaped error (OAuth error JSON, or a readable HTML page on browser endpoints), never a 500, never a
// stack trace, never a redirect to an unregistered redirect URI, never a change to stored data; oversized
// bodies get 413. Every response in this file passes through `settle`, which checks the first two.
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession, csrfField, formAction } from '../helpers/browser-session.ts';
import { authorize, basic, createClient, createUser, discover, exchange, REDIRECT_URI } from '../helpers/oauth.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';
import { strings } from '../../src/http/strings.ts';
import { PKCE_MISSING } from '../../src/oidc/provider.ts';

let server: TestServer;
let web: ClientMetadata;
let other: ClientMetadata;
let webConfig: oidc.Configuration;
let otherConfig: oidc.Configuration;

const BODY_LIMIT = 56 * 1024;
const EVIL = 'https://evil.example/callback';
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'; // RFC 7636 appendix B

beforeAll(async () => {
  // No expired-row clean-up while the suite runs: the stored-data snapshots must only see our requests.
  server = await startTestServer({ env: { CLEANUP_INTERVAL: '3600' } });
  await createUser(server, 'alice');
  web = await createClient(server, { name: 'Web App' });
  other = await createClient(server, { name: 'Other App' });
  webConfig = await discover(server, web);
  otherConfig = await discover(server, other);
});
afterAll(() => server?.stop());

// ---------------------------------------------------------------------------------------------------------
// Response capture and the checks every response gets.

interface Reply {
  label: string;
  status: number;
  headers: Headers;
  body: string;
}

const STACK_MARKERS: RegExp[] = [
  /^\s*at\s+\S.*[(\s](?:file:\/\/|node:|\/)\S*(?::\d+){1,2}\)?\s*$/m, // a V8 stack frame with a location
  /^\s*at\s+(?:async\s+)?[\w$.<>[\]]+\s+\(/m, // a V8 stack frame "at fn ("
  /\bat\s+[^\s()]+\s+\((?:file:\/\/|node:|\/)[^)\s]*:\d+:\d+\)/, // a frame inside a JSON string (newlines escaped)
  /node_modules/,
  /\.(?:[cm]?[jt]s):\d+:\d+/, // file.ts:12:34
  /^\s*\w*(?:Error|Exception)(?::[^\n]*)?\n\s+at\s/m, // "TypeError: ...\n    at"
  /\b(?:TypeError|ReferenceError|SyntaxError|RangeError):\s/, // raw JS error names, never part of an OAuth error
];

/** Every response: below 500, and no stack trace or source path in the body. */
function settle(reply: Reply): Reply {
  expect(reply.status, `${reply.label}: answered ${reply.status}: ${reply.body.slice(0, 300)}`).toBeLessThan(500);
  for (const marker of STACK_MARKERS) {
    expect(reply.body, `${reply.label}: body looks like a stack trace (${marker})`).not.toMatch(marker);
  }
  return reply;
}

async function call(label: string, url: string | URL, init: RequestInit = {}): Promise<Reply> {
  const res = await fetch(new URL(url, server.issuer), { redirect: 'manual', ...init, signal: AbortSignal.timeout(20_000) });
  return settle({ label, status: res.status, headers: res.headers, body: await res.text() });
}

function form(label: string, path: string, fields: Record<string, string> | string | Buffer, headers: Record<string, string> = {}) {
  const body = typeof fields === 'string' ? fields : Buffer.isBuffer(fields) ? new Uint8Array(fields) : new URLSearchParams(fields).toString();
  return call(label, path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body });
}

function browserGet(label: string, path: string, headers: Record<string, string> = {}) {
  return call(label, path, { headers: { accept: 'text/html', ...headers } });
}

/**
 * A request written byte for byte on a socket, for what fetch refuses to send or silently normalises: dot
 * segments in paths, bytes that are not UTF-8, broken cookies, chunked bodies, contradictory framing.
 */
async function raw(label: string, requestLine: string | Buffer, headers: string[] = [], body: string | Buffer = ''): Promise<Reply> {
  const { hostname, port, host } = new URL(server.issuer);
  const head = Buffer.concat([
    Buffer.isBuffer(requestLine) ? requestLine : Buffer.from(requestLine, 'latin1'),
    Buffer.from(`\r\nHost: ${host}\r\nConnection: close\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`, 'latin1'),
  ]);
  const response = await new Promise<Buffer>((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {}); // a reset after the server has answered (e.g. 413 before the body) is fine
    socket.on('close', () => (chunks.length ? resolve(Buffer.concat(chunks)) : reject(new Error(`${label}: connection closed without an answer`))));
    socket.setTimeout(20_000, () => {
      socket.destroy();
      reject(new Error(`${label}: no answer within 20 s (server hung)`));
    });
    socket.write(Buffer.concat([head, Buffer.isBuffer(body) ? body : Buffer.from(body, 'latin1')]));
  });
  const split = response.indexOf('\r\n\r\n');
  const [statusLine, ...headerLines] = response.subarray(0, split).toString('latin1').split('\r\n');
  const parsed = new Headers();
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    parsed.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  let payload = response.subarray(split + 4);
  if (/chunked/i.test(parsed.get('transfer-encoding') ?? '')) payload = dechunk(payload);
  return settle({ label, status: Number(statusLine!.split(' ')[1]), headers: parsed, body: payload.toString('utf8') });
}

function dechunk(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf('\r\n', at);
    const size = parseInt(data.subarray(at, eol).toString('latin1'), 16);
    if (!size) return Buffer.concat(parts);
    parts.push(data.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Shapes of a correct refusal.

/** RFC 6749 §5.2: JSON with an `error` code (restricted charset) and a human-readable description. */
function expectOAuthError(reply: Reply, status: number | number[], error: string | string[]): Record<string, unknown> {
  const statuses = ([] as number[]).concat(status);
  const errors = ([] as string[]).concat(error);
  expect(statuses, `${reply.label}: status ${reply.status}, body ${reply.body.slice(0, 300)}`).toContain(reply.status);
  expect(reply.headers.get('content-type'), `${reply.label}: content-type`).toMatch(/^application\/json/);
  const json = JSON.parse(reply.body) as Record<string, unknown>;
  expect(errors, `${reply.label}: error code in ${reply.body}`).toContain(json.error);
  expect(json.error).toMatch(/^[\x20\x21\x23-\x5B\x5D-\x7E]+$/);
  expect(typeof json.error_description, `${reply.label}: error_description`).toBe('string');
  expect(reply.headers.get('location'), `${reply.label}: must not redirect`).toBeNull();
  return json;
}

/** A readable HTML error page: our layout, the error title, no redirect, not cached. */
function expectErrorPage(reply: Reply, status: number | number[]): void {
  expect(([] as number[]).concat(status), `${reply.label}: status ${reply.status}, body ${reply.body.slice(0, 300)}`).toContain(reply.status);
  expect(reply.headers.get('content-type'), `${reply.label}: content-type`).toMatch(/^text\/html/);
  expect(reply.body, reply.label).toContain(`<h1>${strings.error.title}</h1>`);
  expect(reply.body, reply.label).toContain('</html>');
  expect(reply.headers.get('location'), `${reply.label}: must not redirect`).toBeNull();
  expect(reply.headers.get('cache-control') ?? '', `${reply.label}: cache-control`).toContain('no-store');
}

/** RFC 6749 §4.1.2.1: the error goes back to the registered redirect URI with state and (RFC 9207) iss. */
function expectErrorRedirect(reply: Reply, error: string | string[], state: string): URL {
  expect([302, 303], `${reply.label}: status ${reply.status}, body ${reply.body.slice(0, 300)}`).toContain(reply.status);
  const location = new URL(reply.headers.get('location')!);
  expect(location.origin + location.pathname, `${reply.label}: redirected to an unregistered URI`).toBe(REDIRECT_URI);
  const params = new URLSearchParams(location.search || location.hash.slice(1));
  expect(([] as string[]).concat(error), `${reply.label}: ${location}`).toContain(params.get('error'));
  expect(params.get('state')).toBe(state);
  expect(params.get('iss')).toBe(server.issuer);
  for (const issued of ['code', 'access_token', 'id_token']) expect(params.has(issued), `${reply.label}: ${issued} issued`).toBe(false);
  return location;
}

// ---------------------------------------------------------------------------------------------------------
// Small builders.

const basicOf = (user: string, pass: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` });

function authParams(extra: Record<string, string | undefined> = {}): string {
  const params: Record<string, string | undefined> = {
    client_id: web.client_id,
    response_type: 'code',
    redirect_uri: REDIRECT_URI,
    scope: 'openid',
    code_challenge: CHALLENGE,
    code_challenge_method: 'S256',
    state: 'st-123',
    ...extra,
  };
  return new URLSearchParams(Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined)).toString();
}

async function freshCode(config: oidc.Configuration = webConfig) {
  const result = await authorize(server, config, new BrowserSession(server.issuer));
  return { result, code: result.callback.searchParams.get('code')! };
}

function redeem(label: string, code: string, verifier: string | undefined, client: ClientMetadata = web, extra: Record<string, string> = {}) {
  const fields: Record<string, string> = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, ...extra };
  if (verifier !== undefined) fields.code_verifier = verifier;
  return form(label, '/token', fields, basic(client));
}

/** Opens a real login page (authorize → interaction) and returns the browser, the page and its form action. */
async function openLogin() {
  const session = new BrowserSession(server.issuer);
  const { res, url } = await session.follow(`/auth?${authParams({ code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()) })}`);
  const html = await res.text();
  expect(res.status, html.slice(0, 200)).toBe(200);
  expect(html).toContain('name="password"');
  return { session, html, url, action: formAction(html), uid: url.pathname.split('/').pop()! };
}

const STORED_TABLES: Array<[table: string, key: string]> = [
  ['clients', 'id'],
  ['grants', 'id'],
  ['sessions', 'id_hash'],
  ['interactions', 'id_hash'],
  ['tokens', 'id_hash'],
  ['accounts', 'id'],
  ['keys', 'kid'],
  ['revocations', 'id'],
];

/** Row counts and a digest of every row (so an update, e.g. a consumed code, shows up too). */
async function snapshot() {
  const db = server.runtime.db;
  const counts: Record<string, number> = {};
  const digests: Record<string, string> = {};
  for (const [table, key] of STORED_TABLES) {
    const rows = await db(table).select('*').orderBy(key);
    counts[table] = rows.length;
    digests[table] = createHash('sha256').update(JSON.stringify(rows)).digest('hex');
  }
  return { counts, digests };
}

// ---------------------------------------------------------------------------------------------------------

describe('token endpoint: client authentication', () => {
  it('refuses an unknown client with 401 invalid_client', async () => {
    const viaHeader = await form('unknown client (basic)', '/token', { grant_type: 'client_credentials' }, basicOf('no-such-client', 'x'));
    expectOAuthError(viaHeader, 401, 'invalid_client');
    // RFC 6749 §5.2: a client that tried the Authorization header is told which scheme to use.
    expect(viaHeader.headers.get('www-authenticate')).toMatch(/^Basic /);
    const viaBody = await form('unknown client (post)', '/token', { grant_type: 'client_credentials', client_id: 'no-such-client', client_secret: 'x' });
    expectOAuthError(viaBody, 401, 'invalid_client');
  });

  it('refuses a wrong client secret with 401 invalid_client', async () => {
    const reply = await form('wrong secret', '/token', { grant_type: 'authorization_code', code: 'x', redirect_uri: REDIRECT_URI }, basicOf(web.client_id, 'not-the-secret'));
    expectOAuthError(reply, 401, 'invalid_client');
    const empty = await form('empty secret', '/token', { grant_type: 'authorization_code', code: 'x', redirect_uri: REDIRECT_URI }, basicOf(web.client_id, ''));
    expectOAuthError(empty, [400, 401], ['invalid_client', 'invalid_request']);
  });

  it.each([
    ['bad base64', 'Basic !!!@@@###'],
    ['base64 without a colon', `Basic ${Buffer.from('no-colon-here').toString('base64')}`],
    ['empty credentials', 'Basic '],
    ['extra fields', 'Basic abc def ghi'],
    ['not UTF-8 after decoding', `Basic ${Buffer.from([0xff, 0x3a, 0xfe]).toString('base64')}`],
    ['broken percent-encoding', `Basic ${Buffer.from('%ZZ:%E0%A4%A').toString('base64')}`],
    ['wrong scheme', 'Bearer some-token'],
    ['a bare scheme', 'Basic'],
  ])('refuses a malformed Authorization header (%s) with an OAuth error', async (label, header) => {
    const reply = await form(`authorization header: ${label}`, '/token', { grant_type: 'client_credentials' }, { authorization: header });
    expectOAuthError(reply, [400, 401], ['invalid_request', 'invalid_client']);
  });

  it('refuses two client authentication methods in one request', async () => {
    const reply = await form('basic + post', '/token', { grant_type: 'client_credentials', client_id: web.client_id, client_secret: web.client_secret! }, basic(web));
    expectOAuthError(reply, [400, 401], ['invalid_request', 'invalid_client']);
  });

  it('refuses a very long client id in the Authorization header as an unknown client', async () => {
    const reply = await form('8000-char client id', '/token', { grant_type: 'client_credentials' }, basicOf('a'.repeat(8000), 'x'));
    expectOAuthError(reply, 401, 'invalid_client');
  });
});

describe('token endpoint: malformed requests', () => {
  it('refuses a request without grant_type with invalid_request', async () => {
    expectOAuthError(await form('no grant_type', '/token', { code: 'x' }, basic(web)), 400, 'invalid_request');
    expectOAuthError(await form('empty body', '/token', '', basic(web)), 400, 'invalid_request');
  });

  it.each(['password', 'implicit', 'urn:ietf:params:oauth:grant-type:jwt-bearer', '<script>'])(
    'refuses the unsupported grant_type %s with unsupported_grant_type',
    async (grantType) => {
      const reply = await form(`grant_type=${grantType}`, '/token', { grant_type: grantType, username: 'alice', password: 'correct horse battery' }, basic(web));
      expectOAuthError(reply, 400, 'unsupported_grant_type');
    },
  );

  it('refuses an unparseable form body with an OAuth error', async () => {
    for (const body of ['%%%&&&==%zz%', '&&&&', '=', 'grant_type', '\u0000\u0001\u0002', '{"grant_type":"client_credentials"}']) {
      const reply = await form(`garbage body ${JSON.stringify(body)}`, '/token', body, basic(web));
      expectOAuthError(reply, 400, ['invalid_request', 'unsupported_grant_type']);
    }
  });

  it('refuses a JSON body or other content types with invalid_request', async () => {
    for (const [type, body] of [
      ['application/json', JSON.stringify({ grant_type: 'client_credentials' })],
      ['application/json', '{"grant_type":'],
      ['text/plain', 'grant_type=client_credentials'],
      ['multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\nclient_credentials\r\n--x--'],
      ['application/xml', '<grant_type>client_credentials</grant_type>'],
    ]) {
      const reply = await call(`content-type ${type}`, '/token', { method: 'POST', headers: { 'content-type': type!, ...basic(web) }, body });
      expectOAuthError(reply, 400, 'invalid_request');
    }
    const untyped = await call('no content-type', '/token', { method: 'POST', headers: basic(web), body: 'grant_type=client_credentials' });
    expectOAuthError(untyped, 400, 'invalid_request');
  });

  it('refuses duplicated parameters with invalid_request', async () => {
    for (const body of [
      'grant_type=authorization_code&grant_type=refresh_token&code=x',
      `grant_type=authorization_code&code=a&code=b&redirect_uri=${encodeURIComponent(REDIRECT_URI)}&code_verifier=${'v'.repeat(43)}`,
      `grant_type=client_credentials&client_id=${web.client_id}&client_id=${other.client_id}&client_secret=x`,
    ]) {
      expectOAuthError(await form(`duplicates: ${body.slice(0, 60)}`, '/token', body, basic(web)), [400, 401], ['invalid_request', 'invalid_client']);
    }
  });

  it('refuses a body over 56 KiB announced by Content-Length with 413 and a JSON error', async () => {
    const reply = await form('oversized body', '/token', `grant_type=authorization_code&code=${'a'.repeat(BODY_LIMIT + 1024)}`, basic(web));
    expectOAuthError(reply, 413, 'invalid_request');
  });

  it('refuses a chunked body over 56 KiB (no Content-Length) with 413', async () => {
    const chunk = `grant_type=authorization_code&code=${'a'.repeat(BODY_LIMIT + 1024)}`;
    const reply = await raw(
      'oversized chunked body',
      'POST /token HTTP/1.1',
      ['Content-Type: application/x-www-form-urlencoded', `Authorization: ${basic(web).authorization}`, 'Transfer-Encoding: chunked'],
      `${Buffer.byteLength(chunk).toString(16)}\r\n${chunk}\r\n0\r\n\r\n`,
    );
    expectOAuthError(reply, 413, 'invalid_request');
  });

  it('refuses very long parameter values under the size limit with an OAuth error', async () => {
    const long = 'a'.repeat(50 * 1024);
    expectOAuthError(await redeem('50 KiB code', long, 'v'.repeat(43)), 400, 'invalid_grant');
    expectOAuthError(await redeem('50 KiB code_verifier', 'x', long), 400, ['invalid_request', 'invalid_grant']);
    expectOAuthError(await form('50 KiB grant_type', '/token', { grant_type: long }, basic(web)), 400, 'unsupported_grant_type');
    expectOAuthError(await form('50 KiB refresh token', '/token', { grant_type: 'refresh_token', refresh_token: long }, basic(web)), 400, 'invalid_grant');
    expectOAuthError(await form('50 KiB scope', '/token', { grant_type: 'refresh_token', refresh_token: 'x', scope: long }, basic(web)), 400, ['invalid_grant', 'invalid_scope', 'invalid_request']);
  });

  it('refuses parameters that are not UTF-8 with an OAuth error', async () => {
    const rawBytes = (prefix: string, bytes: number[]) => Buffer.concat([Buffer.from(prefix), Buffer.from(bytes)]);
    const cases: Array<[string, string | Buffer, string[]]> = [
      ['raw bytes in grant_type', rawBytes('grant_type=', [0xff, 0xfe, 0xc3, 0x28]), ['unsupported_grant_type', 'invalid_request']],
      ['percent-encoded bytes in grant_type', 'grant_type=%FF%FE%C3%28', ['unsupported_grant_type', 'invalid_request']],
      ['raw bytes in code', rawBytes(`grant_type=authorization_code&redirect_uri=${encodeURIComponent(REDIRECT_URI)}&code_verifier=${'v'.repeat(43)}&code=`, [0xff, 0xc3, 0x28, 0x00]), ['invalid_grant', 'invalid_request']],
      ['percent-encoded NUL and lone surrogate in code', `grant_type=authorization_code&redirect_uri=${encodeURIComponent(REDIRECT_URI)}&code_verifier=${'v'.repeat(43)}&code=%00%ED%A0%80`, ['invalid_grant', 'invalid_request']],
      ['bytes in refresh_token', rawBytes('grant_type=refresh_token&refresh_token=', [0xc0, 0xaf, 0xff]), ['invalid_grant', 'invalid_request']],
    ];
    for (const [label, body, errors] of cases) {
      expectOAuthError(await form(label, '/token', body, basic(web)), 400, errors);
    }
  });
});

describe('token endpoint: codes, PKCE and refresh tokens', () => {
  it('refuses a wrong PKCE code_verifier with invalid_grant and leaves the code redeemable', async () => {
    const { result, code } = await freshCode();
    expectOAuthError(await redeem('wrong verifier', code, oidc.randomPKCECodeVerifier()), 400, 'invalid_grant');
    expectOAuthError(await redeem('verifier of the wrong length', code, 'abc'), 400, ['invalid_request', 'invalid_grant']);
    // The legitimate holder still gets tokens: a guessed verifier neither burns nor unlocks the code.
    const tokens = await exchange(webConfig, result);
    expect(tokens.access_token).toBeTruthy();
  });

  it('refuses a code redemption without code_verifier with invalid_grant', async () => {
    const { code } = await freshCode();
    expectOAuthError(await redeem('no verifier', code, undefined), 400, 'invalid_grant');
  });

  it('refuses a replayed authorization code with invalid_grant', async () => {
    const { result, code } = await freshCode();
    await exchange(webConfig, result);
    expectOAuthError(await redeem('replayed code', code, result.codeVerifier), 400, 'invalid_grant');
  });

  it('refuses a code presented by another client or with a different redirect_uri', async () => {
    const { result, code } = await freshCode();
    expectOAuthError(await redeem('code of another client', code, result.codeVerifier, other), 400, 'invalid_grant');
    expectOAuthError(await redeem('redirect_uri with a trailing slash', code, result.codeVerifier, web, { redirect_uri: `${REDIRECT_URI}/` }), 400, 'invalid_grant');
    expectOAuthError(await redeem('foreign redirect_uri', code, result.codeVerifier, web, { redirect_uri: EVIL }), 400, 'invalid_grant');
  });

  it("refuses another client's refresh token with invalid_grant and leaves it working for its owner", async () => {
    const tokens = await exchange(webConfig, (await freshCode()).result);
    const reply = await form('refresh token of another client', '/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }, basic(other));
    expectOAuthError(reply, 400, 'invalid_grant');
    await expect(oidc.refreshTokenGrant(otherConfig, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const rotated = await oidc.refreshTokenGrant(webConfig, tokens.refresh_token!);
    expect(rotated.access_token).toBeTruthy();
  });

  it('refuses an access token or ID token presented as a refresh token', async () => {
    const tokens = await exchange(webConfig, (await freshCode()).result);
    for (const [label, value] of [['access token', tokens.access_token], ['ID token', tokens.id_token!]] as const) {
      const reply = await form(`${label} as refresh token`, '/token', { grant_type: 'refresh_token', refresh_token: value }, basic(web));
      expectOAuthError(reply, 400, 'invalid_grant');
    }
  });
});

describe('authorization endpoint', () => {
  it('refuses an unknown client_id with an error page and no redirect', async () => {
    expectErrorPage(await browserGet('unknown client', `/auth?${authParams({ client_id: 'no-such-client' })}`), 400);
    expectErrorPage(await browserGet('unknown client, foreign redirect', `/auth?${authParams({ client_id: 'no-such-client', redirect_uri: EVIL })}`), 400);
    expectErrorPage(await browserGet('no client_id', `/auth?${authParams({ client_id: undefined })}`), 400);
    expectErrorPage(await browserGet('no parameters', '/auth'), 400);
  });

  it('refuses an unregistered redirect URI without redirecting', async () => {
    const reply = await browserGet('foreign redirect_uri', `/auth?${authParams({ redirect_uri: EVIL })}`);
    expectErrorPage(reply, 400);
    expect(reply.body).not.toContain('evil.example');
  });

  // RFC 9700 §4.1.3: exact string matching; none of these near-misses may receive a redirect.
  it.each([
    ['a trailing slash', `${REDIRECT_URI}/`],
    ['an added query', `${REDIRECT_URI}?next=${encodeURIComponent(EVIL)}`],
    ['a different path case', 'http://127.0.0.1:9/Callback'],
    ['a different scheme case', 'HTTP://127.0.0.1:9/callback'],
    ['localhost for 127.0.0.1', 'http://localhost:9/callback'],
    ['userinfo pointing elsewhere', 'http://127.0.0.1:9@evil.example/callback'],
    ['a fragment', `${REDIRECT_URI}#x`],
    ['a percent-encoded path', 'http://127.0.0.1:9/%63allback'],
    ['dot segments', 'http://127.0.0.1:9/x/../callback'],
    ['a doubled slash', 'http://127.0.0.1:9//callback'],
    ['leading whitespace', ` ${REDIRECT_URI}`],
    ['a javascript: URI', 'javascript:alert(document.domain)'],
    ['a javascript: URI hiding the registered one', `javascript:alert(1)//${REDIRECT_URI}`],
    ['a data: URI', 'data:text/html,<script>alert(1)</script>'],
  ])('refuses a redirect URI differing by %s without redirecting', async (label, redirectUri) => {
    const reply = await browserGet(`redirect_uri with ${label}`, `/auth?${authParams({ redirect_uri: redirectUri })}`);
    expectErrorPage(reply, 400);
    expect(reply.body).not.toContain('<script>alert');
  });

  it('refuses an unregistered redirect URI without redirecting even when other parameters are bad too', async () => {
    for (const extra of [
      { response_type: 'token' },
      { code_challenge: undefined, code_challenge_method: undefined },
      { code_challenge_method: 'plain' },
      { scope: 'openid "<x>' },
      { prompt: 'none' },
      { response_mode: 'form_post' },
    ]) {
      expectErrorPage(await browserGet(`foreign redirect_uri + ${JSON.stringify(extra)}`, `/auth?${authParams({ redirect_uri: EVIL, ...extra })}`), 400);
    }
  });

  it('refuses a request without code_challenge (PKCE is required for every client)', async () => {
    const reply = await browserGet('no code_challenge', `/auth?${authParams({ code_challenge: undefined, code_challenge_method: undefined })}`);
    expectErrorRedirect(reply, 'invalid_request', 'st-123');
    // The app is told what to send, in words an operator can act on.
    expect(new URL(reply.headers.get('location')!).searchParams.get('error_description')).toBe(PKCE_MISSING);
    const publicClient = await createClient(server, { name: 'SPA', authMethod: 'none' });
    const spa = await browserGet('public client, no code_challenge', `/auth?${authParams({ client_id: publicClient.client_id, code_challenge: undefined, code_challenge_method: undefined })}`);
    expectErrorRedirect(spa, 'invalid_request', 'st-123');
  });

  it('refuses code_challenge_method=plain and malformed challenges', async () => {
    expectErrorRedirect(await browserGet('plain', `/auth?${authParams({ code_challenge_method: 'plain', code_challenge: 'a'.repeat(43) })}`), 'invalid_request', 'st-123');
    expectErrorRedirect(await browserGet('unknown method', `/auth?${authParams({ code_challenge_method: 'S512' })}`), 'invalid_request', 'st-123');
    expectErrorRedirect(await browserGet('short challenge', `/auth?${authParams({ code_challenge: 'short' })}`), 'invalid_request', 'st-123');
  });

  it.each(['token', 'id_token', 'code id_token', 'code token', 'id_token token', 'none'])(
    'refuses response_type=%s (OAuth 2.1: code only) without issuing anything',
    async (responseType) => {
      const reply = await browserGet(`response_type=${responseType}`, `/auth?${authParams({ response_type: responseType, nonce: 'n-1' })}`);
      expectErrorRedirect(reply, ['unsupported_response_type', 'invalid_request', 'unauthorized_client'], 'st-123');
    },
  );

  it('refuses duplicated authorization parameters with an error page or an error at the registered URI', async () => {
    expectErrorPage(await browserGet('duplicate client_id', `/auth?${authParams()}&client_id=${other.client_id}`), 400);
    for (const [name, value] of [['redirect_uri', EVIL], ['redirect_uri', REDIRECT_URI], ['response_type', 'token'], ['code_challenge', CHALLENGE], ['state', 'other']]) {
      const reply = await browserGet(`duplicate ${name}`, `/auth?${authParams()}&${name}=${encodeURIComponent(value!)}`);
      if (reply.headers.get('location')) {
        const location = new URL(reply.headers.get('location')!);
        expect(location.origin + location.pathname, `duplicate ${name}: redirected to an unregistered URI`).toBe(REDIRECT_URI);
        expect(new URLSearchParams(location.search || location.hash.slice(1)).get('error')).toBe('invalid_request');
        expect(location.searchParams.has('code')).toBe(false);
      } else {
        expectErrorPage(reply, 400);
      }
    }
  });

  it('refuses request objects, request_uri and unknown response modes at the registered URI', async () => {
    expectErrorRedirect(await browserGet('request=garbage', `/auth?${authParams({ request: 'not.a.jwt' })}`), ['request_not_supported', 'invalid_request_object', 'invalid_request'], 'st-123');
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ redirect_uri: EVIL })).toString('base64url')}.`;
    expectErrorRedirect(await browserGet('unsigned request object', `/auth?${authParams({ request: unsigned })}`), ['request_not_supported', 'invalid_request_object', 'invalid_request'], 'st-123');
    expectErrorRedirect(await browserGet('request_uri', `/auth?${authParams({ request_uri: 'https://evil.example/request' })}`), ['request_uri_not_supported', 'invalid_request_uri', 'invalid_request'], 'st-123');
    expectErrorRedirect(await browserGet('response_mode=evil', `/auth?${authParams({ response_mode: 'evil' })}`), ['unsupported_response_mode', 'invalid_request'], 'st-123');
  });

  it('answers bad percent-encoding in the query with an error page, not a crash', async () => {
    const reply = await raw('bad percent-encoding in /auth query', 'GET /auth?client_id=%E0%A4%A&redirect_uri=%ZZ HTTP/1.1', ['Accept: text/html']);
    expectErrorPage(reply, 400);
  });

  it('refuses a pushed authorization request with an unregistered redirect URI or without client auth', async () => {
    const fields = Object.fromEntries(new URLSearchParams(authParams({ redirect_uri: EVIL })));
    expectOAuthError(await form('PAR with foreign redirect_uri', '/request', fields, basic(web)), 400, ['invalid_request', 'invalid_redirect_uri']);
    expectOAuthError(await form('PAR without client auth', '/request', Object.fromEntries(new URLSearchParams(authParams()))), [400, 401], ['invalid_client', 'invalid_request']);
  });

  it('refuses an unregistered post_logout_redirect_uri with an error page and no redirect', async () => {
    const params = new URLSearchParams({ client_id: web.client_id, post_logout_redirect_uri: EVIL, state: 's' });
    expectErrorPage(await browserGet('foreign post_logout_redirect_uri', `/session/end?${params}`), 400);
    const garbageHint = new URLSearchParams({ id_token_hint: 'garbage', post_logout_redirect_uri: EVIL });
    expectErrorPage(await browserGet('garbage id_token_hint', `/session/end?${garbageHint}`), 400);
  });
});

describe('introspection and revocation', () => {
  it('refuses requests without client authentication with an OAuth error', async () => {
    for (const path of ['/token/introspection', '/token/revocation']) {
      expectOAuthError(await form(`${path} without auth`, path, { token: 'garbage' }), [400, 401], ['invalid_request', 'invalid_client']);
      expectOAuthError(await form(`${path} with a wrong secret`, path, { token: 'garbage' }, basicOf(web.client_id, 'nope')), 401, 'invalid_client');
      expectOAuthError(await form(`${path} with an unknown client`, path, { token: 'garbage' }, basicOf('no-such-client', 'nope')), 401, 'invalid_client');
      expectOAuthError(await form(`${path} with a malformed header`, path, { token: 'garbage' }, { authorization: 'Basic %%%' }), [400, 401], ['invalid_request', 'invalid_client']);
    }
  });

  it('refuses requests without a token or with a JSON body with invalid_request', async () => {
    for (const path of ['/token/introspection', '/token/revocation']) {
      expectOAuthError(await form(`${path} without token`, path, {}, basic(web)), 400, 'invalid_request');
      const json = await call(`${path} JSON body`, path, { method: 'POST', headers: { 'content-type': 'application/json', ...basic(web) }, body: '{"token":"x"}' });
      expectOAuthError(json, 400, 'invalid_request');
      expectOAuthError(await form(`${path} duplicate token`, path, 'token=a&token=b', basic(web)), 400, 'invalid_request');
      expectOAuthError(await form(`${path} oversized`, path, `token=${'a'.repeat(BODY_LIMIT + 1)}`, basic(web)), 413, 'invalid_request');
    }
  });

  it('answers garbage tokens as inactive (introspection) and with 200 or unsupported_token_type (revocation)', async () => {
    for (const token of ['garbage', 'a'.repeat(4000), '\u00ff', '../../etc/passwd']) {
      const introspected = await form('introspect garbage', '/token/introspection', { token }, basic(web));
      expect(introspected.status).toBe(200);
      expect(JSON.parse(introspected.body)).toEqual({ active: false });
      const revoked = await form('revoke garbage', '/token/revocation', { token, token_type_hint: 'refresh_token' }, basic(web));
      expect(revoked.status).toBe(200);
    }
    // A NUL is refused before any lookup, as a malformed request (test/core/hostile-input.test.ts).
    for (const path of ['/token/introspection', '/token/revocation']) {
      expectOAuthError(await form(`${path} NUL token`, path, { token: '\u00ff\u0000' }, basic(web)), 400, 'invalid_request');
    }
    // A JWT-shaped token is refused as a type the engine does not introspect or revoke (RFC 7009 §2.2.1).
    const jwtShaped = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.';
    const introspectedJwt = await form('introspect JWT-shaped garbage', '/token/introspection', { token: jwtShaped }, basic(web));
    if (introspectedJwt.status === 200) expect(JSON.parse(introspectedJwt.body)).toEqual({ active: false });
    else expectOAuthError(introspectedJwt, 400, 'unsupported_token_type');
    const revokedJwt = await form('revoke JWT-shaped garbage', '/token/revocation', { token: jwtShaped }, basic(web));
    if (revokedJwt.status !== 200) expectOAuthError(revokedJwt, 400, 'unsupported_token_type');
    const badHint = await form('revoke with unknown hint', '/token/revocation', { token: 'garbage', token_type_hint: '<evil>' }, basic(web));
    expect([200, 400]).toContain(badHint.status);
  });

  it('does not revoke a token when the revocation request is unauthenticated', async () => {
    const tokens = await exchange(webConfig, (await freshCode()).result);
    await form('revoke without auth', '/token/revocation', { token: tokens.refresh_token! });
    await form('revoke with wrong secret', '/token/revocation', { token: tokens.refresh_token! }, basicOf(web.client_id, 'nope'));
    expect((await oidc.tokenIntrospection(webConfig, tokens.refresh_token!)).active).toBe(true);
  });
});

describe('userinfo endpoint', () => {
  it('refuses garbage bearer tokens with 401 invalid_token', async () => {
    for (const token of ['garbage', 'a'.repeat(10_000), 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', '....', 'null']) {
      const reply = await call('garbage bearer', '/me', { headers: { authorization: `Bearer ${token}` } });
      expectOAuthError(reply, 401, 'invalid_token');
      expect(reply.headers.get('www-authenticate')).toMatch(/^Bearer .*error="invalid_token"/);
    }
    const posted = await form('garbage bearer in body', '/me', { access_token: 'garbage' });
    expectOAuthError(posted, 401, 'invalid_token');
  });

  it('refuses a request without a token with 401', async () => {
    const reply = await call('no bearer', '/me');
    expectOAuthError(reply, 401, 'invalid_token');
    expect(reply.headers.get('www-authenticate')).toMatch(/^Bearer /);
  });

  it('refuses malformed Authorization headers and tokens in the query with an OAuth error', async () => {
    for (const header of ['Bearer ', 'Bearer a b', 'Basic abc', 'Bearer', 'bearer\tx y']) {
      const reply = await call(`userinfo header ${JSON.stringify(header)}`, '/me', { headers: { authorization: header } });
      expectOAuthError(reply, [400, 401], ['invalid_request', 'invalid_token']);
    }
    expectOAuthError(await call('token in query', '/me?access_token=garbage'), [400, 401], ['invalid_request', 'invalid_token']);
    const dpop = await call('garbage DPoP', '/me', { headers: { authorization: 'DPoP garbage', dpop: 'garbage' } });
    expectOAuthError(dpop, [400, 401], ['invalid_dpop_proof', 'invalid_token', 'invalid_request']);
  });

  it('refuses an ID token or refresh token used as an access token', async () => {
    const tokens = await exchange(webConfig, (await freshCode()).result);
    for (const [label, value] of [['ID token', tokens.id_token!], ['refresh token', tokens.refresh_token!]] as const) {
      expectOAuthError(await call(`${label} as bearer`, '/me', { headers: { authorization: `Bearer ${value}` } }), 401, 'invalid_token');
    }
  });
});

describe('routes, paths and methods', () => {
  it('answers unknown routes with a 404 OAuth-style JSON error', async () => {
    for (const path of ['/no-such-route', '/admin', '/.env', '/api/v1/users', '/interaction', '/token/unknown', '/.well-known/unknown']) {
      expectOAuthError(await call(`GET ${path}`, path), 404, ['not_found', 'invalid_request']);
    }
    expectOAuthError(await call('POST unknown', '/no-such-route', { method: 'POST', body: 'x=1' }), [404, 405], ['not_found', 'invalid_request']);
  });

  it.each([
    '/assets/../package.json',
    '/assets/../../../../etc/passwd',
    '/assets/%2e%2e/package.json',
    '/assets/%2e%2e%2fpackage.json',
    '/assets/..%2f..%2fpackage.json',
    '/assets/..\\..\\package.json',
    '/assets/style.css/../../package.json',
    '/assets/....//....//package.json',
    '//package.json',
    '/views/error.eta',
    '/src/app.ts',
    '/migrations/index.ts',
  ])('serves no file for the traversal-ish path %s', async (path) => {
    const reply = await raw(`GET ${path}`, `GET ${path} HTTP/1.1`);
    expect([400, 403, 404], `${path}: ${reply.status}`).toContain(reply.status);
    expect(reply.body).not.toContain('"dependencies"');
    expect(reply.body).not.toContain('root:');
    expect(reply.body).not.toContain('<%');
    expect(reply.body).not.toContain('import ');
  });

  it('still serves the stylesheet (the traversal refusals above are not a broken asset route)', async () => {
    const reply = await call('stylesheet', '/assets/style.css');
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toMatch(/^text\/css/);
  });

  it('refuses request targets that are not valid UTF-8 or percent-encoding without a server error', async () => {
    const notUtf8 = await raw('raw bytes in path', Buffer.concat([Buffer.from('GET /interaction/'), Buffer.from([0xff, 0xfe]), Buffer.from(' HTTP/1.1')]), ['Accept: text/html']);
    expect(notUtf8.status).toBe(400);
    for (const path of ['/interaction/%E0%A4%A', '/%ZZ', '/interaction/%00', '/interaction/%3Cscript%3Ealert(1)%3C%2Fscript%3E']) {
      const reply = await raw(`GET ${path}`, `GET ${path} HTTP/1.1`, ['Accept: text/html']);
      expect([400, 404], `${path}: ${reply.status}`).toContain(reply.status);
      expect(reply.body).not.toContain('<script>alert');
    }
  });

  it('refuses malformed HTTP framing with 4xx', async () => {
    const bad = ['Content-Type: application/x-www-form-urlencoded'];
    expect((await raw('non-numeric Content-Length', 'POST /token HTTP/1.1', [...bad, 'Content-Length: abc'], 'grant_type=x')).status).toBe(400);
    expect((await raw('Content-Length + chunked', 'POST /token HTTP/1.1', [...bad, 'Content-Length: 5', 'Transfer-Encoding: chunked'], '0\r\n\r\n')).status).toBe(400);
    expect((await raw('two Content-Lengths', 'POST /token HTTP/1.1', [...bad, 'Content-Length: 1', 'Content-Length: 12'], 'grant_type=x')).status).toBe(400);
    expect((await raw('oversized header', 'GET /auth HTTP/1.1', [`X-Big: ${'a'.repeat(20_000)}`])).status).toBe(431);
  });

  const ENDPOINTS = ['/token', '/auth', '/me', '/jwks', '/token/introspection', '/token/revocation', '/.well-known/openid-configuration', '/interaction/abc', '/session/end', '/healthz'];

  it('answers HEAD, OPTIONS, PUT, DELETE and PATCH on every endpoint without a server error', async () => {
    for (const path of ENDPOINTS) {
      for (const method of ['HEAD', 'OPTIONS', 'PUT', 'DELETE', 'PATCH']) {
        const reply = await call(`${method} ${path}`, path, { method, headers: { accept: 'application/json' } });
        if (method === 'HEAD') expect(reply.body, `${method} ${path}`).toBe('');
        if (['PUT', 'DELETE', 'PATCH'].includes(method)) expect(reply.status, `${method} ${path}`).toBeGreaterThanOrEqual(400);
      }
    }
    const preflight = await call('CORS preflight', '/token', { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect([200, 204]).toContain(preflight.status);
    for (const path of ['/jwks', '/.well-known/openid-configuration', '/healthz']) {
      expect((await call(`HEAD ${path}`, path, { method: 'HEAD' })).status, `HEAD ${path}`).toBe(200);
    }
  });

  it('refuses unsupported methods with a spec-shaped 404/405 JSON error', async () => {
    for (const path of ENDPOINTS) {
      for (const method of ['PUT', 'DELETE', 'PATCH']) {
        const reply = await call(`${method} ${path}`, path, { method, headers: { accept: 'application/json' } });
        expectOAuthError(reply, [404, 405], ['not_found', 'invalid_request', 'method_not_allowed']);
      }
    }
  });
});

describe('interaction pages', () => {
  it('answers /interaction/<random uid> without a cookie with a readable error page', async () => {
    const page = await browserGet('random interaction uid', `/interaction/${'x'.repeat(43)}`);
    expectErrorPage(page, [400, 404]);
    const json = await call('random interaction uid (JSON)', `/interaction/${'x'.repeat(43)}`, { headers: { accept: 'application/json' } });
    expectOAuthError(json, [400, 404], ['invalid_request', 'not_found', 'session_not_found']);
    const scripted = await browserGet('uid with markup', `/interaction/${encodeURIComponent('<script>alert(1)</script>')}`);
    expectErrorPage(scripted, [400, 404]);
    expect(scripted.body).not.toContain('<script>alert');
  });

  it.each(['login', 'confirm', 'abort'])('refuses POST /interaction/x/%s without a CSRF token with a 403 page', async (step) => {
    const reply = await call(`POST ${step} without csrf`, `/interaction/x/${step}`, {
      method: 'POST',
      headers: { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' },
      body: 'username=alice&password=correct+horse+battery',
    });
    expectErrorPage(reply, 403);
  });

  it('refuses a login post with a missing, wrong or foreign CSRF token and signs nobody in', async () => {
    const { session, html, action, url } = await openLogin();
    const foreign = csrfField((await openLogin()).html);
    const sessionsBefore = await server.runtime.db('sessions').whereNotNull('account_id').count<{ n: string }[]>({ n: '*' });
    for (const [label, csrf] of [['missing', undefined], ['wrong', 'A'.repeat(43)], ['another browser', foreign], ['empty', ''], ['oversized', 'A'.repeat(5000)]] as const) {
      const fields: Record<string, string> = { username: 'alice', password: 'correct horse battery' };
      if (csrf !== undefined) fields.csrf = csrf;
      const res = await session.postForm(action, fields);
      const reply = settle({ label: `login with ${label} csrf`, status: res.status, headers: res.headers, body: await res.text() });
      expectErrorPage(reply, 403);
    }
    const sessionsAfter = await server.runtime.db('sessions').whereNotNull('account_id').count<{ n: string }[]>({ n: '*' });
    expect(Number(sessionsAfter[0]!.n)).toBe(Number(sessionsBefore[0]!.n));
    // The interaction is untouched and the genuine token still works, so the 403s were the CSRF check.
    const again = await session.request(url);
    const page = await again.text();
    expect(again.status).toBe(200);
    expect(page).toContain('name="password"');
    const ok = await session.postForm(action, { csrf: csrfField(html), username: 'alice', password: 'correct horse battery' });
    expect(ok.status).toBe(303);
  });

  it("refuses another browser's interaction uid with an error page", async () => {
    const victim = await openLogin();
    const attacker = await openLogin();
    const res = await attacker.session.request(`/interaction/${victim.uid}`);
    expectErrorPage(settle({ label: "another browser's uid", status: res.status, headers: res.headers, body: await res.text() }), [400, 403]);
  });

  it('refuses an oversized login form with 413', async () => {
    const { session, action, html } = await openLogin();
    const res = await session.postForm(action, { csrf: csrfField(html), username: 'alice', password: 'p'.repeat(BODY_LIMIT + 10) });
    expectErrorPage(settle({ label: 'oversized login form', status: res.status, headers: res.headers, body: await res.text() }), 413);
    const chunked = await raw(
      'oversized chunked login form',
      `POST ${action} HTTP/1.1`,
      ['Accept: text/html', 'Content-Type: application/x-www-form-urlencoded', 'Transfer-Encoding: chunked', `Cookie: ${session.cookieHeader()}`],
      `${(BODY_LIMIT + 10).toString(16)}\r\n${'a'.repeat(BODY_LIMIT + 10)}\r\n0\r\n\r\n`,
    );
    expectErrorPage(chunked, 413);
  });

  it('survives malformed cookies on every browser endpoint', async () => {
    const junk = [
      'tessera.interaction=%%%; tessera.interaction.sig=@@@; ;;; =; tessera.session="unterminated; tessera.csrf=\xff\xfe',
      'tessera.session=%E0%A4%A; tessera.session.sig=%ZZ; tessera.session.legacy=x',
      `tessera.csrf=${'A'.repeat(43)}; tessera.csrf.sig=forged; tessera.resume=../../etc/passwd`,
      `tessera.session=${'s'.repeat(4000)}`,
    ];
    for (const cookie of junk) {
      const page = await raw('malformed cookies on interaction page', 'GET /interaction/abc HTTP/1.1', ['Accept: text/html', `Cookie: ${cookie}`]);
      expectErrorPage(page, [400, 403, 404]);
      const post = await raw(
        'malformed cookies on login post',
        'POST /interaction/abc/login HTTP/1.1',
        ['Accept: text/html', 'Content-Type: application/x-www-form-urlencoded', 'Content-Length: 26', `Cookie: ${cookie}`],
        `csrf=${'A'.repeat(21)}`,
      );
      expectErrorPage(post, 403);
      // A valid authorization request with junk cookies starts a fresh sign-in: the junk is ignored.
      const authz = await raw('malformed cookies on /auth', `GET /auth?${authParams()} HTTP/1.1`, ['Accept: text/html', `Cookie: ${cookie}`]);
      expect(authz.status, authz.body.slice(0, 200)).toBe(303);
      expect(authz.headers.get('location')).toMatch(/^\/interaction\/[\w-]+$/);
      const resume = await raw('malformed cookies on resume', 'GET /auth/abc HTTP/1.1', ['Accept: text/html', `Cookie: ${cookie}`]);
      expectErrorPage(resume, [400, 404]);
    }
  });
});

describe('stored data', () => {
  it('is unchanged by a batch of hostile requests that are all refused', async () => {
    // Live material an attacker would love to use or destroy, created before the snapshot.
    const pending = await freshCode();
    const tokens = await exchange(webConfig, (await freshCode()).result);
    const login = await openLogin();
    const before = await snapshot();

    const q = (extra: Record<string, string | undefined>) => `/auth?${authParams(extra)}`;
    const refusals: Array<Promise<Reply>> = [
      browserGet('authz: foreign redirect', q({ redirect_uri: EVIL })),
      browserGet('authz: trailing slash', q({ redirect_uri: `${REDIRECT_URI}/` })),
      browserGet('authz: unknown client', q({ client_id: 'no-such-client' })),
      browserGet('authz: no PKCE', q({ code_challenge: undefined, code_challenge_method: undefined })),
      browserGet('authz: plain', q({ code_challenge_method: 'plain' })),
      browserGet('authz: token', q({ response_type: 'token' })),
      browserGet('end session: foreign uri', `/session/end?${new URLSearchParams({ client_id: web.client_id, post_logout_redirect_uri: EVIL })}`),
      form('token: unknown client', '/token', { grant_type: 'client_credentials' }, basicOf('no-such-client', 'x')),
      form('token: wrong secret', '/token', { grant_type: 'authorization_code', code: pending.code, redirect_uri: REDIRECT_URI, code_verifier: pending.result.codeVerifier }, basicOf(web.client_id, 'nope')),
      redeem('token: wrong verifier', pending.code, oidc.randomPKCECodeVerifier()),
      redeem('token: no verifier', pending.code, undefined),
      redeem('token: other client', pending.code, pending.result.codeVerifier, other),
      redeem('token: redirect mismatch', pending.code, pending.result.codeVerifier, web, { redirect_uri: `${REDIRECT_URI}/` }),
      form('token: refresh by other client', '/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }, basic(other)),
      form('token: garbage', '/token', '%%%&&&', basic(web)),
      form('token: oversized', '/token', `grant_type=refresh_token&refresh_token=${'a'.repeat(BODY_LIMIT + 1)}`, basic(web)),
      form('token: duplicates', '/token', `grant_type=refresh_token&refresh_token=${tokens.refresh_token}&refresh_token=x`, basic(web)),
      form('revoke: by other client', '/token/revocation', { token: tokens.refresh_token! }, basic(other)),
      form('revoke: access token by other client', '/token/revocation', { token: tokens.access_token }, basic(other)),
      form('revoke: without auth', '/token/revocation', { token: tokens.refresh_token! }),
      form('revoke: garbage', '/token/revocation', { token: 'garbage' }, basic(web)),
      form('introspect: by other client', '/token/introspection', { token: tokens.access_token }, basic(other)),
      call('userinfo: garbage', '/me', { headers: { authorization: 'Bearer garbage' } }),
      call('unknown route', '/no-such-route', { method: 'POST', body: 'x' }),
    ];
    for (const reply of await Promise.all(refusals)) {
      if (reply.label.startsWith('introspect:')) expect(JSON.parse(reply.body)).toEqual({ active: false });
      else if (reply.label.startsWith('revoke:') && reply.status === 200) continue; // RFC 7009 §2.2: 200 even when nothing is revoked
      else expect(reply.status, `${reply.label} was not refused: ${reply.body.slice(0, 200)}`).toBeGreaterThanOrEqual(300);
    }
    // Browser posts that must bounce off the CSRF check, with the right password.
    for (const step of ['login', 'confirm', 'abort']) {
      const res = await login.session.postForm(`/interaction/${login.uid}/${step}`, { username: 'alice', password: 'correct horse battery' });
      expect(res.status, `${step} without csrf`).toBe(403);
      await res.arrayBuffer();
    }

    const after = await snapshot();
    expect(after.counts).toEqual(before.counts);
    expect(after.digests).toEqual(before.digests);

    // And the live material still works for its rightful owner.
    expect((await exchange(webConfig, pending.result)).access_token).toBeTruthy();
    expect((await oidc.refreshTokenGrant(webConfig, tokens.refresh_token!)).access_token).toBeTruthy();
  });
});

describe('server log', () => {
  it('recorded no error-level line for any request in this file', () => {
    const errors = server.logs
      .flatMap((line) => line.split('\n'))
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { level: number; msg?: string })
      .filter((entry) => entry.level >= 50);
    expect(errors.map((e) => e.msg)).toEqual([]);
  });
});
