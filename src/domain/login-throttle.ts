// Brute-force protection for sign-in (OWASP Authentication Cheat Sheet): attempts are counted per account
// name — in its normalized form (domain/usernames.ts), the form lookups use — and per client IP in
// PostgreSQL, so the limit holds across server processes.
//
// Checking and counting are one step: before the password is verified, the attempt atomically takes a point
// of each key, and is refused unverified when a key has none left. So a burst of parallel requests gets no
// more guesses than the same requests one after another. The attempt that takes a key's last point starts
// its lock-out; if that attempt fails, the lock stands (each further lock-out of the key within a day
// doubles it). Requests refused while locked change nothing: they neither count, nor extend, nor double
// the lock. A correct password clears the account's count and gives the IP its point back. While locked,
// even a correct password does not sign in.
import type { Db } from '../store/db.ts';
import { clearPoints, countEvent, extendLock, returnPoint, takePoint } from '../store/login-attempts.ts';
import { normalizeUsername } from './usernames.ts';

export interface ThrottleSettings {
  /** Consecutive failures per account name before a lock-out. */
  maxFailuresPerAccount: number;
  /** Failures per IP address per hour before a lock-out. */
  maxFailuresPerIp: number;
  /** First lock-out length; doubled for each further lock-out within 24 hours, capped at 24 hours. */
  baseLockSeconds: number;
}

export type ThrottleCheck = { ok: true } | { ok: false; retryAfterSeconds: number };

/** An attempt allowed to verify a password; settle it with `failed` or `succeeded`. */
export interface LoginAttempt {
  readonly taken: ReadonlyArray<{ kind: 'ip' | 'account'; key: string; points: number; expire: number; limit: number }>;
}

export type ThrottleGate = { ok: true; attempt: LoginAttempt } | { ok: false; retryAfterSeconds: number };

const DAY_MS = 24 * 3600 * 1000;

/** The account's lock-out key: its normalized name (no account's name holds a control character). */
const accountKey = (username: string) => `acct:${[...normalizeUsername(username).replace(/\p{Cc}/gu, '\uFFFD')].slice(0, 200).join('')}`;

export function createLoginThrottle(db: Db, settings: ThrottleSettings) {
  const baseMs = settings.baseLockSeconds * 1000;
  const rule = (limit: number, windowMs: number) => ({ limit, windowMs, lockMs: baseMs });
  const seconds = (ms: number) => Math.ceil(ms / 1000);

  return {
    /** Before verifying the password: takes a point per IP, then per account name, or says how long to wait. */
    async begin(username: string, ip: string): Promise<ThrottleGate> {
      // The IP first: an address that is locked out cannot use up (and so lock) anyone's account.
      const keys = [
        { kind: 'ip' as const, key: `ip:${ip}`, ...rule(settings.maxFailuresPerIp, 3600 * 1000) },
        { kind: 'account' as const, key: accountKey(username), ...rule(settings.maxFailuresPerAccount, DAY_MS) },
      ];
      const taken: LoginAttempt['taken'][number][] = [];
      for (const k of keys) {
        const point = await takePoint(db, k.key, k);
        if (!point.taken) {
          // Refused unverified: it does not count against the keys it already took a point of.
          for (const t of taken) await returnPoint(db, t.key);
          return { ok: false, retryAfterSeconds: seconds(point.retryAfterMs) };
        }
        taken.push({ kind: k.kind, key: k.key, points: point.points, expire: point.expire, limit: k.limit });
      }
      return { ok: true, attempt: { taken } };
    },

    /** After a wrong password: the lock-out this attempt started (it took a last point), if any. */
    async failed(attempt: LoginAttempt): Promise<ThrottleCheck> {
      let waitMs = 0;
      for (const t of attempt.taken) {
        if (t.points < t.limit) continue;
        // Counted once per lock-out: only the attempt that took the last point gets here.
        const lockouts = await countEvent(db, `lockouts:${t.key}`, DAY_MS);
        const lockMs = Math.min(baseMs * 2 ** (lockouts - 1), Math.max(DAY_MS, baseMs));
        if (lockMs > baseMs) await extendLock(db, t.key, t.expire, t.expire - baseMs + lockMs);
        waitMs = Math.max(waitMs, lockMs);
      }
      return waitMs > 0 ? { ok: false, retryAfterSeconds: seconds(waitMs) } : { ok: true };
    },

    /** After a correct password: the account's count starts again and the IP gets its point back. */
    async succeeded(attempt: LoginAttempt): Promise<void> {
      for (const t of attempt.taken) await (t.kind === 'account' ? clearPoints(db, t.key) : returnPoint(db, t.key));
    },
  };
}

export type LoginThrottle = ReturnType<typeof createLoginThrottle>;
