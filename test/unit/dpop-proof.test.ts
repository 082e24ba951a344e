// The pure DPoP proof rules of the resource-server module (src/resource-server/dpop.ts), RFC 9449 §4.3 and §7,
// on a clock the test sets: the acceptance window, the replay cache's bounds in size and time, htu
// normalisation, the Authorization scheme, and which tokens need which scheme.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { accessTokenHash, checkBinding, createDPoPVerifier, createNonces, createReplayCache, dpopChallenge, dpopSettings, dpopToken, htuOf } from '../../src/resource-server/dpop.ts';
import type { AccessTokenClaims, TokenValidator } from '../../src/resource-server/types.ts';

const URL_CALLED = 'https://api.example.test/invoices';
const TOKEN = 'the-access-token';

async function key(alg = 'ES256') {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  const jwk = await exportJWK(publicKey);
  return { alg, privateKey, jwk, jkt: await calculateJwkThumbprint(jwk) };
}

async function proofAt(k: Awaited<ReturnType<typeof key>>, iat: number, claims: Record<string, unknown> = {}) {
  return new SignJWT({ htm: 'GET', htu: URL_CALLED, jti: randomUUID(), iat, ath: accessTokenHash(TOKEN), ...claims })
    .setProtectedHeader({ alg: k.alg, typ: 'dpop+jwt', jwk: k.jwk as JWK })
    .sign(k.privateKey);
}

function verifierAt(clock: { now: number }, options: Parameters<typeof dpopSettings>[0] = {}) {
  return createDPoPVerifier(dpopSettings({ ...options, now: () => clock.now }, 5));
}

describe('DPoP proof rules', () => {
  it('accepts a proof within the window (maxAgeSeconds back, the tolerance forward) and nothing outside it', async () => {
    const k = await key();
    const clock = { now: 1_000_000 };
    const v = verifierAt(clock, { maxAgeSeconds: 60 });
    const request = async (iat: number) => v.verify({ method: 'GET', url: URL_CALLED, proof: await proofAt(k, iat) }, TOKEN, k.jkt);
    expect(await request(clock.now)).toEqual({ ok: true, jkt: k.jkt });
    expect(await request(clock.now - 65)).toEqual({ ok: true, jkt: k.jkt });
    expect(await request(clock.now + 5)).toEqual({ ok: true, jkt: k.jkt });
    expect(await request(clock.now - 66)).toMatchObject({ ok: false, error: 'invalid_dpop_proof', description: 'The DPoP proof is not recent' });
    expect(await request(clock.now + 6)).toMatchObject({ ok: false, error: 'invalid_dpop_proof' });
  });

  it('refuses a replay while the proof could still be accepted, whatever the request', async () => {
    const k = await key();
    const clock = { now: 1_000_000 };
    const v = verifierAt(clock);
    const proof = await proofAt(k, clock.now);
    expect((await v.verify({ method: 'GET', url: URL_CALLED, proof }, TOKEN, k.jkt)).ok).toBe(true);
    expect(await v.verify({ method: 'GET', url: `${URL_CALLED}?again=1`, proof }, TOKEN, k.jkt)).toMatchObject({ ok: false, description: 'The DPoP proof was already used' });
    // Once the window has closed, the proof is refused as old and its entry is no longer needed.
    clock.now += 3600;
    expect(await v.verify({ method: 'GET', url: URL_CALLED, proof }, TOKEN, k.jkt)).toMatchObject({ ok: false, description: 'The DPoP proof is not recent' });
  });

  it('names the binding mismatch invalid_token, and the proof faults invalid_dpop_proof', async () => {
    const [k, other] = await Promise.all([key(), key('EdDSA')]);
    const clock = { now: 1_000_000 };
    const v = verifierAt(clock);
    expect(await v.verify({ method: 'GET', url: URL_CALLED, proof: await proofAt(other, clock.now) }, TOKEN, k.jkt)).toMatchObject({ ok: false, error: 'invalid_token' });
    expect(await v.verify({ method: 'POST', url: URL_CALLED, proof: await proofAt(k, clock.now) }, TOKEN, k.jkt)).toMatchObject({ error: 'invalid_dpop_proof' });
    expect(await v.verify({ method: 'GET', url: URL_CALLED, proof: await proofAt(k, clock.now, { jti: 7 }) }, TOKEN, k.jkt)).toMatchObject({ error: 'invalid_dpop_proof' });
    expect(await v.verify({ method: 'GET', url: URL_CALLED, proof: await proofAt(k, clock.now, { jti: 'x'.repeat(300) }) }, TOKEN, k.jkt)).toMatchObject({ error: 'invalid_dpop_proof' });
    expect(await v.verify({ method: 'GET', url: URL_CALLED, proof: [await proofAt(k, clock.now)] }, TOKEN, k.jkt)).toMatchObject({ error: 'invalid_dpop_proof' });
  });

  it('accepts only the algorithms it was given', async () => {
    const k = await key('EdDSA');
    const clock = { now: 1_000_000 };
    const v = verifierAt(clock, { algorithms: ['ES256'] });
    expect(await v.verify({ method: 'GET', url: URL_CALLED, proof: await proofAt(k, clock.now) }, TOKEN, k.jkt)).toMatchObject({ ok: false, description: expect.stringContaining('algorithm') });
    expect(() => dpopSettings({ algorithms: ['HS256'] }, 5)).toThrow(/asymmetric/);
    expect(() => dpopSettings({ maxAgeSeconds: 0 }, 5)).toThrow(/maxAgeSeconds/);
  });

  it('compares htu with the public origin when the API sits behind a proxy', async () => {
    const k = await key();
    const clock = { now: 1_000_000 };
    const v = verifierAt(clock, { publicOrigin: 'https://api.example.test' });
    const proof = await proofAt(k, clock.now);
    expect(await v.verify({ method: 'GET', url: 'http://10.0.0.5:8080/invoices?x=1', proof }, TOKEN, k.jkt)).toEqual({ ok: true, jkt: k.jkt });
  });
});

describe('API nonces (RFC 9449 §9)', () => {
  it('accepts the current and the previous minute\'s nonce, nothing older, nothing forged', () => {
    const clock = { now: 6_000_000 };
    const nonces = createNonces('s'.repeat(32), () => clock.now);
    const issued = nonces.current();
    expect(nonces.accepts(issued)).toBe(true);
    clock.now += 60;
    expect(nonces.accepts(issued)).toBe(true);
    expect(nonces.current()).not.toBe(issued);
    clock.now += 60;
    expect(nonces.accepts(issued)).toBe(false);
    expect(nonces.accepts('A'.repeat(43))).toBe(false);
    expect(nonces.accepts(undefined)).toBe(false);
    expect(nonces.accepts('é'.repeat(43))).toBe(false);
    expect(nonces.accepts(43)).toBe(false);
    expect(nonces.accepts(createNonces('t'.repeat(32), () => clock.now).current())).toBe(false);
  });

  it('asks for a nonce only once the proof is otherwise good', async () => {
    const k = await key();
    const clock = { now: 1_000_000 };
    const v = verifierAt(clock, { nonceSecret: 'x'.repeat(32) });
    const missing = await v.verify({ method: 'GET', url: URL_CALLED, proof: await proofAt(k, clock.now) }, TOKEN, k.jkt);
    expect(missing).toMatchObject({ ok: false, error: 'use_dpop_nonce', nonce: expect.any(String) });
    const nonce = (missing as { nonce: string }).nonce;
    expect(await v.verify({ method: 'POST', url: URL_CALLED, proof: await proofAt(k, clock.now) }, TOKEN, k.jkt)).toMatchObject({ error: 'invalid_dpop_proof' });
    expect(await v.verify({ method: 'GET', url: URL_CALLED, proof: await proofAt(k, clock.now, { nonce }) }, TOKEN, k.jkt)).toEqual({ ok: true, jkt: k.jkt });
    expect(() => dpopSettings({ nonceSecret: 'short' }, 5)).toThrow(/nonceSecret/);
  });
});

describe('the replay cache', () => {
  it('stays within its size, and refuses what it had to forget before its window closed', () => {
    let now = 1000;
    const cache = createReplayCache(3, () => now);
    for (const jti of ['a', 'b', 'c']) expect(cache.firstUse('k', jti, now, now + 60)).toBe(true);
    now += 1;
    expect(cache.firstUse('k', 'd', now, now + 60)).toBe(true); // 'a' forgotten
    expect(cache.size()).toBe(3);
    expect(cache.firstUse('k', 'a', 1000, 1060)).toBe(false); // might be a replay of the forgotten one
    expect(cache.firstUse('k', 'e', now, now + 60)).toBe(true); // fresh proofs go on
    expect(cache.firstUse('k', 'd', now, now + 60)).toBe(false);
  });

  it('drops entries whose window has closed', () => {
    let now = 1000;
    const cache = createReplayCache(100, () => now);
    for (let i = 0; i < 50; i++) cache.firstUse('k', `j${i}`, now, now + 60);
    now += 61;
    cache.firstUse('k', 'fresh', now, now + 60);
    expect(cache.size()).toBe(1);
  });

  it('keeps the same jti apart for different keys', () => {
    const cache = createReplayCache(10, () => 0);
    expect(cache.firstUse('k1', 'same', 0, 60)).toBe(true);
    expect(cache.firstUse('k2', 'same', 0, 60)).toBe(true);
  });
});

describe('htu, the scheme and the challenge', () => {
  it('normalises htu: no query or fragment, scheme and host case, default port; http(s) only', () => {
    expect(htuOf('HTTPS://API.Example.test:443/a/b?x=1#f')).toBe('https://api.example.test/a/b');
    expect(htuOf('https://api.example.test/a/B')).not.toBe(htuOf('https://api.example.test/a/b'));
    expect(htuOf('javascript:alert(1)')).toBeUndefined();
    expect(htuOf('not a url')).toBeUndefined();
  });

  it('reads Authorization: DPoP <token68>', () => {
    expect(dpopToken('DPoP abc.def-ghi_jkl~')).toBe('abc.def-ghi_jkl~');
    expect(dpopToken('dpop abc')).toBe('abc');
    expect(dpopToken('DPoP a b')).toBeNull();
    expect(dpopToken('DPoP')).toBeNull();
    expect(dpopToken('Bearer abc')).toBeUndefined();
    expect(dpopToken('DPoPx abc')).toBeUndefined();
  });

  it('builds the RFC 9449 §7.1 challenge without anything that breaks its quoting', () => {
    expect(dpopChallenge(['ES256', 'EdDSA'])).toBe('DPoP algs="ES256 EdDSA"');
    expect(dpopChallenge(['ES256'], { error: 'invalid_token', error_description: 'a "quoted" \\ thing' })).toBe('DPoP error="invalid_token", error_description="a quoted  thing", algs="ES256"');
  });

  it('binds schemes to tokens: a bound token needs DPoP, an unbound one Bearer', async () => {
    const claims = (cnf?: unknown) => ({ iss: 'i', aud: 'a', exp: 0, iat: 0, jti: 'j', client_id: 'c', ...(cnf ? { cnf } : {}) }) as AccessTokenClaims;
    const noProofs = undefined as TokenValidator['checkProof'];
    expect(await checkBinding(noProofs, { scheme: 'bearer', token: TOKEN, claims: claims() }, undefined)).toEqual({ ok: true });
    expect(await checkBinding(noProofs, { scheme: 'bearer', token: TOKEN, claims: claims({ jkt: 'x' }) }, undefined)).toMatchObject({ ok: false, error: 'invalid_token' });
    expect(await checkBinding(noProofs, { scheme: 'dpop', token: TOKEN, claims: claims() }, undefined)).toMatchObject({ ok: false, error: 'invalid_token' });
    // A validator that cannot check proofs accepts no bound token (fail closed).
    expect(await checkBinding(noProofs, { scheme: 'dpop', token: TOKEN, claims: claims({ jkt: 'x' }) }, { method: 'GET', url: URL_CALLED, proof: 'p' })).toMatchObject({ ok: false, error: 'invalid_dpop_proof' });
    // A confirmation it cannot check (a certificate's, a malformed one) is refused, not ignored.
    for (const cnf of [{ jkt: 5 }, { 'x5t#S256': 'abc' }, 'jkt']) {
      expect(await checkBinding(noProofs, { scheme: 'bearer', token: TOKEN, claims: claims(cnf) }, undefined)).toMatchObject({ ok: false, error: 'invalid_token' });
    }
  });
});
