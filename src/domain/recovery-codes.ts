// Recovery codes: ten single-use codes for when the authenticator app is lost. Each is 16 characters of
// Crockford base32 (80 random bits), shown once, stored only as SHA-256 salted with the account id (no slow
// hash needed: 80 random bits cannot be guessed offline; OWASP MFA Cheat Sheet).
import { createHash, randomBytes } from 'node:crypto';

export const RECOVERY_CODE_COUNT = 10;
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

function randomCode(): string {
  const bytes = randomBytes(16);
  let out = '';
  for (let i = 0; i < 16; i++) out += ALPHABET[bytes[i]! & 31];
  return `${out.slice(0, 4)}-${out.slice(4, 8)}-${out.slice(8, 12)}-${out.slice(12)}`;
}

export function newRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODE_COUNT }, randomCode);
}

/** What a person typed, in canonical form (case, dashes, spaces and look-alikes forgiven), or undefined. */
export function normalizeRecoveryCode(input: string): string | undefined {
  const s = input.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
  return /^[0-9A-HJKMNP-TV-Z]{16}$/.test(s) ? s : undefined;
}

export function recoveryCodeHash(accountId: string, code: string): string | undefined {
  const normalized = normalizeRecoveryCode(code);
  if (!normalized) return undefined;
  return createHash('sha256').update(`tessera-recovery-code\0${accountId}\0${normalized}`).digest('base64url');
}
