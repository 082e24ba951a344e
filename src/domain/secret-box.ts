// AES-256-GCM encryption at rest for private keys and client secrets (brief: "secrets and keys encrypted
// at rest"). The key is derived from TESSERA_SECRET with HKDF so the raw secret is never used directly.
// Each ciphertext is bound to its context (e.g. "client_secret:<id>") through GCM's additional data, so a
// ciphertext copied onto another row does not decrypt.
import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync, randomBytes } from 'node:crypto';

const VERSION = 'v1';

export interface SecretBox {
  seal(plaintext: string, context: string): string;
  open(sealed: string, context: string): string;
  /**
   * A 32-byte key for one purpose (e.g. the engine's DPoP nonces), derived from TESSERA_SECRET with HKDF:
   * the same in every process of an instance, different per purpose, and never the secret itself.
   */
  derive(purpose: string): Buffer;
}

export function createSecretBox(secret: string): SecretBox {
  // A KeyObject, built once: passing raw bytes would rebuild the key on every call (hot: client secrets).
  const key = createSecretKey(Buffer.from(hkdfSync('sha256', secret, 'tessera', 'tessera secret-box v1', 32)));
  return {
    seal(plaintext, context) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(context));
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return [VERSION, iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
    },
    derive(purpose) {
      return Buffer.from(hkdfSync('sha256', secret, 'tessera', `tessera derived key v1: ${purpose}`, 32));
    },
    open(sealed, context) {
      const [version, iv, body, tag] = sealed.split('.');
      if (version !== VERSION || !iv || body === undefined || !tag) throw new Error('unrecognised ciphertext format');
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(context));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
    },
  };
}
