// Local verification against a stand-in issuer whose keys the test holds, so that tokens Tessera would never
// issue (expired, mistyped, foreign, unsigned, algorithm-confused) can be minted and must be refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportSPKI, SignJWT } from 'jose';
import { createTokenValidator, type TokenValidator } from '../../src/resource-server/index.ts';
import { freePort } from '../helpers/server.ts';
import { newKey, startStandInIssuer, unsecuredToken, type StandInIssuer } from './helpers.ts';

const AUDIENCE = 'https://api.example.test/invoices';
let idp: StandInIssuer;
let validator: TokenValidator;
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  idp = await startStandInIssuer(AUDIENCE);
  validator = createTokenValidator({ issuer: idp.issuer, audience: AUDIENCE, mode: 'local', jwksCooldownSeconds: 0 });
  await validator.start();
});
afterAll(async () => {
  await validator?.stop();
  await idp?.close();
});

describe("local mode: the issuer's keys and RFC 9068 claims", () => {
  it('accepts a valid token and returns its claims', async () => {
    const token = await idp.sign({ scope: 'invoices:read', gid: 'g1', roles: ['clerk'] });
    const result = await validator.validate(token);
    expect(result).toMatchObject({ ok: true, claims: { iss: idp.issuer, aud: AUDIENCE, client_id: 'svc', scope: 'invoices:read', gid: 'g1', roles: ['clerk'] } });
  });

  it('accepts an audience array that contains this API, and the long typ form application/at+jwt', async () => {
    expect((await validator.validate(await idp.sign({ aud: ['https://other.example.test', AUDIENCE] }))).ok).toBe(true);
    expect((await validator.validate(await idp.sign({}, { header: { typ: 'application/at+jwt' } })))).toMatchObject({ ok: true });
  });

  it('refuses an expired token, and honours the clock tolerance (5 s by default)', async () => {
    expect(await validator.validate(await idp.sign({ iat: now() - 400, exp: now() - 60 }))).toMatchObject({ ok: false, reason: 'expired' });
    expect(await validator.validate(await idp.sign({ iat: now() - 400, exp: now() - 2 }))).toMatchObject({ ok: true });
    const strict = createTokenValidator({ issuer: idp.issuer, audience: AUDIENCE, mode: 'local', clockToleranceSeconds: 0 });
    expect(await strict.validate(await idp.sign({ iat: now() - 400, exp: now() - 2 }))).toMatchObject({ ok: false, reason: 'expired' });
  });

  it('refuses a token that is not valid yet (nbf)', async () => {
    expect(await validator.validate(await idp.sign({ nbf: now() + 120 }))).toMatchObject({ ok: false, reason: 'not_yet_valid' });
  });

  it('refuses tokens without typ at+jwt (an ID token or a plain JWT)', async () => {
    expect(await validator.validate(await idp.sign({}, { header: { typ: 'JWT' } }))).toMatchObject({ ok: false, reason: 'wrong_type' });
    expect(await validator.validate(await idp.sign({}, { header: { typ: undefined } }))).toMatchObject({ ok: false, reason: 'wrong_type' });
  });

  it('refuses alg none', async () => {
    const payload = { iss: idp.issuer, aud: AUDIENCE, sub: 'svc', client_id: 'svc', jti: 'x', iat: now(), exp: now() + 300 };
    expect(await validator.validate(unsecuredToken(payload))).toMatchObject({ ok: false, reason: 'algorithm_not_allowed' });
    expect(await validator.validate(unsecuredToken(payload, { alg: 'none', typ: 'at+jwt', kid: idp.current().kid }))).toMatchObject({ ok: false, reason: 'algorithm_not_allowed' });
  });

  it('refuses an HS256 token "signed" with the public key (algorithm confusion)', async () => {
    const spki = new TextEncoder().encode(await exportSPKI(await crypto.subtle.importKey('jwk', idp.current().publicJwk as JsonWebKey, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify'])));
    const forged = await new SignJWT({ client_id: 'svc', jti: 'x' })
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: idp.current().kid })
      .setIssuer(idp.issuer).setAudience(AUDIENCE).setSubject('svc').setIssuedAt().setExpirationTime('5m')
      .sign(spki);
    expect(await validator.validate(forged)).toMatchObject({ ok: false, reason: 'algorithm_not_allowed' });
  });

  it('refuses an algorithm outside the allow-list even when the key is genuine', async () => {
    const esOnly = createTokenValidator({ issuer: idp.issuer, audience: AUDIENCE, mode: 'local', algorithms: ['RS256'] });
    expect(await esOnly.validate(await idp.sign())).toMatchObject({ ok: false, reason: 'algorithm_not_allowed' });
  });

  it("refuses a token signed by someone else's key, with a known kid or an unknown one", async () => {
    const attacker = await newKey('ES256', idp.current().kid);
    expect(await validator.validate(await idp.sign({}, { key: attacker }))).toMatchObject({ ok: false, reason: 'invalid_signature' });
    const stranger = await newKey('ES256');
    expect(await validator.validate(await idp.sign({}, { key: stranger }))).toMatchObject({ ok: false, reason: 'unknown_key' });
  });

  it('refuses a token of another issuer and one for another audience', async () => {
    expect(await validator.validate(await idp.sign({ iss: 'https://evil.example.test' }))).toMatchObject({ ok: false, reason: 'wrong_issuer' });
    expect(await validator.validate(await idp.sign({ aud: 'https://other.example.test/api' }))).toMatchObject({ ok: false, reason: 'wrong_audience' });
  });

  it('refuses tokens missing RFC 9068 claims or carrying them with the wrong type', async () => {
    expect(await validator.validate(await idp.sign({ jti: undefined }))).toMatchObject({ ok: false, reason: 'missing_claim' });
    expect(await validator.validate(await idp.sign({ client_id: undefined }))).toMatchObject({ ok: false, reason: 'missing_claim' });
    expect(await validator.validate(await idp.sign({ jti: 42 as unknown as string }))).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it('refuses garbage and oversized input as malformed, without throwing', async () => {
    for (const token of ['', 'abc', 'a.b.c', 'x'.repeat(20_000), `${(await idp.sign()).slice(0, -4)}`]) {
      const result = await validator.validate(token);
      expect(result.ok).toBe(false);
    }
    expect(await validator.validate('a.b.c')).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it('follows a key rollover: a token with a new kid triggers one refetch of the key set', async () => {
    const before = idp.jwksFetches();
    await idp.rotate();
    expect(await validator.validate(await idp.sign())).toMatchObject({ ok: true });
    expect(idp.jwksFetches()).toBe(before + 1);
    // Known kid: no further fetch.
    expect(await validator.validate(await idp.sign())).toMatchObject({ ok: true });
    expect(idp.jwksFetches()).toBe(before + 1);
  });

  it('verifies EdDSA and RS256 tokens', async () => {
    for (const alg of ['EdDSA', 'RS256']) {
      const other = await startStandInIssuer(AUDIENCE, { alg });
      try {
        const v = createTokenValidator({ issuer: other.issuer, audience: AUDIENCE, mode: 'local' });
        expect(await v.validate(await other.sign())).toMatchObject({ ok: true });
      } finally {
        await other.close();
      }
    }
  });
});

describe('local mode: issuer problems', () => {
  it('answers unavailable (not an exception) when the issuer cannot be reached, and start() rejects', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const v = createTokenValidator({ issuer: dead, audience: AUDIENCE, mode: 'local', requestTimeoutSeconds: 1 });
    expect(await v.validate(await idp.sign({ iss: dead }))).toMatchObject({ ok: false, reason: 'unavailable' });
    await expect(v.start()).rejects.toThrow(/request to .* failed/);
  });

  it('goes on verifying with the keys it has while the issuer is down; a key it never saw is unavailable', async () => {
    const other = await startStandInIssuer(AUDIENCE);
    const v = createTokenValidator({ issuer: other.issuer, audience: AUDIENCE, mode: 'local', jwksCacheMaxAgeSeconds: 0, requestTimeoutSeconds: 1 });
    await v.start();
    const known = await other.sign();
    const unknown = await other.sign({}, { key: await newKey('ES256') });
    await other.close();
    const t0 = Date.now();
    for (let i = 0; i < 5; i++) expect(await v.validate(known)).toMatchObject({ ok: true });
    expect(await v.validate(await other.sign({ exp: now() - 60 }))).toMatchObject({ ok: false, reason: 'expired' });
    expect(await v.validate(unknown)).toMatchObject({ ok: false, reason: 'unavailable' });
    expect(Date.now() - t0).toBeLessThan(1500);
  });

  it('refuses a discovery document that names another issuer (mix-up)', async () => {
    const other = await startStandInIssuer(AUDIENCE);
    try {
      other.setDiscoveryIssuer('https://evil.example.test');
      const v = createTokenValidator({ issuer: other.issuer, audience: AUDIENCE, mode: 'local' });
      expect(await v.validate(await other.sign())).toMatchObject({ ok: false, reason: 'unavailable', detail: expect.stringContaining('names issuer') });
    } finally {
      await other.close();
    }
  });

  it('rejects bad options at construction with a TypeError', () => {
    const base = { issuer: idp.issuer, audience: AUDIENCE };
    expect(() => createTokenValidator({ ...base, mode: 'local', algorithms: ['HS256'] })).toThrow(TypeError);
    expect(() => createTokenValidator({ ...base, mode: 'local', algorithms: ['none'] })).toThrow(TypeError);
    expect(() => createTokenValidator({ ...base, mode: 'introspection' })).toThrow(/clientId and clientSecret/);
    expect(() => createTokenValidator({ ...base, mode: 'local+feed' })).toThrow(/clientId and clientSecret/);
    expect(() => createTokenValidator({ ...base, mode: 'remote' as 'local' })).toThrow(/mode/);
    expect(() => createTokenValidator({ ...base, issuer: 'not a url', mode: 'local' })).toThrow(/issuer/);
    expect(() => createTokenValidator({ ...base, mode: 'local+feed', clientId: 'a', clientSecret: 'b', feed: { pollWaitSeconds: 60 } })).toThrow(/pollWaitSeconds/);
  });
});
