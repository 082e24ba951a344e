// Brute-force protection for sign-in (OWASP Authentication Cheat Sheet): failures are counted per account
// name and per client IP in PostgreSQL (rate-limiter-flexible), so the limit holds across server processes.
// After MAX_CONSECUTIVE failures the key is locked; each further lock-out within a day doubles the lock.
// While locked, even a correct password does not sign in.
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import type { Db } from '../store/db.ts';
import { createLimiterStoreClient } from '../store/login-attempts.ts';

export interface ThrottleSettings {
  /** Consecutive failures per account name before a lock-out. */
  maxFailuresPerAccount: number;
  /** Failures per IP address per hour before a lock-out. */
  maxFailuresPerIp: number;
  /** First lock-out length; doubled for each further lock-out within 24 hours, capped at 24 hours. */
  baseLockSeconds: number;
}

export type ThrottleCheck = { ok: true } | { ok: false; retryAfterSeconds: number };

export function createLoginThrottle(db: Db, settings: ThrottleSettings) {
  const storeClient = createLimiterStoreClient(db);
  const common = { storeClient, storeType: 'pool', tableName: 'login_attempts', tableCreated: true, clearExpiredByTimeout: false };
  const byAccount = new RateLimiterPostgres({ ...common, keyPrefix: 'acct', points: settings.maxFailuresPerAccount, duration: 24 * 3600 });
  const byIp = new RateLimiterPostgres({ ...common, keyPrefix: 'ip', points: settings.maxFailuresPerIp, duration: 3600 });
  const lockouts = new RateLimiterPostgres({ ...common, keyPrefix: 'lockouts', points: 1000, duration: 24 * 3600 });

  const accountKey = (username: string) => username.trim().toLowerCase().slice(0, 200);
  const blockedFor = (res: RateLimiterRes | null, limit: number) =>
    res && res.consumedPoints > limit ? Math.ceil(res.msBeforeNext / 1000) : 0;

  async function lock(limiter: RateLimiterPostgres, key: string): Promise<number> {
    const count = await lockouts.penalty(`${limiter.keyPrefix}:${key}`, 1);
    const seconds = Math.min(settings.baseLockSeconds * 2 ** Math.max(0, count.consumedPoints - 1), 24 * 3600);
    await limiter.block(key, seconds);
    return seconds;
  }

  return {
    /** Before checking the password: is this account name or address locked out? */
    async check(username: string, ip: string): Promise<ThrottleCheck> {
      const [a, i] = await Promise.all([byAccount.get(accountKey(username)), byIp.get(ip)]);
      const wait = Math.max(blockedFor(a, settings.maxFailuresPerAccount), blockedFor(i, settings.maxFailuresPerIp));
      return wait > 0 ? { ok: false, retryAfterSeconds: wait } : { ok: true };
    },

    /** After a wrong password: count it; returns the lock-out length when this failure triggered one. */
    async recordFailure(username: string, ip: string): Promise<ThrottleCheck> {
      let wait = 0;
      for (const [limiter, key] of [[byAccount, accountKey(username)], [byIp, ip]] as const) {
        const res = await limiter.penalty(key, 1);
        if (res.consumedPoints >= limiter.points) wait = Math.max(wait, await lock(limiter, key));
      }
      return wait > 0 ? { ok: false, retryAfterSeconds: wait } : { ok: true };
    },

    /** After a successful sign-in: the account's consecutive-failure count starts again. */
    async recordSuccess(username: string): Promise<void> {
      await byAccount.delete(accountKey(username));
    },
  };
}

export type LoginThrottle = ReturnType<typeof createLoginThrottle>;
