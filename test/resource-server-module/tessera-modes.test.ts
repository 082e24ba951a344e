// Every validation mode against the real Tessera: the API's own tokens pass; tokens for another audience,
// ID tokens, unsigned or re-signed tokens and tokens of another Tessera do not.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession } from '../helpers/browser-session.ts';
import { authorize, createClient, createUser, discover, exchange } from '../helpers/oauth.ts';
import { createTokenValidator, type TokenValidator, type ValidationMode } from '../../src/resource-server/index.ts';
import { newKey, quietErrors, registerApi, resign, serviceClient, serviceToken, unsecuredToken, type RegisteredApi } from './helpers.ts';

const INVOICES = 'https://invoices.example.test/api';
const PAYROLL = 'https://payroll.example.test/api';
const REPORTS = 'https://reports.example.test/api'; // opaque access tokens

let server: TestServer;
let foreign: TestServer;
let api: RegisteredApi;
let reports: RegisteredApi;
let service: oidc.Configuration;
let foreignService: oidc.Configuration;
const validators: TokenValidator[] = [];

beforeAll(async () => {
  [server, foreign] = await Promise.all([startTestServer(), startTestServer()]);
  api = await registerApi(server, INVOICES);
  await registerApi(server, PAYROLL);
  reports = await registerApi(server, REPORTS, { format: 'opaque' });
  service = (await serviceClient(server, 'Billing service')).config;
  // Another Tessera that also knows an API called INVOICES: its tokens are not ours.
  await registerApi(foreign, INVOICES);
  foreignService = (await serviceClient(foreign, 'Impostor')).config;
  await createUser(server, 'alice');
});
afterAll(async () => {
  await Promise.all(validators.map((v) => v.stop()));
  await Promise.all([server?.stop(), foreign?.stop()]);
});

async function validatorFor(mode: ValidationMode, target: RegisteredApi = api): Promise<TokenValidator> {
  const v = createTokenValidator({ issuer: server.issuer, audience: target.identifier, mode, clientId: target.clientId, clientSecret: target.clientSecret, onError: quietErrors().onError });
  validators.push(v);
  await v.start();
  return v;
}

/** What each mode reports for a token that is not this API's: locally the precise reason; introspection only says inactive. */
function refused(mode: ValidationMode, localReason: string) {
  return { ok: false, reason: mode === 'introspection' ? 'inactive' : localReason };
}

describe.each(['local', 'local+feed', 'introspection'] as const)('%s mode against Tessera', (mode) => {
  let v: TokenValidator;
  beforeAll(async () => {
    v = await validatorFor(mode);
  });

  it("accepts a client_credentials token for the API, with Tessera's claims", async () => {
    const result = await v.validate(await serviceToken(service, INVOICES));
    expect(result).toMatchObject({ ok: true, claims: { iss: server.issuer, aud: INVOICES, scope: 'invoices:read', client_id: expect.any(String), jti: expect.any(String) } });
    if (result.ok) expect(result.claims.gid).toBeUndefined();
  });

  it("accepts a person's token (authorization code with resource) and carries gid", async () => {
    const web = await createClient(server, { name: `Web ${mode}`, scope: 'openid invoices:read' });
    const config = await discover(server, web);
    const tokens = await exchange(config, await authorize(server, config, new BrowserSession(server.issuer), { scope: 'openid invoices:read', extra: { resource: INVOICES } }));
    const result = await v.validate(tokens.access_token);
    expect(result).toMatchObject({ ok: true, claims: { aud: INVOICES, client_id: web.client_id, scope: 'invoices:read' } });
    if (result.ok && mode !== 'introspection') expect(result.claims).toMatchObject({ sub: expect.any(String), gid: expect.any(String) });
  });

  it('refuses a token for the default audience and one for another registered API', async () => {
    expect(await v.validate(await serviceToken(service, undefined))).toMatchObject(refused(mode, 'wrong_audience'));
    const payroll = await serviceClient(server, `Payroll client ${mode}`);
    expect(await v.validate(await serviceToken(payroll.config, PAYROLL))).toMatchObject(refused(mode, 'wrong_audience'));
  });

  it('refuses an ID token (wrong typ)', async () => {
    const web = await createClient(server, { name: `Web idt ${mode}`, scope: 'openid invoices:read' });
    const config = await discover(server, web);
    const tokens = await exchange(config, await authorize(server, config, new BrowserSession(server.issuer), { scope: 'openid invoices:read', extra: { resource: INVOICES } }));
    expect(await v.validate(tokens.id_token!)).toMatchObject(refused(mode, 'wrong_type'));
  });

  it('refuses a genuine token stripped to alg none, or re-signed with a foreign key under our kid', async () => {
    const token = await serviceToken(service, INVOICES);
    const [header, payload] = token.split('.') as [string, string];
    const { kid } = JSON.parse(Buffer.from(header, 'base64url').toString());
    expect(await v.validate(unsecuredToken(JSON.parse(Buffer.from(payload, 'base64url').toString()), { alg: 'none', typ: 'at+jwt', kid }))).toMatchObject(refused(mode, 'algorithm_not_allowed'));
    const forged = await resign(token, await newKey('ES256'), { typ: 'at+jwt', kid });
    expect(await v.validate(forged)).toMatchObject(refused(mode, 'invalid_signature'));
  });

  it('refuses a token of another Tessera for an API of the same name (foreign issuer)', async () => {
    expect(await v.validate(await serviceToken(foreignService, INVOICES))).toMatchObject(refused(mode, 'unknown_key'));
  });
});

describe('signing algorithms', () => {
  it.each(['RS256', 'EdDSA'])('verifies tokens of a resource signed with %s locally', async (alg) => {
    const target = await registerApi(server, `https://${alg.toLowerCase()}.example.test/api`, { alg });
    const token = await serviceToken(service, target.identifier);
    expect(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString())).toMatchObject({ alg, typ: 'at+jwt' });
    expect(await (await validatorFor('local+feed', target)).validate(token)).toMatchObject({ ok: true, claims: { aud: target.identifier } });
    // An API that accepts ES256 only refuses it.
    const esOnly = createTokenValidator({ issuer: server.issuer, audience: target.identifier, mode: 'local', algorithms: ['ES256'] });
    expect(await esOnly.validate(token)).toMatchObject({ ok: false, reason: 'algorithm_not_allowed' });
  });
});

describe('opaque access tokens', () => {
  it('are validated by introspection and refused as malformed by local verification', async () => {
    const client = await serviceClient(server, 'Reports client');
    const token = await serviceToken(client.config, REPORTS);
    expect(token.split('.')).toHaveLength(1);
    expect(await (await validatorFor('introspection', reports)).validate(token)).toMatchObject({ ok: true, claims: { aud: REPORTS, scope: 'invoices:read' } });
    expect(await (await validatorFor('local', reports)).validate(token)).toMatchObject({ ok: false, reason: 'malformed' });
  });
});

describe('introspection credentials', () => {
  it('answers unavailable (not inactive) when the introspection client is refused', async () => {
    const v = createTokenValidator({ issuer: server.issuer, audience: INVOICES, mode: 'introspection', clientId: api.clientId, clientSecret: 'wrong' });
    expect(await v.validate(await serviceToken(service, INVOICES))).toMatchObject({ ok: false, reason: 'unavailable', detail: expect.stringContaining('401') });
  });

  it("an API's introspection client cannot see another API's tokens", async () => {
    const v = await validatorFor('introspection', reports);
    expect(await v.validate(await serviceToken(service, INVOICES))).toMatchObject({ ok: false, reason: 'inactive' });
  });
});
