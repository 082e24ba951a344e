// requireAccess through a real Koa server in front of the real Tessera: RFC 6750 answers (401 without a
// token or with a bad one, 400 for a malformed header, 403 insufficient_scope, 503 when the token cannot be
// checked) and the claims on ctx.state.auth.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Koa from 'koa';
import Router from '@koa/router';
import * as oidc from 'openid-client';
import { runOperation } from '../../src/services/operations.ts';
import { freePort, startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession } from '../helpers/browser-session.ts';
import { authorize, createClient, createUser, discover, exchange } from '../helpers/oauth.ts';
import { checkAccess, createTokenValidator, requireAccess, type AccessTokenClaims, type TokenValidator } from '../../src/resource-server/index.ts';
import { quietErrors, registerApi, serviceClient, serviceToken, waitForResult, isRevoked } from './helpers.ts';

const INVOICES = 'https://invoices.example.test/api';

let server: TestServer;
let validator: TokenValidator;
let api: Server;
let apiUrl: string;
let service: oidc.Configuration;

function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: string }> {
  const s = createServer(handler);
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve({ server: s, url: `http://127.0.0.1:${(s.address() as AddressInfo).port}` })));
}

function koaApp(v: TokenValidator): Koa {
  const app = new Koa();
  const router = new Router();
  router.get('/invoices', requireAccess(v, { scopes: ['invoices:read'] }), (ctx) => {
    const auth = ctx.state.auth as AccessTokenClaims;
    ctx.body = { client_id: auth.client_id, sub: auth.sub, roles: auth.roles ?? [] };
  });
  router.post('/invoices', requireAccess(v, { scopes: ['invoices:read', 'invoices:write'] }), (ctx) => {
    ctx.status = 201;
  });
  router.get('/ledger', requireAccess(v, { scopes: ['invoices:read'], roles: ['accountant'], realm: 'ledger' }), (ctx) => {
    ctx.body = { ok: true };
  });
  app.use(router.routes());
  return app;
}

beforeAll(async () => {
  server = await startTestServer();
  const registered = await registerApi(server, INVOICES);
  service = (await serviceClient(server, 'Billing service')).config;
  validator = createTokenValidator({ issuer: server.issuer, audience: INVOICES, mode: 'local+feed', clientId: registered.clientId, clientSecret: registered.clientSecret });
  await validator.start();
  ({ server: api, url: apiUrl } = await listen(koaApp(validator).callback()));
});
afterAll(async () => {
  api?.closeAllConnections();
  await new Promise((r) => api?.close(r));
  await validator?.stop();
  await server?.stop();
});

const get = (path: string, authorization?: string, method = 'GET') => fetch(`${apiUrl}${path}`, { method, headers: authorization ? { authorization } : {} });

describe('requireAccess (Koa)', () => {
  it('200 with a valid token; the claims are on ctx.state.auth', async () => {
    const res = await get('/invoices', `Bearer ${await serviceToken(service, INVOICES)}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ client_id: expect.any(String), sub: expect.any(String) });
  });

  it('accepts the scheme name in any case (RFC 7235 §2.1)', async () => {
    expect((await get('/invoices', `bearer ${await serviceToken(service, INVOICES)}`)).status).toBe(200);
  });

  it('401 without credentials: a challenge without error code (RFC 6750 §3.1)', async () => {
    for (const authorization of [undefined, 'Basic dXNlcjpwYXNz']) {
      const res = await get('/invoices', authorization);
      expect(res.status).toBe(401);
      // The Bearer challenge, and the DPoP one (RFC 9449 §7.1; dpop.test.ts checks it).
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="api"(, DPoP |$)/);
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
  });

  it('400 invalid_request for a malformed Authorization header', async () => {
    for (const authorization of ['Bearer', 'Bearer a b', 'Bearer "quoted"']) {
      const res = await get('/invoices', authorization);
      expect(res.status, authorization).toBe(400);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="api", error="invalid_request"/);
    }
  });

  it('401 invalid_token for a bad token, naming the problem without echoing input', async () => {
    const res = await get('/invoices', 'Bearer not.a.token');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="api", error="invalid_token", error_description="The access token is malformed"');
    expect(await res.json()).toEqual({ error: 'invalid_token', error_description: 'The access token is malformed' });

    const wrongAudience = await get('/invoices', `Bearer ${await serviceToken(service, undefined)}`);
    expect(wrongAudience.status).toBe(401);
    expect(wrongAudience.headers.get('www-authenticate')).toContain('error_description="The access token is not meant for this API"');
  });

  it('401 invalid_token for a revoked token (local+feed)', async () => {
    const token = await serviceToken(service, INVOICES);
    expect((await get('/invoices', `Bearer ${token}`)).status).toBe(200);
    await oidc.tokenRevocation(service, token);
    expect((await waitForResult(validator, token, isRevoked, 2000)).result).toMatchObject({ reason: 'revoked' });
    const res = await get('/invoices', `Bearer ${token}`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('error_description="The access token was revoked"');
  });

  it('403 insufficient_scope naming the scopes needed', async () => {
    const res = await get('/invoices', `Bearer ${await serviceToken(service, INVOICES)}`, 'POST');
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="api", error="insufficient_scope", scope="invoices:read invoices:write"/);
    expect(await res.json()).toMatchObject({ error: 'insufficient_scope' });
  });

  it("roles: 403 without the role, 200 with it (a person's token with the roles scope)", async () => {
    expect((await get('/ledger', `Bearer ${await serviceToken(service, INVOICES)}`)).status).toBe(403);

    await createUser(server, 'carol');
    await runOperation(server.operations, 'user.add-role', { user: 'carol', roles: ['accountant'] });
    const web = await createClient(server, { name: 'Ledger web', scope: 'openid roles invoices:read' });
    const config = await discover(server, web);
    const tokens = await exchange(config, await authorize(server, config, new BrowserSession(server.issuer), { username: 'carol', scope: 'openid roles invoices:read', extra: { resource: INVOICES } }));
    const res = await get('/ledger', `Bearer ${tokens.access_token}`);
    expect(res.status).toBe(200);
    const me = await get('/invoices', `Bearer ${tokens.access_token}`);
    expect(await me.json()).toMatchObject({ roles: ['accountant'], client_id: web.client_id });

    const denied = await get('/ledger', `Bearer ${await serviceToken(service, INVOICES)}`);
    expect(denied.headers.get('www-authenticate')).toBe('Bearer realm="ledger", error="insufficient_scope", error_description="This request needs the role accountant"');
  });

  it('503 with Retry-After when the token cannot be checked (issuer unreachable)', async () => {
    const dead = createTokenValidator({ issuer: `http://127.0.0.1:${await freePort()}`, audience: INVOICES, mode: 'local', requestTimeoutSeconds: 1, onError: quietErrors().onError });
    const { server: s, url } = await listen(koaApp(dead).callback());
    try {
      const res = await fetch(`${url}/invoices`, { headers: { authorization: `Bearer ${await serviceToken(service, INVOICES)}` } });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(await res.json()).toMatchObject({ error: 'temporarily_unavailable' });
    } finally {
      s.close();
    }
  });
});

describe('checkAccess without a framework', () => {
  it('protects a plain node:http handler', async () => {
    const { server: s, url } = await listen(async (req, res) => {
      const decision = await checkAccess(validator, req.headers.authorization, { scopes: ['invoices:read'] });
      if (!decision.ok) {
        res.writeHead(decision.status, { ...decision.headers, 'content-type': 'application/json' }).end(JSON.stringify(decision.body));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ hello: decision.claims.client_id }));
    });
    try {
      expect((await fetch(url)).status).toBe(401);
      expect((await fetch(url, { headers: { authorization: `Bearer ${await serviceToken(service, INVOICES)}` } })).status).toBe(200);
    } finally {
      s.close();
    }
  });
});
