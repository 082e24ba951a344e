// Authenticator apps (RFC 6238 TOTP with the defaults every app understands: SHA-1, 6 digits, 30 s). The
// secret is 20 random bytes (RFC 4226 §4 recommends 160 bits). A code is accepted for the current step and
// one step either side (clock drift, RFC 6238 §5.2); the step it matched is returned so the caller records it
// and no code is accepted twice (RFC 6238 §5.2: "MUST NOT accept the second attempt of the same OTP").
import { Secret, TOTP } from 'otpauth';

export const TOTP_PERIOD_SECONDS = 30;
const DIGITS = 6;
const WINDOW = 1;

export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

function totpOf(secretBase32: string, issuer = '', label = ''): TOTP {
  return new TOTP({ issuer, label, secret: Secret.fromBase32(secretBase32), algorithm: 'SHA1', digits: DIGITS, period: TOTP_PERIOD_SECONDS });
}

/** The otpauth:// URI an authenticator app reads from the QR code. */
export function totpUri(secretBase32: string, issuer: string, label: string): string {
  return totpOf(secretBase32, issuer, label).toString();
}

/** A well-formed code: exactly six digits (spaces people type between groups removed). */
export function normalizeTotpCode(input: string): string | undefined {
  const code = input.replace(/[\s-]/g, '');
  return /^[0-9]{6}$/.test(code) ? code : undefined;
}

/** The time step the code matches at `now`, or undefined. Only steps after `lastStep` count. */
export function matchTotp(secretBase32: string, code: string, now: Date, lastStep: number): number | undefined {
  const normalized = normalizeTotpCode(code);
  if (!normalized) return undefined;
  const totp = totpOf(secretBase32);
  const current = Math.floor(now.getTime() / 1000 / TOTP_PERIOD_SECONDS);
  // Newest step first: a code valid now is recorded as now, so the previous step's code is also spent.
  for (let delta = WINDOW; delta >= -WINDOW; delta--) {
    const step = current + delta;
    if (step <= lastStep) continue;
    if (totp.validate({ token: normalized, timestamp: step * TOTP_PERIOD_SECONDS * 1000, window: 0 }) === 0) return step;
  }
  return undefined;
}
