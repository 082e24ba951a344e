// Client secrets: 256 random bits, shown once, stored sealed (AES-256-GCM under the instance secret).
// Rotation with overlap: the secret before the last rotation keeps working for a grace period, kept only
// as a SHA-256 hash (a high-entropy secret needs no slow hash), so a database dump reveals no usable secret.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../store/db.ts';
import { findClientById, findClientSecrets, replaceClientSecret } from '../store/clients.ts';
import { insertAuditEvent } from '../store/audit.ts';
import { NotFound, ValidationError } from '../errors.ts';
import type { SecretBox } from './secret-box.ts';

export const clientSecretContext = (clientId: string) => `client_secret:${clientId}`;

/**
 * 128 random bits, base64url, never starting with '-' or '_': an id that starts with '-' reads as an option
 * on a command line (`tessera client rotate-secret --client-id -x…`), which happens once in 32 ids otherwise.
 */
export function generateClientId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (/^[A-Za-z0-9]/.test(id)) return id;
  }
}

export function generateClientSecret(): string {
  return randomBytes(32).toString('base64url');
}

const sha256 = (value: string) => createHash('sha256').update(value).digest();

export interface RotatedSecret {
  client_id: string;
  client_secret: string;
  /** Until when the secret before this rotation still works (null: it stopped at once). */
  previous_secret_expires_at: number | null;
}

/**
 * Gives the client a new secret. The current one keeps working for `graceSeconds` (0: stops at once); a
 * secret from before an earlier rotation stops now — at most two secrets work at any time.
 */
export async function rotateClientSecret(db: Db, box: SecretBox, clientId: string, graceSeconds: number): Promise<RotatedSecret> {
  if (!Number.isInteger(graceSeconds) || graceSeconds < 0 || graceSeconds > 90 * 24 * 3600) {
    throw new ValidationError('grace period must be 0-7776000 seconds (90 days)');
  }
  const client = await findClientById(db, clientId);
  if (!client) throw new NotFound(`no client "${clientId}"`);
  if (!client.secretSealed) {
    throw new ValidationError(`client "${clientId}" authenticates with ${String(client.metadata.token_endpoint_auth_method)}: it has no secret to rotate`);
  }
  const secret = generateClientSecret();
  const previous = box.open(client.secretSealed, clientSecretContext(clientId));
  const previousExpiresAt = graceSeconds > 0 ? new Date(Date.now() + graceSeconds * 1000) : null;
  await replaceClientSecret(db, clientId, {
    secretSealed: box.seal(secret, clientSecretContext(clientId)),
    previousSecretHash: previousExpiresAt ? sha256(previous).toString('hex') : null,
    previousSecretExpiresAt: previousExpiresAt,
  });
  await insertAuditEvent(db, { type: 'client.secret_rotated', clientId, details: { grace_seconds: graceSeconds } });
  return {
    client_id: clientId,
    client_secret: secret,
    previous_secret_expires_at: previousExpiresAt ? Math.floor(previousExpiresAt.getTime() / 1000) : null,
  };
}

/**
 * Whether `presented` is the client's secret as stored right now, or its previous secret within the grace
 * period. Read fresh from the database: asked only when the engine's (briefly cached) copy did not match.
 */
export async function matchesStoredSecret(db: Db, box: SecretBox, clientId: string, presented: string): Promise<boolean> {
  const secrets = await findClientSecrets(db, clientId);
  if (!secrets) return false;
  const presentedHash = sha256(presented);
  if (secrets.secretSealed && timingSafeEqual(presentedHash, sha256(box.open(secrets.secretSealed, clientSecretContext(clientId))))) return true;
  const inGrace = secrets.previousSecretHash && secrets.previousSecretExpiresAt && secrets.previousSecretExpiresAt > new Date();
  return Boolean(inGrace && timingSafeEqual(presentedHash, Buffer.from(secrets.previousSecretHash!, 'hex')));
}
