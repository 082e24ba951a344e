// Signing keys (one per algorithm) and cookie-signing keys, generated on first start and kept in the
// database with their private parts sealed. Rotation comes with the clients-and-keys work.
import { randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Db } from '../store/db.ts';
import { insertKey, listKeys, withKeyLock } from '../store/keys.ts';
import type { SecretBox } from './secret-box.ts';

/** ES256 signs access tokens by default; RS256 is OpenID Connect's default for ID tokens; EdDSA on request. */
export const SIGNING_ALGORITHMS = ['ES256', 'RS256', 'EdDSA'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

const sealContext = (kid: string) => `key:${kid}`;

async function generateSigningJwk(alg: SigningAlgorithm): Promise<{ privateJwk: JWK; publicJwk: JWK }> {
  const options = alg === 'RS256' ? { modulusLength: 2048, extractable: true } : { extractable: true };
  const { privateKey, publicKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { ...options, crv: 'Ed25519' } : options);
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const meta = { kid, alg, use: 'sig' };
  return { privateJwk: { ...(await exportJWK(privateKey)), ...meta }, publicJwk: { ...publicJwk, ...meta } };
}

/** Creates whatever keys are missing. Safe when several processes start at once (advisory lock). */
export async function ensureKeys(db: Db, box: SecretBox): Promise<{ created: string[] }> {
  return withKeyLock(db, async (trx) => {
    const created: string[] = [];
    const signing = await listKeys(trx, 'signing');
    for (const alg of SIGNING_ALGORITHMS) {
      if (signing.some((k) => k.alg === alg && k.state === 'current')) continue;
      const { privateJwk, publicJwk } = await generateSigningJwk(alg);
      const kid = privateJwk.kid as string;
      await insertKey(trx, {
        kid,
        purpose: 'signing',
        alg,
        state: 'current',
        publicJwk: publicJwk as Record<string, unknown>,
        privateSealed: box.seal(JSON.stringify(privateJwk), sealContext(kid)),
      });
      created.push(`${alg}:${kid}`);
    }
    const cookie = await listKeys(trx, 'cookie');
    if (!cookie.some((k) => k.state === 'current')) {
      const kid = `cookie-${randomBytes(8).toString('hex')}`;
      await insertKey(trx, {
        kid,
        purpose: 'cookie',
        alg: null,
        state: 'current',
        publicJwk: null,
        privateSealed: box.seal(randomBytes(32).toString('base64url'), sealContext(kid)),
      });
      created.push(`cookie:${kid}`);
    }
    return { created };
  });
}

/** Private JWKs for the engine, current keys first (the engine signs with the first key of an algorithm). */
export async function loadSigningKeys(db: Db, box: SecretBox): Promise<JWK[]> {
  const rows = await listKeys(db, 'signing');
  return rows.map((row) => JSON.parse(box.open(row.privateSealed, sealContext(row.kid))) as JWK);
}

/** Cookie-signing secrets, the signing one first (Koa/keygrip verify with any, sign with the first). */
export async function loadCookieKeys(db: Db, box: SecretBox): Promise<string[]> {
  const rows = await listKeys(db, 'cookie');
  return rows.map((row) => box.open(row.privateSealed, sealContext(row.kid)));
}
