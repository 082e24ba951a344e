// Token and session identifiers are bearer credentials: only their SHA-256 is stored (RFC 9700 §4.14 spirit:
// a leaked database must not yield usable tokens).
import { createHash } from 'node:crypto';

export function bearerHash(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}
