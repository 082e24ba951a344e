// Brute-force protection for the device flow's user codes (RFC 8628 §5.1: "the authorization server
// SHOULD rate-limit user code attempts"). A base-20 code of 8 characters holds about 34 bits; guessing one
// that is pending needs billions of tries, which these limits put out of reach:
//   - per client IP: every lookup takes a point, and a lookup that finds a code gives it back, so only
//     wrong codes count (DEVICE_CODE_MAX_FAILURES_PER_IP per hour; the one that reaches the limit locks the IP out for an hour);
//   - per code: a code may be looked up at most MAX_LOOKUPS_PER_CODE times in its lifetime, whoever asks
//     (the person needs two: entering it, then confirming), so a code seen over a shoulder or leaked is not
//     a standing target.
// The counters are the sign-in throttle's (store/login-attempts.ts): one conditional upsert per point, in
// PostgreSQL, so the limits hold across server processes and parallel requests get no extra tries.
import { createHash } from 'node:crypto';
import type { Db } from '../store/db.ts';
import { returnPoint, takePoint } from '../store/login-attempts.ts';

export const MAX_LOOKUPS_PER_CODE = 10;

export interface UserCodeThrottleSettings {
  maxFailuresPerIp: number;
  /** A code's lifetime: its lookup count lasts as long. */
  codeTtlSeconds: number;
}

export type UserCodeGate = { ok: true; ipKey: string } | { ok: false; retryAfterSeconds: number };

/**
 * The longest code worth a lookup, as the engine hands it over normalised (oidc-provider
 * lib/helpers/user_codes.js: letters upper-cased, all but [A-Za-z0-9_] dropped): ours are 8 characters.
 */
export const MAX_USER_CODE_LENGTH = 32;

// Codes are not kept in clear in the counters' table either.
const codeKey = (normalized: string) => `ucode:${createHash('sha256').update(normalized).digest('base64url')}`;

export function createUserCodeThrottle(db: Db, settings: UserCodeThrottleSettings) {
  const hourMs = 3600 * 1000;
  return {
    /** Before a lookup of `normalized` from `ip`: takes a point per IP, then per code, or says how long to wait. */
    async begin(ip: string, normalized: string): Promise<UserCodeGate> {
      const ipKey = `device-ip:${ip}`;
      const ipPoint = await takePoint(db, ipKey, { limit: settings.maxFailuresPerIp, windowMs: hourMs, lockMs: hourMs });
      if (!ipPoint.taken) return { ok: false, retryAfterSeconds: Math.ceil(ipPoint.retryAfterMs / 1000) };
      const ttlMs = settings.codeTtlSeconds * 1000;
      const codePoint = await takePoint(db, codeKey(normalized), { limit: MAX_LOOKUPS_PER_CODE, windowMs: ttlMs, lockMs: ttlMs });
      if (!codePoint.taken) {
        // Refused unverified: the IP's point goes back (this was no guess).
        await returnPoint(db, ipKey);
        return { ok: false, retryAfterSeconds: Math.ceil(codePoint.retryAfterMs / 1000) };
      }
      return { ok: true, ipKey };
    },

    /** The lookup found a code: it was no guess, so the IP gets its point back. */
    async found(gate: { ipKey: string }): Promise<void> {
      await returnPoint(db, gate.ipKey);
    },
  };
}

export type UserCodeThrottle = ReturnType<typeof createUserCodeThrottle>;
