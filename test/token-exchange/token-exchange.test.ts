// Token exchange (RFC 8693) through openid-client's genericGrantRequest against the real server: delegation
// with `act`, the per-client policy, the actor chain, refused tokens, revocation and the audit trail.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { decodeJwt, generateKeyPair, SignJWT } from 'jose';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession } from '../helpers/browser-session.ts';
import { authorize, basic, createClient, createUser, discover, exchange, postForm } from '../helpers/oauth.ts';
import { runOperation } from '../../src/services/operations.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';
import { createTokenValidator } from '../../src/resource-server/index.ts';
import { TOKEN_EXCHANGE_GRANT, TOKEN_TYPES } from '../../src/domain/token-exchange.ts';
import { waitForResult } from '../resource-server-module/helpers.ts';

const INVOICES = 'https://invoices.example.test/api';
const LEDGER = 'https://ledger.example.test/api';
const PAYROLL = 'https://payroll.example.test/api';

let server: TestServer;
let invoicesRs: { client_id: string; client_secret: string };
let ledgerRs: { client_id: string; client_secret: string };
let agent: ClientMetadata;
let agentConfig: oidc.Configuration;
let aliceId: string;

beforeAll(async () => {
  server = await startTestServer();
  aliceId = (await createUser(server, 'alice')).id;
  invoicesRs = (await runOperation(server.operations, 'resource.create', { identifier: INVOICES, scopes: [{ name: 'invoices:read' }, { name: 'invoices:write' }] }))
    .introspection_client as typeof invoicesRs;
  // The ledger shares the invoices:read scope (a downstream API), and issues opaque tokens.
  ledgerRs = (await runOperation(server.operations, 'resource.create', { identifier: LEDGER, scopes: [{ name: 'invoices:read' }, { name: 'ledger:read' }], format: 'opaque' }))
    .introspection_client as typeof ledgerRs;
  await runOperation(server.operations, 'resource.create', { identifier: PAYROLL, scopes: [{ name: 'payroll:read' }] });
  // An agent: a person signs in to it, and it exchanges their token to act for them, naming itself as actor.
  agent = await createClient(server, {
    name: 'Agent',
    scope: 'openid offline_access invoices:read invoices:write',
    grantTypes: ['authorization_code', 'refresh_token', 'client_credentials', TOKEN_EXCHANGE_GRANT],
    tokenExchangeAudiences: [INVOICES],
  });
  agentConfig = await discover(server, agent);
});
afterAll(() => server?.stop());

async function aliceToken(config = agentConfig, scope = 'openid invoices:read invoices:write') {
  return exchange(config, await authorize(server, config, new BrowserSession(server.issuer), { scope: `${scope} offline_access`, extra: { resource: INVOICES } }));
}

async function actorToken(config = agentConfig, resource = INVOICES) {
  return (await oidc.clientCredentialsGrant(config, { resource, scope: 'invoices:read' })).access_token;
}

function tokenExchange(config: oidc.Configuration, params: Record<string, string>) {
  return oidc.genericGrantRequest(config, TOKEN_EXCHANGE_GRANT, params);
}

/** The error a refused exchange answers with (RFC 8693 §2.2.2), read through the client library. */
async function refusal(promise: Promise<unknown>): Promise<{ status: number; error: string; description: string }> {
  try {
    await promise;
  } catch (e) {
    const err = e as oidc.ResponseBodyError;
    expect(err).toBeInstanceOf(oidc.ResponseBodyError);
    return { status: err.status, error: err.error, description: err.error_description ?? '' };
  }
  throw new Error('the exchange was not refused');
}

async function introspect(rs: { client_id: string; client_secret: string }, token: string) {
  const res = await postForm(`${server.issuer}/token/introspection`, { token }, basic(rs as ClientMetadata));
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

async function auditOf(type: string) {
  return (await runOperation(server.operations, 'audit.list', { type, limit: 100 })).events;
}

describe('token exchange (RFC 8693)', () => {
  it('is advertised in discovery', async () => {
    expect(agentConfig.serverMetadata().grant_types_supported).toContain(TOKEN_EXCHANGE_GRANT);
  });

  it('issues a delegation token carrying act, the requested API and a narrowed scope; introspectable and accepted by the resource-server module', async () => {
    const subject = await aliceToken();
    const result = await tokenExchange(agentConfig, {
      subject_token: subject.access_token,
      subject_token_type: TOKEN_TYPES.accessToken,
      actor_token: await actorToken(),
      actor_token_type: TOKEN_TYPES.accessToken,
      resource: INVOICES,
      scope: 'invoices:read',
    });
    expect(result).toMatchObject({ issued_token_type: TOKEN_TYPES.accessToken, token_type: 'bearer', scope: 'invoices:read' });
    expect(result.expires_in).toBeGreaterThan(0);
    const claims = decodeJwt(result.access_token);
    expect(claims).toMatchObject({ sub: aliceId, aud: INVOICES, scope: 'invoices:read', client_id: agent.client_id, act: { sub: agent.client_id, client_id: agent.client_id } });
    // Never outlives the subject token.
    expect(claims.exp!).toBeLessThanOrEqual(decodeJwt(subject.access_token).exp!);

    expect(await introspect(invoicesRs, result.access_token)).toMatchObject({ active: true, sub: aliceId, aud: INVOICES, scope: 'invoices:read', act: { sub: agent.client_id, client_id: agent.client_id } });

    for (const mode of ['local', 'introspection'] as const) {
      const validator = createTokenValidator({ issuer: server.issuer, audience: INVOICES, mode, clientId: invoicesRs.client_id, clientSecret: invoicesRs.client_secret });
      await validator.start();
      try {
        expect(await validator.validate(result.access_token)).toMatchObject({ ok: true, claims: { sub: aliceId, scope: 'invoices:read' } });
      } finally {
        await validator.stop();
      }
    }
  });

  it('refuses an audience outside the client\'s policy, and one that is no registered API', async () => {
    const subject = await aliceToken();
    const base = { subject_token: subject.access_token, subject_token_type: TOKEN_TYPES.accessToken, actor_token: await actorToken(), actor_token_type: TOKEN_TYPES.accessToken };
    expect(await refusal(tokenExchange(agentConfig, { ...base, resource: PAYROLL }))).toMatchObject({ status: 400, error: 'invalid_target' });
    expect(await refusal(tokenExchange(agentConfig, { ...base, audience: 'https://nowhere.example.test/' }))).toMatchObject({ status: 400, error: 'invalid_target' });
    expect(await refusal(tokenExchange(agentConfig, { ...base, scope: 'payroll:read', resource: INVOICES }))).toMatchObject({ status: 400, error: 'invalid_scope' });
  });

  it('refuses impersonation (no actor_token) by default and allows it when an operator turns it on', async () => {
    const subject = await aliceToken();
    const params = { subject_token: subject.access_token, subject_token_type: TOKEN_TYPES.accessToken, resource: INVOICES };
    expect(await refusal(tokenExchange(agentConfig, params))).toMatchObject({ status: 400, error: 'invalid_request', description: expect.stringMatching(/actor_token is required/) });

    const impersonator = await createClient(server, {
      name: 'Impersonator',
      scope: 'openid offline_access invoices:read',
      grantTypes: ['authorization_code', TOKEN_EXCHANGE_GRANT],
      tokenExchangeAudiences: [INVOICES],
      allowImpersonation: true,
    });
    const config = await discover(server, impersonator);
    const own = await aliceToken(config, 'openid invoices:read');
    const result = await tokenExchange(config, { subject_token: own.access_token, subject_token_type: TOKEN_TYPES.accessToken, resource: INVOICES });
    const claims = decodeJwt(result.access_token);
    expect(claims).toMatchObject({ sub: aliceId, aud: INVOICES, scope: 'invoices:read' });
    expect(claims.act).toBeUndefined();
    const audit = await auditOf('token.exchanged');
    expect(audit.some((e) => e.client_id === impersonator.client_id && e.details.impersonation === true)).toBe(true);
  });

  it('nests the actor chain when an API exchanges a delegated token further (RFC 8693 §4.1), into an opaque token', async () => {
    const subject = await aliceToken();
    const delegated = await tokenExchange(agentConfig, {
      subject_token: subject.access_token,
      subject_token_type: TOKEN_TYPES.accessToken,
      actor_token: await actorToken(),
      actor_token_type: TOKEN_TYPES.accessToken,
      resource: INVOICES,
    });
    // The invoices API calls the ledger for Alice: its own client is given the grant type and the policy.
    await runOperation(server.operations, 'client.update', { clientId: invoicesRs.client_id, grantTypes: ['client_credentials', TOKEN_EXCHANGE_GRANT], tokenExchangeAudiences: [LEDGER] });
    const rsClient = { ...invoicesRs, token_endpoint_auth_method: 'client_secret_basic' } as unknown as ClientMetadata;
    const rsConfig = await discover(server, rsClient);
    // Its actor token: a token of its own (for the default audience).
    const rsActor = (await oidc.clientCredentialsGrant(rsConfig, {})).access_token;
    const chained = await tokenExchange(rsConfig, {
      subject_token: delegated.access_token,
      subject_token_type: TOKEN_TYPES.accessToken,
      actor_token: rsActor,
      actor_token_type: TOKEN_TYPES.accessToken,
      audience: LEDGER,
    });
    expect(chained.access_token.split('.')).toHaveLength(1);
    expect(chained.scope).toBe('invoices:read');
    expect(await introspect(ledgerRs, chained.access_token)).toMatchObject({
      active: true,
      sub: aliceId,
      aud: LEDGER,
      act: { sub: invoicesRs.client_id, client_id: invoicesRs.client_id, act: { sub: agent.client_id, client_id: agent.client_id } },
    });

    // An API validating JWTs locally and following the revocation feed accepts the delegated token...
    const local = createTokenValidator({ issuer: server.issuer, audience: INVOICES, mode: 'local+feed', clientId: invoicesRs.client_id, clientSecret: invoicesRs.client_secret });
    await local.start();
    try {
      expect(await local.validate(delegated.access_token)).toMatchObject({ ok: true, claims: { act: { sub: agent.client_id } } });

      // Revoking Alice's grant to the agent ends both exchanged tokens: they were delegated from it.
      const grantId = decodeJwt(subject.access_token).gid as string;
      await runOperation(server.operations, 'grant.revoke', { grantId });
      expect(await introspect(invoicesRs, delegated.access_token)).toEqual({ active: false });
      expect(await introspect(ledgerRs, chained.access_token)).toEqual({ active: false });
      // ...and sees the delegated grant's revocation on the feed (bounded wait: the feed is a long poll).
      const { result } = await waitForResult(local, delegated.access_token, (r) => !r.ok, 10_000);
      expect(result).toMatchObject({ ok: false, reason: 'revoked' });
    } finally {
      await local.stop();
    }
  });

  it('refuses a revoked subject token', async () => {
    const subject = await aliceToken();
    await oidc.tokenRevocation(agentConfig, subject.refresh_token!);
    const res = await refusal(
      tokenExchange(agentConfig, { subject_token: subject.access_token, subject_token_type: TOKEN_TYPES.accessToken, actor_token: await actorToken(), actor_token_type: TOKEN_TYPES.accessToken, resource: INVOICES }),
    );
    expect(res).toMatchObject({ status: 400, error: 'invalid_request', description: 'subject_token is not an active token of this server' });
  });

  it('refuses an expired subject token', async () => {
    // An opaque token (stored), aged in the database: no test waits for a token to expire.
    const REPORTS = 'https://reports.example.test/api';
    await runOperation(server.operations, 'resource.create', { identifier: REPORTS, scopes: [{ name: 'invoices:read' }], format: 'opaque' });
    const subject = await exchange(agentConfig, await authorize(server, agentConfig, new BrowserSession(server.issuer), { scope: 'openid invoices:read', extra: { resource: REPORTS } }));
    expect(subject.access_token.split('.')).toHaveLength(1);
    const params = { subject_token: subject.access_token, subject_token_type: TOKEN_TYPES.accessToken, actor_token: await actorToken(), actor_token_type: TOKEN_TYPES.accessToken, resource: INVOICES };
    const fresh = await tokenExchange(agentConfig, params);
    expect(fresh.scope).toBe('invoices:read');

    const past = Math.floor(Date.now() / 1000) - 60;
    const aged = await server.runtime.db('tokens')
      .where({ model: 'AccessToken' })
      .whereRaw(`payload->>'accountId' = ? and payload->'aud' @> ?::jsonb`, [aliceId, JSON.stringify(REPORTS)])
      .update({ payload: server.runtime.db.raw(`jsonb_set(payload, '{exp}', to_jsonb(?::int))`, [past]), expires_at: new Date(past * 1000) });
    expect(aged).toBeGreaterThan(0);
    // The JWT type does not fit an opaque token (RFC 8693 §3).
    expect(await refusal(tokenExchange(agentConfig, { ...params, subject_token_type: TOKEN_TYPES.jwt }))).toMatchObject({ error: 'invalid_request', description: expect.stringMatching(/not a JWT/) });
    expect(await refusal(tokenExchange(agentConfig, params))).toMatchObject({ status: 400, error: 'invalid_request', description: 'subject_token is not an active token of this server' });
  });

  it("refuses a token issued to another client, a foreign token, garbage and a client's own token, never with a 500", async () => {
    const other = await createClient(server, { name: 'Other', scope: 'openid invoices:read', grantTypes: ['authorization_code', TOKEN_EXCHANGE_GRANT], tokenExchangeAudiences: [INVOICES], allowImpersonation: true });
    const otherConfig = await discover(server, other);
    const subject = await aliceToken();
    // Alice's token for the agent is not the other client's to exchange.
    expect(await refusal(tokenExchange(otherConfig, { subject_token: subject.access_token, subject_token_type: TOKEN_TYPES.accessToken, resource: INVOICES }))).toMatchObject({ error: 'invalid_request' });

    const { privateKey } = await generateKeyPair('ES256');
    const forged = await new SignJWT({ sub: aliceId, client_id: agent.client_id, scope: 'invoices:read', gid: 'x' })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'forged' })
      .setIssuer(server.issuer)
      .setAudience(INVOICES)
      .setIssuedAt()
      .setExpirationTime('5m')
      .setJti('forged')
      .sign(privateKey);
    const actor = await actorToken();
    const cases: Array<Record<string, string>> = [
      { subject_token: forged, subject_token_type: TOKEN_TYPES.accessToken },
      { subject_token: 'garbage', subject_token_type: TOKEN_TYPES.accessToken },
      { subject_token: 'a.b.c', subject_token_type: TOKEN_TYPES.jwt },
      { subject_token: 'x'.repeat(20_000), subject_token_type: TOKEN_TYPES.accessToken },
      { subject_token: subject.access_token, subject_token_type: 'urn:example:unknown' },
      { subject_token: subject.access_token, subject_token_type: TOKEN_TYPES.idToken },
      { subject_token: subject.access_token },
      { subject_token_type: TOKEN_TYPES.accessToken },
      { subject_token: actor, subject_token_type: TOKEN_TYPES.accessToken },
      { subject_token: subject.access_token, subject_token_type: TOKEN_TYPES.accessToken, requested_token_type: TOKEN_TYPES.refreshToken },
      { subject_token: subject.access_token, subject_token_type: TOKEN_TYPES.accessToken, actor_token: actor, actor_token_type: '' },
      { subject_token: subject.access_token, subject_token_type: TOKEN_TYPES.accessToken, actor_token: 'garbage', actor_token_type: TOKEN_TYPES.accessToken },
      { subject_token: subject.access_token, subject_token_type: TOKEN_TYPES.accessToken, actor_token: actor, actor_token_type: TOKEN_TYPES.accessToken, resource: 'not a uri' },
    ];
    for (const params of cases) {
      const res = await refusal(tokenExchange(agentConfig, { resource: INVOICES, actor_token: actor, actor_token_type: TOKEN_TYPES.accessToken, ...params }).catch((e) => {
        throw Object.assign(e as Error, { message: `${(e as Error).message} ${JSON.stringify(params).slice(0, 200)}` });
      }));
      expect([res.status, res.error], JSON.stringify(params).slice(0, 200)).toEqual([400, expect.stringMatching(/^invalid_(request|target)$/)]);
    }
    // A DPoP proof asks for a bound token, which exchange does not issue: said so, not ignored.
    const dpop = await fetch(`${server.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: 'e30.e30.sig', ...basic(agent) },
      body: new URLSearchParams({ grant_type: TOKEN_EXCHANGE_GRANT, subject_token: subject.access_token, subject_token_type: TOKEN_TYPES.accessToken, actor_token: actor, actor_token_type: TOKEN_TYPES.accessToken, resource: INVOICES }),
    });
    expect(dpop.status).toBe(400);
    expect(await dpop.json()).toMatchObject({ error: 'invalid_request' });
    // Two APIs at once: one token is for one API.
    const twice = await postForm(`${server.issuer}/token`, {}, basic(agent));
    expect(twice.status).toBe(400);
    const body = new URLSearchParams({ grant_type: TOKEN_EXCHANGE_GRANT, subject_token: subject.access_token, subject_token_type: TOKEN_TYPES.accessToken, actor_token: actor, actor_token_type: TOKEN_TYPES.accessToken });
    body.append('resource', INVOICES);
    body.append('resource', LEDGER);
    const res = await fetch(`${server.issuer}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...basic(agent) }, body });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_target' });
  });

  it('exchanges an ID token the client holds, within what the person consented to for the API', async () => {
    const subject = await aliceToken(agentConfig, 'openid invoices:read');
    const result = await tokenExchange(agentConfig, {
      subject_token: subject.id_token!,
      subject_token_type: TOKEN_TYPES.idToken,
      actor_token: await actorToken(),
      actor_token_type: TOKEN_TYPES.accessToken,
      resource: INVOICES,
    });
    expect(decodeJwt(result.access_token)).toMatchObject({ sub: aliceId, aud: INVOICES, scope: 'invoices:read', act: { sub: agent.client_id } });
  });

  it('refuses clients without the grant type, and public clients the grant type', async () => {
    const plain = await createClient(server, { name: 'Plain', scope: 'openid invoices:read' });
    expect(await refusal(tokenExchange(await discover(server, plain), { subject_token: 'x', subject_token_type: TOKEN_TYPES.accessToken, resource: INVOICES }))).toMatchObject({ status: 400 });
    await expect(createClient(server, { name: 'Public', authMethod: 'none', grantTypes: ['authorization_code', TOKEN_EXCHANGE_GRANT] })).rejects.toThrow(/authenticates/);
  });

  it('lets no registrant give itself the grant type or the policy', async () => {
    const iat = (await runOperation(server.operations, 'iat.create', {})).initial_access_token;
    const register = async (metadata: Record<string, unknown>) => {
      const res = await fetch(`${server.issuer}/reg`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${iat}` },
        body: JSON.stringify({ client_name: 'Sneaky', redirect_uris: ['http://127.0.0.1:9/callback'], ...metadata }),
      });
      return { status: res.status, body: (await res.json()) as Record<string, string> };
    };
    expect(await register({ grant_types: ['authorization_code', TOKEN_EXCHANGE_GRANT] })).toMatchObject({ status: 400, body: { error: 'invalid_client_metadata' } });
    expect(await register({ tessera_token_exchange_audiences: [INVOICES] })).toMatchObject({ status: 400, body: { error: 'invalid_client_metadata' } });
    expect(await register({ tessera_token_exchange_impersonation: true })).toMatchObject({ status: 400, body: { error: 'invalid_client_metadata' } });
  });

  it('lets the exchanging client revoke its exchanged token (RFC 7009) alone; revoking the subject token ends both', async () => {
    const subject = await aliceToken();
    const params = { subject_token: subject.access_token, subject_token_type: TOKEN_TYPES.accessToken, actor_token: await actorToken(), actor_token_type: TOKEN_TYPES.accessToken, resource: INVOICES };
    const first = await tokenExchange(agentConfig, params);
    const second = await tokenExchange(agentConfig, params);
    await oidc.tokenRevocation(agentConfig, first.access_token);
    expect(await introspect(invoicesRs, first.access_token)).toEqual({ active: false });
    expect(await introspect(invoicesRs, second.access_token)).toMatchObject({ active: true });
    expect(await introspect(invoicesRs, subject.access_token)).toMatchObject({ active: true });
    // The engine revokes an access token's whole grant (RFC 7009 §2.1 lets it); the delegated grants go with it.
    await oidc.tokenRevocation(agentConfig, subject.access_token);
    expect(await introspect(invoicesRs, second.access_token)).toEqual({ active: false });
    expect(await refusal(tokenExchange(agentConfig, params))).toMatchObject({ error: 'invalid_request' });
  });

  it('revokes a parent grant and its delegated grant at once, and a person disabled meanwhile, without a deadlock', async () => {
    await createUser(server, 'bob');
    const subject = await aliceToken();
    const params = { subject_token: subject.access_token, subject_token_type: TOKEN_TYPES.accessToken, actor_token: await actorToken(), actor_token_type: TOKEN_TYPES.accessToken, resource: INVOICES };
    const delegated = await tokenExchange(agentConfig, params);
    const parent = decodeJwt(subject.access_token).gid as string;
    const child = decodeJwt(delegated.access_token).gid as string;
    expect(child).not.toBe(parent);
    const bobs = await exchange(agentConfig, await authorize(server, agentConfig, new BrowserSession(server.issuer), { username: 'bob', scope: 'openid invoices:read', extra: { resource: INVOICES } }));
    const bobDelegated = await tokenExchange(agentConfig, { ...params, subject_token: bobs.access_token });
    const outcomes = await Promise.allSettled([
      runOperation(server.operations, 'grant.revoke', { grantId: parent }),
      runOperation(server.operations, 'grant.revoke', { grantId: child }),
      runOperation(server.operations, 'user.disable', { user: 'bob' }),
    ]);
    // The child's own revocation may find it already gone with its parent: "no grant", never a failure.
    for (const outcome of outcomes) if (outcome.status === 'rejected') expect(String(outcome.reason)).toMatch(/no grant/);
    expect(outcomes[0]!.status).toBe('fulfilled');
    expect(outcomes[2]!.status).toBe('fulfilled');
    expect(await introspect(invoicesRs, delegated.access_token)).toEqual({ active: false });
    expect(await introspect(invoicesRs, bobDelegated.access_token)).toEqual({ active: false });
  });

  it('answered nothing with a 5xx and logged no token', () => {
    const lines = server.logs.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { status?: number; level: number });
    expect(lines.filter((l) => (l.status ?? 0) >= 500 || l.level >= 50)).toEqual([]);
    expect(server.logs.join('')).not.toMatch(/eyJ[\w-]+\.eyJ/);
  });

  it('audits every exchange, granted or refused, without tokens', async () => {
    const exchanged = await auditOf('token.exchanged');
    expect(exchanged.length).toBeGreaterThan(0);
    expect(exchanged.find((e) => e.client_id === agent.client_id && e.account_id === aliceId)).toMatchObject({ details: { audience: INVOICES, act: { sub: agent.client_id }, impersonation: false } });
    const refused = await auditOf('token.exchange_refused');
    expect(refused.some((e) => e.details.error === 'invalid_target')).toBe(true);
    // The engine's token.issued events are written in batches (domain/audit-buffer.ts): wait for the batch.
    const exchangeIssued = (events: Awaited<ReturnType<typeof auditOf>>) => events.some((e) => e.details.grant_type === TOKEN_EXCHANGE_GRANT && e.account_id === aliceId);
    let issued = await auditOf('token.issued');
    for (let i = 0; i < 40 && !exchangeIssued(issued); i++) {
      await new Promise((r) => setTimeout(r, 250));
      issued = await auditOf('token.issued');
    }
    expect(exchangeIssued(issued)).toBe(true);
    const text = JSON.stringify([...exchanged, ...refused]);
    expect(text).not.toMatch(/eyJ/);
  });
});
