// Outgoing requests, one switch per purpose (src/oidc/outbound.ts). BACKCHANNEL_LOGOUT_ALLOW_PRIVATE lets logout
// tokens reach apps on loopback/private networks; it does not let a registrant make the server fetch its
// jwks_uri or sector_identifier_uri from such addresses — that takes REGISTRATION_FETCH_ALLOW_PRIVATE. The
// metadata documents are served over https on 127.0.0.1 with a certificate the test process trusts, so
// "fetched" is seen as a request reaching that server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { startRelyingParty, type RelyingParty } from '../helpers/relying-party.ts';
import { startHttpsServer, type HttpsServer } from '../helpers/https-server.ts';
import { BrowserSession } from '../helpers/browser-session.ts';
import { authorize, createClient, createUser, discover, exchange, REDIRECT_URI } from '../helpers/oauth.ts';
import { runOperation } from '../../src/services/operations.ts';
import { parseConfig } from '../../src/config.ts';

let backchannelOnly: TestServer; // the test default: BACKCHANNEL_LOGOUT_ALLOW_PRIVATE=true only
let registrationOnly: TestServer; // REGISTRATION_FETCH_ALLOW_PRIVATE=true, BACKCHANNEL_LOGOUT_ALLOW_PRIVATE=false
let rp: RelyingParty;
let documents: HttpsServer;
let privateKey: CryptoKey;
let publicJwk: JWK;

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  privateKey = pair.privateKey;
  publicJwk = { ...(await exportJWK(pair.publicKey)), alg: 'ES256', use: 'sig' };
  documents = await startHttpsServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/jwks') res.end(JSON.stringify({ keys: [publicJwk] }));
    else if (req.url === '/sector') res.end(JSON.stringify([REDIRECT_URI]));
    else res.writeHead(404).end('{}');
  });
  rp = await startRelyingParty();
  backchannelOnly = await startTestServer();
  registrationOnly = await startTestServer({ env: { BACKCHANNEL_LOGOUT_ALLOW_PRIVATE: 'false', REGISTRATION_FETCH_ALLOW_PRIVATE: 'true' } });
  await createUser(backchannelOnly, 'alice');
  await createUser(registrationOnly, 'alice');
});
afterAll(async () => {
  await backchannelOnly?.stop();
  await registrationOnly?.stop();
  await rp?.close();
  await documents?.close();
});

async function register(server: TestServer, metadata: Record<string, unknown>) {
  const { initial_access_token: token } = await runOperation(server.operations, 'iat.create', {});
  const res = await fetch(`${server.issuer}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ client_name: 'Registrant', redirect_uris: [REDIRECT_URI], ...metadata }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

/** client_credentials with a private_key_jwt assertion signed by the key the documents server publishes. */
async function tokenWithAssertion(server: TestServer, clientId: string) {
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: 'ES256' })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(server.issuer)
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime('60s')
    .sign(privateKey);
  const res = await fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

const keyClient = (jwksUri: string) => ({
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: 'private_key_jwt',
  token_endpoint_auth_signing_alg: 'ES256',
  jwks_uri: jwksUri,
});

/** A person signs in to an app with a back-channel logout URI on loopback; disabling them ends the session. */
async function logoutDeliveries(server: TestServer, username: string) {
  await createUser(server, username);
  const client = await createClient(server, { name: 'Loopback App', backchannelLogoutUri: `${rp.url}/backchannel` });
  const config = await discover(server, client);
  await exchange(config, await authorize(server, config, new BrowserSession(server.issuer), { username, scope: 'openid' }));
  const before = rp.logoutTokens.length;
  const result = await runOperation(server.operations, 'user.disable', { user: username });
  expect(result).toMatchObject({ sessions_ended: 1 });
  return { notified: (result as { logout_notifications: number }).logout_notifications, received: rp.logoutTokens.length - before };
}

describe('with only the back-channel logout switch on (BACKCHANNEL_LOGOUT_ALLOW_PRIVATE)', () => {
  it('refuses a registration whose jwks_uri or sector_identifier_uri points at a loopback or private address', async () => {
    const refused: Array<Record<string, unknown>> = [
      keyClient(`${documents.url}/jwks`),
      { sector_identifier_uri: `${documents.url}/sector` },
      keyClient('https://localhost/jwks'),
      keyClient('https://10.1.2.3/jwks'),
      keyClient('https://[::1]/jwks'),
      keyClient('https://[::ffff:127.0.0.1]/jwks'),
      { sector_identifier_uri: 'https://169.254.169.254/latest/meta-data' },
    ];
    for (const metadata of refused) {
      const { status, body } = await register(backchannelOnly, metadata);
      expect(status, JSON.stringify(metadata)).toBe(400);
      expect(body.error).toBe('invalid_client_metadata');
      expect(body.error_description).toMatch(/must not point at a private network address/);
    }
    expect(documents.requests).toEqual([]);
  });

  it('refuses the same on an RFC 7592 update', async () => {
    const { status, body } = await register(backchannelOnly, keyClient('https://keys.example.com/jwks'));
    expect(status).toBe(201);
    const update = await fetch(body.registration_client_uri!, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${body.registration_access_token}` },
      body: JSON.stringify({ ...keyClient(`${documents.url}/jwks`), client_name: 'Registrant', client_id: body.client_id }),
    });
    expect(update.status).toBe(400);
    expect(((await update.json()) as { error: string }).error).toBe('invalid_client_metadata');
  });

  it('keeps the guard on the fetch itself: a loopback jwks_uri set by an operator is not fetched, so its key does not authenticate', async () => {
    const client = await createClient(backchannelOnly, { name: 'Operator key client', redirectUris: [], grantTypes: ['client_credentials'], authMethod: 'private_key_jwt', jwksUri: `${documents.url}/jwks` });
    const { status, body } = await tokenWithAssertion(backchannelOnly, client.client_id);
    expect(status).toBe(401);
    expect(body.error).toBe('invalid_client');
    expect(documents.requests).toEqual([]); // the engine's guard cut the connection before any request
  });

  it('still delivers back-channel logout to an app on loopback', async () => {
    expect(await logoutDeliveries(backchannelOnly, 'bob')).toEqual({ notified: 1, received: 1 });
  });
});

describe('with only the registration fetch switch on (REGISTRATION_FETCH_ALLOW_PRIVATE)', () => {
  it('registers a client whose jwks_uri and sector_identifier_uri are on loopback, fetches them, and accepts its key', async () => {
    const { status, body } = await register(registrationOnly, { ...keyClient(`${documents.url}/jwks`), sector_identifier_uri: `${documents.url}/sector` });
    expect(status, JSON.stringify(body)).toBe(201);
    expect(documents.requests).toContain('GET /sector');
    const token = await tokenWithAssertion(registrationOnly, body.client_id!);
    expect(token.status, JSON.stringify(token.body)).toBe(200);
    expect(token.body.access_token).toBeTruthy();
    expect(documents.requests).toContain('GET /jwks');
  });

  it('does not deliver back-channel logout to an app on loopback', async () => {
    expect(await logoutDeliveries(registrationOnly, 'carol')).toEqual({ notified: 0, received: 0 });
  });
});

describe('the switches in the configuration', () => {
  const parse = (env: Record<string, string>) => parseConfig({ TESSERA_DATA_DIR: ':memory:', ...env });
  it('are both off by default, and OUTBOUND_ALLOW_PRIVATE still means back-channel logout only', () => {
    expect(parse({})).toMatchObject({ ok: true, config: { backchannelLogoutAllowPrivate: false, registrationFetchAllowPrivate: false } });
    expect(parse({ OUTBOUND_ALLOW_PRIVATE: 'true' })).toMatchObject({ ok: true, config: { backchannelLogoutAllowPrivate: true, registrationFetchAllowPrivate: false } });
    expect(parse({ OUTBOUND_ALLOW_PRIVATE: 'true', BACKCHANNEL_LOGOUT_ALLOW_PRIVATE: 'true' })).toMatchObject({ ok: true, config: { backchannelLogoutAllowPrivate: true } });
  });

  it('refuses the old and the new name set to different values', () => {
    const result = parse({ OUTBOUND_ALLOW_PRIVATE: 'true', BACKCHANNEL_LOGOUT_ALLOW_PRIVATE: 'false' });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problems[0]).toMatch(/^OUTBOUND_ALLOW_PRIVATE: the old name of BACKCHANNEL_LOGOUT_ALLOW_PRIVATE/);
  });
});
