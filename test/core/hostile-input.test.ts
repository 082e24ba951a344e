// Hostile bytes get 400, never 500 (docs/security.md, "Input the server refuses at the edge").
// Property-based (fast-check, fixed seed; FC_SEED=<n> explores another sequence) over every route the server
// has: the engine's (from discovery), the host's, and every admin API route from its route table, with and
// without a valid admin token.
//   1. A request carrying a NUL, an unpaired surrogate, malformed percent-encoding or bytes that are not UTF-8
//      — in its path, query, form or JSON body, or Basic credentials — is refused (400 invalid_request
//      outside the admin API, a 4xx inside it) and changes no stored row.
//   2. A request carrying merely odd values (huge strings and numbers, CR/LF, unicode, impossible dates,
//      odd but valid percent-encodings) never gets a 5xx.
// Then one regression test per 500 that was found, the error renderers' safety net, and the revocation
// feed's cursor bounds and per-client stream cap.
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import Koa from 'koa';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { z } from 'zod';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession, csrfField, formAction } from '../helpers/browser-session.ts';
import { basic, createClient, createUser, REDIRECT_URI } from '../helpers/oauth.ts';
import { adminSession, type Api } from '../admin/helpers.ts';
import { runOperation } from '../../src/services/operations.ts';
import { parseConfig } from '../../src/config.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';
import { adminRoutes } from '../../src/http/admin/routes/index.ts';
import type { AdminRoute } from '../../src/http/admin/route.ts';
import { errorHandler } from '../../src/http/middleware/error-handler.ts';
import { MAX_CURSOR } from '../../src/http/revocation-feed.ts';
import { strings } from '../../src/http/strings.ts';
import { createLogger } from '../../src/logger.ts';
import { guardDatabase } from '../../src/oidc/database-errors.ts';
import { isUnrepresentableInput } from '../../src/problem.ts';

const SEED = Number(process.env.FC_SEED ?? 20_260_417);
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'; // RFC 7636 appendix B

let server: TestServer;
let web: ClientMetadata;
let admin: { api: Api; token: string };
let feed: { clientId: string; clientSecret: string; token: string };
let otherFeed: { token: string };

async function feedClient(identifier: string) {
  const made = await runOperation(server.operations, 'resource.create', { identifier, name: identifier });
  const { client_id: clientId, client_secret: clientSecret } = made.introspection_client;
  const res = await fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...basic({ client_id: clientId, client_secret: clientSecret } as ClientMetadata) },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: `${server.issuer}/revocations`, scope: 'revocations:read' }),
  });
  const body = (await res.json()) as { access_token: string };
  expect(res.status, JSON.stringify(body)).toBe(200);
  return { clientId, clientSecret, token: body.access_token };
}

beforeAll(async () => {
  // No expired-row clean-up while the suite runs: the stored-data digests must only see our requests.
  server = await startTestServer({ env: { CLEANUP_INTERVAL: '3600' } });
  await createUser(server, 'alice');
  web = await createClient(server, { name: 'Web App' });
  admin = await adminSession(server);
  feed = await feedClient('https://api.example.test');
  otherFeed = await feedClient('https://other-api.example.test');
});
afterAll(() => server?.stop());

// ---------------------------------------------------------------------------------------------------------
// Stored data: a digest of every row of every table, except those that record requests as such.

const REQUEST_LEVEL_TABLES = new Set(['audit_events', 'login_attempts', 'knex_migrations', 'knex_migrations_lock']);

async function digest(): Promise<Record<string, string>> {
  const db = server.runtime.db;
  const tables = (await db.raw(`select tablename from pg_tables where schemaname = current_schema() order by 1`)).rows as Array<{ tablename: string }>;
  const out: Record<string, string> = {};
  for (const { tablename } of tables) {
    if (REQUEST_LEVEL_TABLES.has(tablename)) continue;
    const rows = (await db(tablename).select('*')) as unknown[];
    const lines = rows.map((r) => JSON.stringify(r)).sort();
    out[tablename] = `${rows.length}:${createHash('sha256').update(lines.join('\n')).digest('hex').slice(0, 16)}`;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Encodings. Percent-encoding of any UTF-16 string, unpaired surrogates included (as the 3-byte sequences
// of generalised UTF-8, which no decoder may accept): encodeURIComponent would throw on those.

function utf8Bytes(s: string): number[] {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    let cp = s.charCodeAt(i);
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < s.length) {
      const low = s.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        i++;
      }
    }
    if (cp < 0x80) bytes.push(cp);
    else if (cp < 0x800) bytes.push(0xc0 | (cp >> 6), 0x80 | (cp & 63));
    else if (cp < 0x10000) bytes.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
    else bytes.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
  }
  return bytes;
}

type Style = 'upper' | 'lower' | 'all';
function pct(s: string, style: Style = 'upper'): string {
  return utf8Bytes(s)
    .map((b) => {
      const c = String.fromCharCode(b);
      if (style !== 'all' && b < 0x80 && /[A-Za-z0-9._~-]/.test(c)) return c;
      const hex = b.toString(16).padStart(2, '0');
      return `%${style === 'lower' ? hex : hex.toUpperCase()}`;
    })
    .join('');
}

// ---------------------------------------------------------------------------------------------------------
// Values.

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const ascii = fc.string({ maxLength: 8 });

/** Decoded text the server must refuse: a NUL or an unpaired surrogate somewhere. */
const poisonText = fc.oneof(
  fc.constantFrom('\u0000', 'a\u0000b', '\u0000\u0000\u0000', 'x\ud800', '\udfffy', '\ud800\ud800', '\udc00\ud800'),
  fc.tuple(ascii, loneSurrogate, ascii).map(([a, s, b]) => a + s + b),
  fc.tuple(ascii, ascii).map(([a, b]) => `${a}\u0000${b}`),
);

/** Percent-sequences no strict decoder accepts: malformed, overlong, surrogates, beyond U+10FFFF, stray bytes. */
const MALFORMED = ['%', '%Z', '%ZZ', '%0', '%%', '%E0%A4%A', '%C0%80', '%C1%BF', '%E0%80%80', '%FF', '%FE%FF', '%ED%A0%80', '%ED%BF%BF', '%F4%90%80%80', '%F8%88%80%80%80', '%C3%28', '%80', '%u0000'];

/** An already-encoded (URL or form) value the edge must refuse. */
const poisonEncoded = fc.oneof(
  poisonText.map((s) => pct(s)),
  // The `~` keeps what follows from completing the sequence (`%E0%A4%A` + `0` would be valid).
  fc.tuple(ascii.map((s) => pct(s)), fc.constantFrom(...MALFORMED), ascii.map((s) => pct(s))).map(([a, m, b]) => `${a}${m}~${b}`),
);

/** Odd but well-formed text: the server may refuse it, but never with a 5xx. */
const ODD = [
  '', ' ', '\r\n', 'a\r\nSet-Cookie: x=1', '\t', '\u0001\u001f\u007f', '%', '%25', '%2500', '+', '&=', '..', '../../etc/passwd', '/', '\\',
  '<script>alert(1)</script>', "' OR '1'='1", '"', '{}', '[]', 'null', 'true', '\ufeff', '\u202e', '\uffff', '\ufffd', '😀', 'é', 'Ω≈ç√',
  '𝕏'.repeat(50), '0000-01-01T00:00:00Z', '0000-01-01T00:00:00.000000Z', '9999-12-31T23:59:59.999999Z', '+275760-09-13T00:00:00Z',
  '2026-02-30T00:00:00Z', 'NaN', 'Infinity', '-Infinity', '1e309', '-1', '0', '-0', '9223372036854775807', '9223372036854775808',
  '-9223372036854775809', '99999999999999999999999999999999', '0x1F', '1.5', 'client_credentials', 'authorization_code',
  'refresh_token', 'openid', 'code', 'S256', 'none', 'consent', 'alice', REDIRECT_URI, 'https://evil.example/cb',
];
const oddText = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...ODD) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.integer({ min: 200, max: 6000 }).map((n) => 'x'.repeat(n)) },
  { weight: 2, arbitrary: fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }).map(String) },
  { weight: 1, arbitrary: fc.double().map(String) },
);
const oddEncoded = fc.tuple(oddText, fc.constantFrom<Style>('upper', 'lower', 'all')).map(([s, style]) => pct(s, style));

/** Odd JSON values: numbers out of every range, nesting, odd strings. */
const oddJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    oddText,
    fc.constantFrom(0, -1, 1e308, -1e308, 2 ** 53 + 1, -(2 ** 63), 1.5, null, true, false),
    fc.double(),
    fc.integer(),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 12 }), tie('value'), { maxKeys: 3 }),
  ),
})).value;

/** JSON text holding a hostile string somewhere (JSON.stringify writes NUL and lone surrogates as \u escapes). */
const poisonJson = fc.tuple(fc.dictionary(fc.string({ maxLength: 10 }), oddJson, { maxKeys: 3 }), poisonText, fc.constantFrom('value', 'key', 'nested')).map(([base, bad, where]) => {
  if (where === 'key') return JSON.stringify({ ...base, [bad]: 'x' });
  if (where === 'nested') return JSON.stringify({ ...base, nested: [{ deeper: ['ok', bad] }] });
  return JSON.stringify({ ...base, client_name: bad });
});

// ---------------------------------------------------------------------------------------------------------
// Routes. Engine endpoints come from discovery; the host's are listed; the admin API's come from its route table.

interface Target {
  kind: 'edge' | 'admin';
  method: string;
  /** Router syntax: `:name` segments are filled with generated values. */
  path: string;
  /** Names of query parameters worth sending (more are added at random). */
  queryNames: string[];
  /** Field names of a body (form or JSON). */
  bodyNames: string[];
  json: boolean;
  route?: AdminRoute;
}

const OAUTH_NAMES = [
  'client_id', 'client_secret', 'response_type', 'redirect_uri', 'scope', 'state', 'nonce', 'code_challenge', 'code_challenge_method',
  'prompt', 'max_age', 'login_hint', 'id_token_hint', 'post_logout_redirect_uri', 'resource', 'request', 'request_uri', 'response_mode',
  'claims', 'ui_locales', 'grant_type', 'code', 'refresh_token', 'code_verifier', 'token', 'token_type_hint', 'access_token',
];
const FORM_NAMES = ['csrf', 'username', 'password', 'remember', 'client_id', 'upstream', 'subject', 'email', 'name', 'logout', 'xsrf'];
const REGISTRATION_NAMES = ['client_name', 'redirect_uris', 'grant_types', 'response_types', 'scope', 'token_endpoint_auth_method', 'jwks', 'logo_uri', 'contacts'];

function shapeKeys(schema: z.ZodType | undefined): string[] {
  const shape = (schema as unknown as { shape?: Record<string, unknown> } | undefined)?.shape;
  return shape ? Object.keys(shape) : [];
}

function edge(method: string, path: string, extra: Partial<Target> = {}): Target {
  return { kind: 'edge', method, path, queryNames: OAUTH_NAMES, bodyNames: OAUTH_NAMES, json: false, ...extra };
}

async function allTargets(): Promise<Target[]> {
  const discovery = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
  const endpoint = (key: string) => {
    expect(typeof discovery[key], `discovery lists ${key}`).toBe('string');
    return new URL(discovery[key] as string).pathname;
  };
  const authorization = endpoint('authorization_endpoint');
  const registration = endpoint('registration_endpoint');
  const endSession = endpoint('end_session_endpoint');
  const targets: Target[] = [
    edge('GET', authorization),
    edge('POST', authorization),
    edge('GET', `${authorization}/:uid`),
    edge('POST', endpoint('token_endpoint')),
    edge('POST', endpoint('introspection_endpoint')),
    edge('POST', endpoint('revocation_endpoint')),
    edge('POST', endpoint('pushed_authorization_request_endpoint')),
    edge('GET', endpoint('userinfo_endpoint')),
    edge('POST', endpoint('userinfo_endpoint')),
    edge('GET', endpoint('jwks_uri')),
    edge('GET', endSession),
    edge('POST', endSession),
    edge('POST', `${endSession}/confirm`, { bodyNames: FORM_NAMES }),
    edge('GET', `${endSession}/success`),
    edge('POST', registration, { bodyNames: REGISTRATION_NAMES, json: true }),
    edge('GET', `${registration}/:id`),
    edge('PUT', `${registration}/:id`, { bodyNames: REGISTRATION_NAMES, json: true }),
    edge('DELETE', `${registration}/:id`),
    edge('GET', '/.well-known/openid-configuration'),
    edge('GET', '/.well-known/oauth-authorization-server'),
    // The host: interaction pages, brokered sign-in, the account page, the feed, probes, assets.
    edge('GET', '/interaction/:uid'),
    ...['login', 'confirm', 'abort', 'register', 'link'].map((step) => edge('POST', `/interaction/:uid/${step}`, { bodyNames: FORM_NAMES })),
    edge('GET', '/interaction/:uid/register'),
    edge('POST', '/interaction/:uid/upstream/:id', { bodyNames: FORM_NAMES }),
    edge('GET', '/interaction/:uid/upstream/:id/callback', { queryNames: ['code', 'state', 'iss', 'error', 'error_description'] }),
    edge('GET', '/upstream/:id/callback', { queryNames: ['code', 'state', 'iss', 'error', 'error_description'] }),
    edge('GET', '/account'),
    edge('GET', '/account/sign-in'),
    edge('GET', '/account/callback', { queryNames: ['code', 'state', 'iss', 'error'] }),
    edge('POST', '/account/apps/revoke', { bodyNames: FORM_NAMES }),
    edge('POST', '/account/identities/unlink', { bodyNames: FORM_NAMES }),
    edge('GET', '/revocations/feed', { queryNames: ['after', 'wait'] }),
    edge('GET', '/healthz'),
    edge('GET', '/readyz'),
    edge('GET', '/assets/style.css'),
    edge('GET', '/no-such-route'),
  ];
  for (const route of adminRoutes) {
    targets.push({
      kind: 'admin',
      method: route.method.toUpperCase(),
      path: `/admin/v1${route.path.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, ':$1')}`,
      queryNames: shapeKeys(route.query),
      bodyNames: shapeKeys(route.body),
      json: true,
      route,
    });
  }
  targets.push({ kind: 'admin', method: 'GET', path: '/admin/v1/openapi.json', queryNames: [], bodyNames: [], json: true });
  return targets;
}

// ---------------------------------------------------------------------------------------------------------
// Requests.

type Body = { type: string; bytes: Buffer } | undefined;

interface Spec {
  target: Target;
  params: string[];
  query: Array<[string, string]>;
  body: Body;
  /** Authorization header value, if any. */
  authorization: string | undefined;
  accept: string;
  /** Where the hostile value went (property 1), for the failure message. */
  poisonAt?: string;
}

const ACCEPT = ['application/json', 'text/html', 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8', '*/*'];
const hasBody = (method: string) => !['GET', 'HEAD'].includes(method);
const paramNames = (path: string) => [...path.matchAll(/:(\w+)/g)].map((m) => m[1]!);

function buildPath(target: Target, params: string[]): string {
  let i = 0;
  return target.path.replace(/:(\w+)/g, () => params[i++] ?? 'x');
}

interface Sent {
  status: number;
  type: string;
  body: string;
  label: string;
}

async function send(spec: Spec): Promise<Sent> {
  const path = buildPath(spec.target, spec.params);
  const query = spec.query.map(([k, v]) => `${k}=${v}`).join('&');
  const url = `${server.issuer}${path}${query ? `?${query}` : ''}`;
  const headers: Record<string, string> = { accept: spec.accept };
  if (spec.authorization) headers.authorization = spec.authorization;
  if (spec.body) headers['content-type'] = spec.body.type;
  const res = await fetch(url, {
    method: spec.target.method,
    headers,
    redirect: 'manual',
    body: spec.body && hasBody(spec.target.method) ? new Uint8Array(spec.body.bytes) : undefined,
    signal: AbortSignal.timeout(20_000),
  });
  const type = res.headers.get('content-type') ?? '';
  // An event stream that opened stays open for minutes: what matters is that it opened without a 5xx.
  const body = type.startsWith('text/event-stream') ? (await res.body?.cancel(), '') : await res.text();
  const label = `${spec.target.method} ${path}${query ? `?${query.slice(0, 200)}` : ''} [${spec.poisonAt ?? 'odd'}; body ${spec.body ? spec.body.bytes.subarray(0, 120).toString('latin1') : '-'}]`;
  return { status: res.status, type, body, label };
}

function expectNoServerError(sent: Sent): void {
  expect(sent.status, `${sent.label} → ${sent.status} ${sent.body.slice(0, 300)}`).toBeLessThan(500);
  expect(sent.body, `${sent.label}: stack trace`).not.toMatch(/\bat\s+[^\s()]+\s+\((?:file:\/\/|node:|\/)[^)\s]*:\d+:\d+\)|node_modules/);
}

/** 400 invalid_request: OAuth error JSON, or our readable error page for a browser. */
function expectEdgeRefusal(sent: Sent): void {
  expect(sent.status, `${sent.label} → ${sent.status} ${sent.body.slice(0, 300)}`).toBe(400);
  if (sent.type.startsWith('text/html')) {
    expect(sent.body, sent.label).toContain(`<h1>${strings.error.title}</h1>`);
  } else {
    expect(sent.type, sent.label).toMatch(/^application\/json/);
    expect(JSON.parse(sent.body), sent.label).toMatchObject({ error: 'invalid_request', error_description: expect.any(String) });
  }
}

const formBody = (pairs: Array<[string, string]>): Body => ({ type: 'application/x-www-form-urlencoded', bytes: Buffer.from(pairs.map(([k, v]) => `${k}=${v}`).join('&'), 'latin1') });
const jsonBody = (text: string, type = 'application/json'): Body => ({ type, bytes: Buffer.from(text, 'utf8') });

function oddSpec(targets: Target[]): fc.Arbitrary<Spec> {
  return fc.constantFrom(...targets).chain((target) => {
    const names = (list: string[]) => (list.length ? fc.constantFrom(...list) : fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 10 }));
    const pairs = (list: string[]) => fc.array(fc.tuple(fc.oneof(names(list), oddEncoded), oddEncoded), { maxLength: 6 });
    const body: fc.Arbitrary<Body> = hasBody(target.method)
      ? fc.oneof(
          fc.constant(undefined),
          pairs(target.bodyNames).map(formBody),
          fc.tuple(fc.dictionary(names(target.bodyNames), oddJson, { maxKeys: 5 }), fc.constantFrom('application/json', 'application/merge-patch+json')).map(([v, type]) => jsonBody(JSON.stringify(v), type)),
          oddJson.map((v) => jsonBody(JSON.stringify(v) ?? 'null')),
        )
      : fc.constant(undefined);
    return fc.record({
      target: fc.constant(target),
      params: fc.array(fc.oneof(oddEncoded.filter((s) => s.length > 0), fc.constantFrom(web.client_id, 'alice', feed.clientId)), {
        minLength: paramNames(target.path).length,
        maxLength: paramNames(target.path).length,
      }),
      query: pairs(target.queryNames),
      body,
      // Mostly the credentials the target accepts, so that odd values get past authentication.
      authorization: fc.oneof(
        {
          weight: 3,
          arbitrary: fc.constant(target.kind === 'admin' ? `Bearer ${admin.token}` : target.path === '/revocations/feed' ? `Bearer ${feed.token}` : basic(web).authorization),
        },
        { weight: 2, arbitrary: fc.constantFrom(undefined, `Bearer ${admin.token}`, `Basic ${Buffer.from(`${web.client_id}:wrong`).toString('base64')}`, 'Bearer garbage') },
      ),
      accept: fc.constantFrom(...ACCEPT, 'text/event-stream'),
    });
  });
}

/** A spec with exactly one hostile value placed where the target reads it (see `positions`). */
function poisonedSpec(targets: Target[], withAdminToken: boolean): fc.Arbitrary<Spec> {
  return fc.constantFrom(...targets).chain((target) => {
    const params = paramNames(target.path);
    // Outside the admin API the edge refuses a hostile value anywhere. The admin API (with a valid token)
    // reads only what a route declares; a value it does not read cannot be refused by it.
    const positions: string[] = [];
    if (target.kind === 'edge' || !withAdminToken) {
      positions.push('path', 'query', 'basic');
      if (hasBody(target.method)) positions.push('form', 'json', 'raw');
    } else {
      if (params.length) positions.push('path');
      if (target.route?.query) positions.push('query');
      if (target.route?.body) positions.push('json', 'raw');
      if (!positions.length) positions.push('query'); // GET /keys, GET /upstreams: nothing to refuse; a read
    }
    // Short odd values: a request line beyond Node's header limit is refused (431) before any of our code runs.
    const shortOdd = oddEncoded.filter((v) => v.length > 0 && v.length < 300);
    const oddPairs = fc.array(fc.tuple(target.queryNames.length ? fc.constantFrom(...target.queryNames) : fc.constant('x'), shortOdd), { maxLength: 3 });
    return fc.record({
      at: fc.constantFrom(...positions),
      poison: poisonEncoded,
      poisonText,
      params: fc.array(shortOdd, { minLength: params.length, maxLength: params.length }),
      query: oddPairs,
      name: fc.oneof(fc.constantFrom(...(target.queryNames.length ? target.queryNames : ['x'])), fc.constant('')),
      index: fc.nat(),
      json: poisonJson,
      raw: fc.constantFrom(
        Buffer.from([0xff, 0xfe]),
        Buffer.from([0xc0, 0x80]),
        Buffer.from([0xed, 0xa0, 0x80]),
        Buffer.from([0x61, 0x00, 0x62]),
        Buffer.from([0xf8, 0x88, 0x80, 0x80, 0x80]),
        Buffer.from([0xe0, 0xa4]),
      ),
      basicShape: fc.constantFrom('user', 'secret', 'bytes'),
      accept: fc.constantFrom(...ACCEPT),
    }).map((g): Spec => {
      const spec: Spec = {
        target,
        params: [...g.params],
        query: [...g.query],
        body: undefined,
        authorization: withAdminToken ? `Bearer ${admin.token}` : undefined,
        accept: g.accept,
        poisonAt: g.at,
      };
      const bodyNames = target.bodyNames.length ? target.bodyNames : ['x'];
      switch (g.at) {
        case 'path':
          if (params.length) spec.params[g.index % params.length] = `${g.poison}`;
          else spec.target = { ...target, path: `${target.path}/${g.poison}` };
          break;
        case 'query': {
          const name = g.name || (target.queryNames[g.index % Math.max(1, target.queryNames.length)] ?? 'x');
          spec.query.splice(g.index % (spec.query.length + 1), 0, g.index % 5 === 0 ? [g.poison, 'x'] : [name, g.poison]);
          break;
        }
        case 'form':
          spec.body = formBody([['grant_type', 'client_credentials'], [bodyNames[g.index % bodyNames.length]!, g.poison]]);
          break;
        case 'json':
          spec.body = jsonBody(g.json);
          break;
        case 'raw': {
          const form = !target.json && g.index % 2 === 0;
          const before = Buffer.from(form ? `${bodyNames[0]}=a` : `{"${bodyNames[0]}":"a`, 'latin1');
          const after = Buffer.from(form ? '&b=c' : '"}', 'latin1');
          spec.body = { type: form ? 'application/x-www-form-urlencoded' : 'application/json', bytes: Buffer.concat([before, g.raw, after]) };
          break;
        }
        case 'basic': {
          const bytes =
            g.basicShape === 'user'
              ? Buffer.from(`${g.poison}:secret`, 'latin1')
              : g.basicShape === 'secret'
                ? Buffer.from(`${web.client_id}:${pct(g.poisonText)}`, 'latin1')
                : Buffer.concat([Buffer.from(`${web.client_id}`), Buffer.from([0x00]), Buffer.from(':x'), g.raw]);
          spec.authorization = `Basic ${bytes.toString('base64')}`;
          if (hasBody(target.method)) spec.body = formBody([['grant_type', 'client_credentials']]);
          break;
        }
      }
      return spec;
    });
  });
}

// ---------------------------------------------------------------------------------------------------------

describe('regressions: each of these answered 500', () => {
  let before: Record<string, string>;
  beforeAll(async () => {
    before = await digest();
  });

  async function get(path: string, headers: Record<string, string> = {}) {
    const res = await fetch(`${server.issuer}${path}`, { redirect: 'manual', headers: { accept: 'application/json', ...headers } });
    return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text(), headers: res.headers };
  }

  async function postForm(path: string, body: string, headers: Record<string, string> = {}) {
    const res = await fetch(`${server.issuer}${path}`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...headers }, body });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }

  it('GET /auth?client_id=%00: 400 invalid_request as JSON, and the error page for a browser', async () => {
    const json = await get('/auth?client_id=%00');
    expect(json.status).toBe(400);
    expect(JSON.parse(json.body)).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/NUL/) });
    const page = await get(`/auth?client_id=%00&response_type=code&redirect_uri=${encodeURIComponent(REDIRECT_URI)}`, { accept: 'text/html' });
    expect(page.status).toBe(400);
    expect(page.type).toMatch(/^text\/html/);
    expect(page.body).toContain(`<h1>${strings.error.title}</h1>`);
    expect(page.headers.get('location')).toBeNull();
  });

  it('POST /token with a NUL in client_id (form body, or Basic credentials): 400 invalid_request', async () => {
    const viaForm = await postForm('/token', 'grant_type=client_credentials&client_id=a%00b&client_secret=x');
    expect(viaForm).toMatchObject({ status: 400, json: { error: 'invalid_request', error_description: expect.stringMatching(/NUL/) } });
    for (const credentials of ['a\u0000b:x', 'a%00b:x', `${web.client_id}:se%00cret`]) {
      const viaBasic = await postForm('/token', 'grant_type=client_credentials', { authorization: `Basic ${Buffer.from(credentials).toString('base64')}` });
      expect(viaBasic, credentials).toMatchObject({ status: 400, json: { error: 'invalid_request', error_description: expect.stringMatching(/NUL/) } });
    }
  });

  it('a NUL in the sign-in username: 400 error page, and no sign-in attempt is recorded', async () => {
    const session = new BrowserSession(server.issuer);
    const query = new URLSearchParams({ client_id: web.client_id, response_type: 'code', redirect_uri: REDIRECT_URI, scope: 'openid', code_challenge: CHALLENGE, code_challenge_method: 'S256' });
    const { res } = await session.follow(`/auth?${query}`);
    const html = await res.text();
    expect(html).toContain('name="password"');
    const attempts = async () => Number((await server.runtime.db('audit_events').where('type', 'like', 'login.%').count<{ n: string }[]>({ n: '*' }))[0]!.n);
    const recorded = await attempts();
    const stored = await digest(); // the interaction the page opened included
    const reply = await session.postForm(formAction(html), { csrf: csrfField(html), username: 'al\u0000ice', password: 'correct horse battery' });
    expect(reply.status).toBe(400);
    const page = await reply.text();
    expect(page).toContain(`<h1>${strings.error.title}</h1>`);
    expect(page).toMatch(/NUL character/); // refused at the edge, not by a database error further in
    expect(await attempts()).toBe(recorded);
    expect(await digest()).toEqual(stored);
  });

  it('POST /reg with a NUL or an unpaired surrogate in client_name: 400 invalid_request, nothing registered', async () => {
    const { initial_access_token: iat } = await runOperation(server.operations, 'iat.create', {});
    const clients = async () => Number((await server.runtime.db('clients').count<{ n: string }[]>({ n: '*' }))[0]!.n);
    const count = await clients();
    for (const body of [JSON.stringify({ client_name: 'a\u0000b', redirect_uris: ['https://rp.example/cb'] }), '{"client_name":"a\\ud800b","redirect_uris":["https://rp.example/cb"]}']) {
      const res = await fetch(`${server.issuer}/reg`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${iat}` }, body });
      expect(res.status, body).toBe(400);
      expect(await res.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/NUL character or an unpaired surrogate/) });
    }
    expect(await clients()).toBe(count);
  });

  it('a NUL at the bottom of JSON nested 28,000 deep (just under the body limit): 400 at the edge and in the admin API', async () => {
    const deep = `${'['.repeat(28_000)}"\\u0000"${']'.repeat(28_000)}`;
    for (const [path, authorization] of [['/reg', 'Bearer x'], ['/admin/v1/users', `Bearer ${admin.token}`]] as const) {
      const res = await fetch(`${server.issuer}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization }, body: deep });
      expect(res.status, path).toBe(400);
      expect(await res.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/NUL/) });
    }
  });

  it.each([
    ['/users/a%00b', ['user'], 'path'],
    ['/clients/a%00b', ['client_id'], 'path'],
    ['/resource-servers/a%00b', ['identifier'], 'path'],
    ['/upstreams/a%00b', ['id'], 'path'],
    ['/grants?user=a%00b', ['user'], 'query'],
    ['/sessions?user=%00', ['user'], 'query'],
    ['/audit-events?type=a%00b', ['type'], 'query'],
    ['/audit-events?actor=%00', ['actor'], 'query'],
  ])('admin API GET %s: 400 in its own error shape, naming the field', async (path, field, where) => {
    const res = await admin.api.get(path);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'invalid_request', error_description: expect.stringContaining(where), details: [{ path: field }] });
  });

  it.each(['/users/%ZZ', '/users/a%C0%80', '/clients/%ED%A0%80', '/sessions?user=%ED%A0%80x', '/audit-events?type=%E0%A4%A'])(
    'admin API GET %s (percent-encoding that does not decode): 400 in its own error shape',
    async (path) => {
      const res = await admin.api.get(path);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/percent-encoding/), details: [] });
    },
  );

  it('admin API writes with a NUL in the path or the JSON body: 400, and the audit record keeps the refused value escaped', async () => {
    const del = await admin.api.delete('/users/a%00b');
    expect(del.status).toBe(400);
    const create = await admin.api.post('/users', { username: 'bob\u0000', password: 'correct horse battery' });
    expect(create.status).toBe(400);
    expect(create.body).toMatchObject({ error: 'invalid_request', details: [{ path: ['username'] }] });
    const notUtf8 = await fetch(`${server.issuer}/admin/v1/users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin.token}`, 'content-type': 'application/json' },
      body: new Uint8Array(Buffer.concat([Buffer.from('{"username":"'), Buffer.from([0xff, 0xfe]), Buffer.from('","password":"correct horse battery"}')])),
    });
    expect(notUtf8.status).toBe(400);
    expect(await notUtf8.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/UTF-8/) });
    const audited = await server.runtime.db('audit_events').where({ type: 'admin.request' }).whereRaw(`details->>'method' = 'DELETE'`).orderBy('id', 'desc').first();
    expect(audited?.details).toMatchObject({ route: '/admin/v1/users/{user}', params: { user: 'a\\u0000b' }, status: 400 });
    expect(server.logs.join('')).not.toContain('admin audit write failed');
  });

  it.each([
    ['a NUL in the id part', '/users', ['2026-01-01T00:00:00.000000Z', 'a\u0000b']],
    ['an unpaired surrogate in the id part', '/clients', ['2026-01-01T00:00:00.000000Z', 'a\ud800']],
    ['year 0000', '/users', ['0000-01-01T00:00:00.000000Z', 'x']],
    ['an id beyond bigint', '/audit-events', ['9223372036854775808']],
    ['an id of 19 nines', '/audit-events', ['9999999999999999999']],
  ])('admin API pagination: a cursor holding %s is refused with 400', async (_what, list, parts) => {
    const cursor = Buffer.from(JSON.stringify(parts)).toString('base64url');
    const res = await admin.api.get(`${list}?cursor=${cursor}`);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/cursor/) });
  });

  it('admin API pagination: a cursor that is not base64url is refused by the schema with details', async () => {
    const res = await admin.api.get('/users?cursor=%00');
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ details: [{ path: ['cursor'] }] });
  });

  it('revocation feed: after= beyond the bigint range is 400 on long-poll and on the event stream (no stream opens)', async () => {
    const auth = { authorization: `Bearer ${feed.token}` };
    for (const after of ['9223372036854775808', '9999999999999999999', '99999999999999999999', '-1', '1e3', '0x10']) {
      const poll = await get(`/revocations/feed?after=${after}`, auth);
      expect(poll.status, after).toBe(400);
      expect(JSON.parse(poll.body)).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/cursor/) });
      const stream = await get(`/revocations/feed?after=${after}`, { ...auth, accept: 'text/event-stream' });
      expect(stream.status, after).toBe(400);
      expect(stream.type).toMatch(/^application\/json/);
    }
    const lastEventId = await get('/revocations/feed', { ...auth, accept: 'text/event-stream', 'last-event-id': '9223372036854775808' });
    expect(lastEventId.status).toBe(400);
    const repeated = await get('/revocations/feed?after=1&after=2', auth);
    expect(repeated.status).toBe(400);
    // The largest cursor is still a cursor.
    const max = await get(`/revocations/feed?after=${MAX_CURSOR}`, auth);
    expect(max.status).toBe(200);
    expect(JSON.parse(max.body)).toEqual({ events: [], cursor: String(MAX_CURSOR), more: false });
  });

  it('changed no stored data', async () => {
    const after = await digest();
    // Expected changes: the initial access token made above (its rules row and its token row; its use count
    // stays 0), and the interaction the sign-in page opened (checked unchanged by the refused post above).
    const iatRows = (before.initial_access_token_rules ?? '0:').split(':')[0];
    expect(Number(after.initial_access_token_rules!.split(':')[0])).toBe(Number(iatRows) + 1);
    const expected = { initial_access_token_rules: null, tokens: null, interactions: null };
    expect({ ...after, ...expected }).toEqual({ ...before, ...expected });
    const [uses] = await server.runtime.db('initial_access_token_rules').sum<{ s: string | null }[]>({ s: 'uses' });
    expect(Number(uses?.s ?? 0)).toBe(0);
  });
});

describe('the safety net behind the edge: database encoding errors are bad requests', () => {
  it('recognises the errors PostgreSQL (or PGlite) raises for NUL, an out-of-range bigint and year 0000', async () => {
    const db = server.runtime.db;
    const failures = await Promise.all([
      db('clients').where('id', 'a\u0000b').first(),
      db('audit_events').where('id', '>', '99999999999999999999').first(),
      db.raw('select ?::timestamptz as t', ['0000-01-01T00:00:00Z']),
    ].map((query) => query.then(() => undefined, (error: unknown) => error)));
    for (const error of failures) {
      expect(error, 'the query should have failed').toBeDefined();
      expect(isUnrepresentableInput(error), String((error as Error).message)).toBe(true);
    }
    expect(isUnrepresentableInput(new Error('boom'))).toBe(false);
    expect(isUnrepresentableInput(Object.assign(new Error('unique'), { code: '23505' }))).toBe(false);
  });

  it('the host error renderer answers such an error with 400 invalid_request, not 500', async () => {
    const app = new Koa();
    app.silent = true;
    app.use(errorHandler(createLogger('silent')));
    app.use(() => {
      throw Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code: '22021' });
    });
    const http = createServer(app.callback()).listen(0, '127.0.0.1');
    await new Promise((resolve) => http.once('listening', resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(http.address() as AddressInfo).port}/`, { headers: { accept: 'application/json' } });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: 'invalid_request' });
    } finally {
      await new Promise((resolve) => http.close(resolve));
    }
  });

  it('an engine hook raising such an error becomes the engine\'s invalid_request (400)', async () => {
    const hook = guardDatabase(async () => {
      throw Object.assign(new Error('bigint out of range'), { code: '22003' });
    });
    await expect(hook()).rejects.toMatchObject({ status: 400, error: 'invalid_request' });
  });
});

describe('revocation feed: event streams per client are capped', () => {
  const open: AbortController[] = [];
  afterAll(() => open.forEach((c) => c.abort()));

  async function stream(token: string) {
    const controller = new AbortController();
    const res = await fetch(`${server.issuer}/revocations/feed`, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, signal: controller.signal });
    if (res.status === 200) open.push(controller);
    else await res.text();
    return { res, close: () => controller.abort() };
  }

  it('has a default of 4, configurable with FEED_MAX_STREAMS_PER_CLIENT (at least 1)', () => {
    expect(server.config.feedMaxStreamsPerClient).toBe(4);
    const base = { ISSUER: 'http://127.0.0.1:1', TESSERA_SECRET: 'x'.repeat(32), TESSERA_DATA_DIR: ':memory:' };
    const parsed = parseConfig({ ...base, FEED_MAX_STREAMS_PER_CLIENT: '10' });
    expect(parsed.ok && parsed.config.feedMaxStreamsPerClient).toBe(10);
    expect(parseConfig({ ...base, FEED_MAX_STREAMS_PER_CLIENT: '0' }).ok).toBe(false);
  });

  it('refuses a fifth stream with 429 and Retry-After, serves other clients and long-polls meanwhile, and frees the slot when a stream closes', async () => {
    const streams = [];
    for (let i = 0; i < 4; i++) {
      const s = await stream(feed.token);
      expect(s.res.status, `stream ${i + 1}`).toBe(200);
      expect(s.res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      streams.push(s);
    }
    const refused = await stream(feed.token);
    expect(refused.res.status).toBe(429);
    expect(Number(refused.res.headers.get('retry-after'))).toBeGreaterThan(0);

    // The cap is per client: another API's client still gets its stream, and long-polling is not capped.
    const other = await stream(otherFeed.token);
    expect(other.res.status).toBe(200);
    const poll = await fetch(`${server.issuer}/revocations/feed?after=0`, { headers: { authorization: `Bearer ${feed.token}` } });
    expect(poll.status).toBe(200);
    await poll.arrayBuffer();

    // Closing one stream gives its slot back (the server sees the connection close, then releases it).
    streams[0]!.close();
    await vi.waitFor(
      async () => {
        const again = await stream(feed.token);
        expect(again.res.status).toBe(200);
      },
      { timeout: 15_000, interval: 100 },
    );
    const full = await stream(feed.token);
    expect(full.res.status).toBe(429);
    open.splice(0).forEach((c) => c.abort());
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('properties over every route', () => {
  let targets: Target[];
  beforeAll(async () => {
    targets = await allTargets();
    // Every admin API route is in the list, and so is every engine endpoint discovery names.
    expect(targets.filter((t) => t.kind === 'admin').length).toBe(adminRoutes.length + 1);
  });

  it('refuses a hostile value anywhere with 400 (4xx in the admin API) and changes no stored data', { timeout: 120_000 }, async () => {
    const before = await digest();
    for (const withAdminToken of [false, true]) {
      await fc.assert(
        fc.asyncProperty(poisonedSpec(targets, withAdminToken), async (spec) => {
          const sent = await send(spec);
          expectNoServerError(sent);
          if (spec.target.kind === 'edge') expectEdgeRefusal(sent);
          else if (spec.target.route && (spec.target.route.params || spec.target.route.query || spec.target.route.body)) expect(sent.status, `${sent.label} → ${sent.body.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
        }),
        { numRuns: 100, seed: SEED + (withAdminToken ? 1 : 0) },
      );
    }
    expect(await digest()).toEqual(before);
  });

  it('never answers odd but well-formed input with a 5xx', { timeout: 120_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(oddSpec(targets), async (spec) => {
        expectNoServerError(await send(spec));
      }),
      { numRuns: 200, seed: SEED + 2 },
    );
  });

  it('recorded no error-level log line for any request in this file', () => {
    const errors = server.logs
      .flatMap((line) => line.split('\n'))
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { level: number; msg?: string; path?: string })
      .filter((entry) => entry.level >= 50);
    expect(errors).toEqual([]);
  });
});
