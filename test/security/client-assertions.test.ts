// private_key_jwt client assertions live at most five minutes (src/oidc/client-assertions.ts): a long-lived
// assertion is refused with invalid_client at every endpoint that authenticates clients, a fresh one works.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { createClient } from '../helpers/oauth.ts';
import { MAX_CLIENT_ASSERTION_LIFETIME } from '../../src/oidc/client-assertions.ts';

let server: TestServer;
let clientId: string;
let privateKey: CryptoKey;

beforeAll(async () => {
  server = await startTestServer();
  const pair = await generateKeyPair('ES256');
  privateKey = pair.privateKey;
  const client = await createClient(server, {
    name: 'Key client',
    redirectUris: [],
    grantTypes: ['client_credentials'],
    authMethod: 'private_key_jwt',
    jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), alg: 'ES256', use: 'sig' }] },
  });
  clientId = client.client_id;
});
afterAll(() => server?.stop());

/** An assertion issued at `iat` (omitted when null) that expires `lifetime` seconds later. */
async function assertion({ lifetime, iat = Math.floor(Date.now() / 1000) }: { lifetime: number; iat?: number | null }) {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({})
    .setProtectedHeader({ alg: 'ES256' })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(server.issuer)
    .setJti(randomUUID())
    .setExpirationTime((iat ?? now) + lifetime);
  if (iat !== null) jwt.setIssuedAt(iat);
  return jwt.sign(privateKey);
}

async function post(path: string, params: Record<string, string>, clientAssertion: string) {
  const res = await fetch(`${server.issuer}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      ...params,
      client_id: clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: clientAssertion,
    }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
const token = (clientAssertion: string) => post('/token', { grant_type: 'client_credentials' }, clientAssertion);

describe('private_key_jwt client assertion lifetime', () => {
  it('accepts a 60-second assertion, and one of exactly the limit', async () => {
    const short = await token(await assertion({ lifetime: 60 }));
    expect(short.status, JSON.stringify(short.body)).toBe(200);
    expect(short.body.access_token).toBeTruthy();
    expect((await token(await assertion({ lifetime: MAX_CLIENT_ASSERTION_LIFETIME }))).status).toBe(200);
  });

  it('refuses a 2-hour assertion with invalid_client', async () => {
    const { status, body } = await token(await assertion({ lifetime: 2 * 3600 }));
    expect(status).toBe(401);
    expect(body.error).toBe('invalid_client');
    expect((await token(await assertion({ lifetime: MAX_CLIENT_ASSERTION_LIFETIME + 1 }))).body.error).toBe('invalid_client');
  });

  it('refuses an assertion without iat, or issued in the future to look short-lived', async () => {
    expect((await token(await assertion({ lifetime: 60, iat: null }))).body.error).toBe('invalid_client');
    const later = Math.floor(Date.now() / 1000) + 3600;
    expect((await token(await assertion({ lifetime: 60, iat: later }))).body.error).toBe('invalid_client');
  });

  it('applies at introspection and revocation too', async () => {
    const { body } = await token(await assertion({ lifetime: 60 }));
    const accessToken = body.access_token as string;
    for (const path of ['/token/introspection', '/token/revocation']) {
      const refused = await post(path, { token: accessToken }, await assertion({ lifetime: 2 * 3600 }));
      expect(refused.status, path).toBe(401);
      expect(refused.body.error).toBe('invalid_client');
    }
    const introspected = await post('/token/introspection', { token: accessToken }, await assertion({ lifetime: 60 }));
    expect(introspected.status).toBe(200);
  });
});
