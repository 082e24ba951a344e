import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { SignJWT, createRemoteJWKSet, decodeJwt, generateKeyPair, jwtVerify, base64url } from 'jose';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession } from '../helpers/browser-session.ts';
import { authorize, basic, createClient, createUser, discover, exchange, postForm } from '../helpers/oauth.ts';
import { bearerHash } from '../../src/store/bearer-hash.ts';
import { runOperation } from '../../src/services/operations.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';
import { deleteExpired } from '../../src/store/cleanup.ts';
import { recordRevocations } from '../../src/store/revocations.ts';

const INVOICES = 'https://invoices.example.test/api';
const PAYROLL = 'https://payroll.example.test/api';

let server: TestServer;
let invoicesRs: { client_id: string; client_secret: string };
let payrollRs: { client_id: string; client_secret: string };
let service: ClientMetadata;

beforeAll(async () => {
  server = await startTestServer();
  await createUser(server, 'alice');
  invoicesRs = (await runOperation(server.operations, 'resource.create', { identifier: INVOICES, scopes: [{ name: 'invoices:read', description: 'Read your invoices' }, { name: 'invoices:write' }] })).introspection_client as typeof invoicesRs;
  payrollRs = (await runOperation(server.operations, 'resource.create', { identifier: PAYROLL, scopes: [{ name: 'payroll:read' }], format: 'opaque' })).introspection_client as typeof payrollRs;
  service = await createClient(server, { name: 'Service', redirectUris: [], grantTypes: ['client_credentials'], scope: 'invoices:read invoices:write payroll:read' });
});
afterAll(() => server?.stop());

async function serviceToken(resource: string, scope: string) {
  return oidc.clientCredentialsGrant(await discover(server, service), { resource, scope });
}

async function introspectAs(rs: { client_id: string; client_secret: string }, token: string, accept?: string) {
  const res = await postForm(`${server.issuer}/token/introspection`, { token }, { ...basic(rs as ClientMetadata), ...(accept ? { accept } : {}) });
  expect(res.status).toBeLessThan(500);
  return res;
}

async function activeFor(rs: { client_id: string; client_secret: string }, token: string): Promise<Record<string, unknown>> {
  return (await introspectAs(rs, token)).json();
}

async function userToken(scope = 'openid invoices:read') {
  const app = await createClient(server, { name: 'User App', scope: `openid offline_access ${scope.replace('openid', '')}`.trim() });
  const config = await discover(server, app);
  const tokens = await exchange(config, await authorize(server, config, new BrowserSession(server.issuer), { scope: `${scope} offline_access`, extra: { resource: INVOICES } }));
  return { app, config, tokens };
}

describe('resource servers (RFC 8707)', () => {
  it('issues a JWT for a registered resource with only the scopes it defines and the client may have', async () => {
    const tokens = await serviceToken(INVOICES, 'invoices:read payroll:read');
    const claims = decodeJwt(tokens.access_token);
    expect(claims).toMatchObject({ aud: INVOICES, scope: 'invoices:read', client_id: service.client_id });
  });

  it('issues an opaque token for a resource configured for opaque tokens', async () => {
    const tokens = await serviceToken(PAYROLL, 'payroll:read');
    expect(tokens.access_token.split('.')).toHaveLength(1);
    expect(await activeFor(payrollRs, tokens.access_token)).toMatchObject({ active: true, aud: PAYROLL, scope: 'payroll:read' });
  });

  it("answers introspection of a client's own token with sub = the client, as its JWT says (RFC 9068 §2.2)", async () => {
    const jwt = await serviceToken(INVOICES, 'invoices:read');
    expect(decodeJwt(jwt.access_token).sub).toBe(service.client_id);
    expect(await activeFor(invoicesRs, jwt.access_token)).toMatchObject({ active: true, sub: service.client_id, client_id: service.client_id });
    const opaque = await serviceToken(PAYROLL, 'payroll:read');
    expect(await activeFor(payrollRs, opaque.access_token)).toMatchObject({ active: true, sub: service.client_id });
  });

  it('gives tokens the lifetime their resource server sets', async () => {
    await runOperation(server.operations, 'resource.create', { identifier: 'https://short.example.test/', scopes: [{ name: 'invoices:read' }], ttl: 120 });
    const tokens = await serviceToken('https://short.example.test/', 'invoices:read');
    const claims = decodeJwt(tokens.access_token);
    expect(claims.exp! - claims.iat!).toBe(120);
    expect(tokens.expires_in).toBe(120);
  });

  it("refuses to register an API under Tessera's own admin or revocation-feed audience", async () => {
    for (const identifier of [`${server.issuer}/admin`, `${server.issuer}/revocations`]) {
      await expect(runOperation(server.operations, 'resource.create', { identifier, scopes: [{ name: 'x' }] })).rejects.toMatchObject({ status: 409 });
    }
  });

  it('refuses an unknown resource with invalid_target', async () => {
    await expect(serviceToken('https://unknown.example.test/', 'invoices:read')).rejects.toMatchObject({ error: 'invalid_target' });
  });
});

describe('introspection of JWT access tokens (RFC 7662)', () => {
  it('answers with the full set of fields for the audience\'s own resource server', async () => {
    const { tokens } = await userToken();
    const claims = decodeJwt(tokens.access_token);
    const body = await activeFor(invoicesRs, tokens.access_token);
    expect(body).toMatchObject({
      active: true,
      client_id: claims.client_id,
      sub: claims.sub,
      aud: INVOICES,
      scope: 'invoices:read',
      token_type: 'Bearer',
      iss: server.issuer,
      jti: claims.jti,
      exp: claims.exp,
      iat: claims.iat,
      username: 'alice',
    });
  });

  it('tells another resource server nothing about it (audience isolation)', async () => {
    const tokens = await serviceToken(INVOICES, 'invoices:read');
    expect(await activeFor(payrollRs, tokens.access_token)).toEqual({ active: false });
  });

  it('signs the answer when asked for application/token-introspection+jwt (RFC 9701)', async () => {
    const tokens = await serviceToken(INVOICES, 'invoices:read');
    const res = await introspectAs(invoicesRs, tokens.access_token, 'application/token-introspection+jwt');
    expect(res.headers.get('content-type')).toContain('application/token-introspection+jwt');
    const { payload, protectedHeader } = await jwtVerify(await res.text(), createRemoteJWKSet(new URL(`${server.issuer}/jwks`)), {
      issuer: server.issuer,
      audience: invoicesRs.client_id,
    });
    expect(protectedHeader.typ).toBe('token-introspection+jwt');
    expect(payload.token_introspection).toMatchObject({ active: true, aud: INVOICES, client_id: service.client_id });
  });

  it('reads alg:none, HS256-with-our-public-key, foreign-issuer and garbage tokens as inactive', async () => {
    const real = decodeJwt((await serviceToken(INVOICES, 'invoices:read')).access_token);
    const header = (h: object) => base64url.encode(JSON.stringify(h));
    const body = base64url.encode(JSON.stringify(real));
    const none = `${header({ alg: 'none', typ: 'at+jwt' })}.${body}.`;

    const jwks = await (await fetch(`${server.issuer}/jwks`)).json();
    const es = jwks.keys.find((k: { alg: string }) => k.alg === 'ES256');
    const publicKeyAsSecret = new TextEncoder().encode(JSON.stringify(es));
    const hs = await new SignJWT(real).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: es.kid }).sign(publicKeyAsSecret);

    const foreign = await generateKeyPair('ES256');
    const foreignJwt = await new SignJWT({ ...real, iss: 'https://evil.example.test' })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: es.kid })
      .sign(foreign.privateKey);
    const ourIssuerForeignKey = await new SignJWT(real).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: es.kid }).sign(foreign.privateKey);
    const wrongTyp = await new SignJWT(real).setProtectedHeader({ alg: 'ES256', typ: 'JWT' }).sign(foreign.privateKey);

    for (const token of [none, hs, foreignJwt, ourIssuerForeignKey, wrongTyp, 'eyJhbGciOiJFUzI1NiJ9.e30.AAAA', 'not-a-token']) {
      expect(await activeFor(invoicesRs, token), token.slice(0, 40)).toEqual({ active: false });
      expect(await activeFor(service as never, token)).toEqual({ active: false });
    }
  });
});

describe('revocation that introspection sees at once', () => {
  it('a JWT revoked by value (RFC 7009) introspects inactive', async () => {
    const tokens = await serviceToken(INVOICES, 'invoices:read');
    expect((await activeFor(invoicesRs, tokens.access_token)).active).toBe(true);
    await oidc.tokenRevocation(await discover(server, service), tokens.access_token);
    expect(await activeFor(invoicesRs, tokens.access_token)).toEqual({ active: false });
    const row = await server.runtime.db('revocations').where({ kind: 'jti', value: decodeJwt(tokens.access_token).jti }).first();
    expect(new Date(row.expires_at).getTime() / 1000).toBeCloseTo(decodeJwt(tokens.access_token).exp!, -1);
  });

  it('revoking a refresh token revokes the JWT access tokens of its grant', async () => {
    const { config, tokens } = await userToken();
    await oidc.tokenRevocation(config, tokens.refresh_token!);
    expect(await activeFor(invoicesRs, tokens.access_token)).toEqual({ active: false });
  });

  it('refresh-token reuse revokes the grant\'s JWTs', async () => {
    const { config, tokens } = await userToken();
    const rotated = await oidc.refreshTokenGrant(config, tokens.refresh_token!, { resource: INVOICES });
    // Past the grace window for parallel refreshes (REFRESH_REUSE_GRACE), a second use is a replay.
    await server.runtime.db('tokens').where('id_hash', bearerHash(tokens.refresh_token!)).update({ consumed_at: server.runtime.db.raw(`now() - interval '1 hour'`) });
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await activeFor(invoicesRs, tokens.access_token)).toEqual({ active: false });
    expect(await activeFor(invoicesRs, rotated.access_token)).toEqual({ active: false });
  });

  it('authorization-code replay revokes the grant\'s JWTs', async () => {
    const app = await createClient(server, { name: 'Replay App', scope: 'openid invoices:read' });
    const config = await discover(server, app);
    const result = await authorize(server, config, new BrowserSession(server.issuer), { scope: 'openid invoices:read', extra: { resource: INVOICES } });
    const tokens = await exchange(config, result);
    await expect(exchange(config, result)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await activeFor(invoicesRs, tokens.access_token)).toEqual({ active: false });
  });

  it('a person removing the app on the account page revokes its JWTs', async () => {
    const app = await createClient(server, { name: 'Removable', scope: 'openid invoices:read' });
    const config = await discover(server, app);
    const session = new BrowserSession(server.issuer);
    const tokens = await exchange(config, await authorize(server, config, session, { scope: 'openid invoices:read', extra: { resource: INVOICES } }));
    const page = await (await session.request('/account')).text();
    const csrf = page.match(/name="csrf" value="([^"]+)"/)![1]!;
    await runOperation(server.operations, 'resource.create', { identifier: 'https://long-lived.example.test/', scopes: [{ name: 'invoices:read' }], ttl: 7200 });
    expect((await session.postForm('/account/apps/revoke', { csrf, client_id: app.client_id })).status).toBe(303);
    expect(await activeFor(invoicesRs, tokens.access_token)).toEqual({ active: false });
    // The feed keeps the revocation past the longest access-token lifetime in use (here 2 hours).
    const event = await server.runtime.db('revocation_events').where({ grant_id: decodeJwt(tokens.access_token).gid as string }).first();
    expect(new Date(event.expires_at).getTime()).toBeGreaterThan(Date.now() + 7000 * 1000);
  });

  it('disabling the user, or changing their password, revokes their JWTs', async () => {
    await createUser(server, 'uma');
    for (const action of ['user.disable', 'user.set-password'] as const) {
      if (action === 'user.set-password') await runOperation(server.operations, 'user.enable', { user: 'uma' });
      const app = await createClient(server, { name: `Uma ${action}`, scope: 'openid invoices:read' });
      const config = await discover(server, app);
      const tokens = await exchange(config, await authorize(server, config, new BrowserSession(server.issuer), { username: 'uma', scope: 'openid invoices:read', extra: { resource: INVOICES } }));
      expect((await activeFor(invoicesRs, tokens.access_token)).active).toBe(true);
      if (action === 'user.disable') await runOperation(server.operations, action, { user: 'uma' });
      else await runOperation(server.operations, action, { user: 'uma', password: 'a brand new password' });
      expect(await activeFor(invoicesRs, tokens.access_token)).toEqual({ active: false });
    }
  });

  it('disabling or deleting a client revokes its JWTs, including client_credentials ones', async () => {
    for (const action of ['client.disable', 'client.delete'] as const) {
      const doomed = await createClient(server, { name: 'Doomed', redirectUris: [], grantTypes: ['client_credentials'], scope: 'invoices:read' });
      const tokens = await oidc.clientCredentialsGrant(await discover(server, doomed), { resource: INVOICES, scope: 'invoices:read' });
      expect((await activeFor(invoicesRs, tokens.access_token)).active).toBe(true);
      await runOperation(server.operations, action, { clientId: doomed.client_id });
      expect(await activeFor(invoicesRs, tokens.access_token)).toEqual({ active: false });
    }
  });

  it('enabling a client again does not bring back the JWTs its disabling revoked; new ones work', async () => {
    const paused = await createClient(server, { name: 'Paused', redirectUris: [], grantTypes: ['client_credentials'], scope: 'invoices:read' });
    const before = await oidc.clientCredentialsGrant(await discover(server, paused), { resource: INVOICES, scope: 'invoices:read' });
    await runOperation(server.operations, 'client.disable', { clientId: paused.client_id });
    await runOperation(server.operations, 'client.enable', { clientId: paused.client_id });
    expect(await activeFor(invoicesRs, before.access_token)).toEqual({ active: false });
    // Enabling waits out the revocation's second (tokens carry whole-second iat), so the first new token
    // is already untouched by it.
    const after = await oidc.clientCredentialsGrant(await discover(server, paused), { resource: INVOICES, scope: 'invoices:read' });
    expect((await activeFor(invoicesRs, after.access_token)).active).toBe(true);
  });

  it('prunes revocation rows once the tokens they cover have expired', async () => {
    const db = server.runtime.db;
    await db('revocations').insert({ kind: 'jti', value: 'long-gone', reason: 'test', expires_at: new Date(Date.now() - 1000) });
    await db('revocation_events').insert({ type: 'token-revoked', jti: 'long-gone', reason: 'test', expires_at: new Date(Date.now() - 1000) });
    await deleteExpired(db);
    expect(await db('revocations').where('value', 'long-gone').first()).toBeUndefined();
    expect(await db('revocation_events').where('jti', 'long-gone').first()).toBeUndefined();
    expect(Number((await db('revocations').count('* as n').first())!.n)).toBeGreaterThan(0);
  });
});

describe('revocation feed', () => {
  async function feedToken(rs: { client_id: string; client_secret: string }) {
    const config = await discover(server, rs as ClientMetadata);
    return (await oidc.clientCredentialsGrant(config, { resource: `${server.issuer}/revocations`, scope: 'revocations:read' })).access_token;
  }

  it('requires a feed token from a resource server\'s client', async () => {
    expect((await fetch(`${server.issuer}/revocations/feed`)).status).toBe(401);
    const res = await fetch(`${server.issuer}/revocations/feed`, { headers: { authorization: `Bearer ${(await serviceToken(INVOICES, 'invoices:read')).access_token}` } });
    expect(res.status).toBe(401);
    await expect(oidc.clientCredentialsGrant(await discover(server, service), { resource: `${server.issuer}/revocations`, scope: 'revocations:read' })).rejects.toMatchObject({ error: 'invalid_target' });
  });

  it('streams revocations of its own audience from a cursor, and not those of others', async () => {
    const bearer = { authorization: `Bearer ${await feedToken(invoicesRs)}` };
    const start = (await (await fetch(`${server.issuer}/revocations/feed`, { headers: bearer })).json()) as { cursor: string; events: unknown[] };
    let cursor = start.cursor;
    let more = true;
    while (more) {
      const page = (await (await fetch(`${server.issuer}/revocations/feed?after=${cursor}`, { headers: bearer })).json()) as { cursor: string; more: boolean };
      cursor = page.cursor;
      more = page.more;
    }

    const mine = await serviceToken(INVOICES, 'invoices:read');
    const theirs = await serviceToken(PAYROLL, 'payroll:read');
    const serviceConfig = await discover(server, service);
    await oidc.tokenRevocation(serviceConfig, mine.access_token);
    await oidc.tokenRevocation(serviceConfig, theirs.access_token);

    const page = (await (await fetch(`${server.issuer}/revocations/feed?after=${cursor}&wait=5`, { headers: bearer })).json()) as { events: Array<Record<string, unknown>>; cursor: string };
    const jtis = page.events.filter((e) => e.type === 'token-revoked').map((e) => e.jti);
    expect(jtis).toContain(decodeJwt(mine.access_token).jti);
    expect(page.events.every((e) => !(e.aud as string[] | undefined) || (e.aud as string[]).includes(INVOICES))).toBe(true);
    expect(Number(page.cursor)).toBeGreaterThan(Number(cursor));
    const again = (await (await fetch(`${server.issuer}/revocations/feed?after=${page.cursor}`, { headers: bearer })).json()) as { events: unknown[] };
    expect(again.events).toEqual([]);
  });

  it.skipIf(!process.env.DATABASE_URL)('never lets a late-committing revocation slip behind a reader\'s cursor (PostgreSQL)', async () => {
    const bearer = { authorization: `Bearer ${await feedToken(invoicesRs)}` };
    const read = async (after: string) =>
      (await (await fetch(`${server.issuer}/revocations/feed?after=${after}`, { headers: bearer })).json()) as { cursor: string; events: Array<Record<string, unknown>> };
    let cursor = (await read('0')).cursor;
    for (let page = await read(cursor); page.events.length; page = await read(cursor)) cursor = page.cursor;

    const slow = await server.runtime.db.transaction();
    await recordRevocations(slow, [
      { kind: 'jti', value: 'slow-jti', reason: 'test', coverUntil: new Date(Date.now() + 60_000), event: { type: 'token-revoked', jti: 'slow-jti', audiences: [INVOICES] } },
    ]);
    const fast = await serviceToken(INVOICES, 'invoices:read');
    const revokingFast = oidc.tokenRevocation(await discover(server, service), fast.access_token);
    await new Promise((r) => setTimeout(r, 300));
    const seenMeanwhile = await read(cursor);
    await slow.commit();
    await revokingFast;
    const after = await read(seenMeanwhile.cursor);
    const all = [...seenMeanwhile.events, ...after.events].map((e) => e.jti);
    expect(all).toContain('slow-jti');
    expect(all).toContain(decodeJwt(fast.access_token).jti);
  });

  it('serves the same events as server-sent events, resuming from Last-Event-ID', async () => {
    const bearer = `Bearer ${await feedToken(invoicesRs)}`;
    const tokens = await serviceToken(INVOICES, 'invoices:read');
    await oidc.tokenRevocation(await discover(server, service), tokens.access_token);
    const jti = decodeJwt(tokens.access_token).jti as string;
    const controller = new AbortController();
    const res = await fetch(`${server.issuer}/revocations/feed`, { headers: { authorization: bearer, accept: 'text/event-stream', 'last-event-id': '0' }, signal: controller.signal });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    let text = '';
    for (let i = 0; i < 50 && !text.includes(jti); i++) text += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    expect(text).toMatch(/id: \d+\nevent: token-revoked\ndata: \{/);
    expect(text).toContain(jti);
  });
});
