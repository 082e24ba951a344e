// The one use case "a person proves a password": the sign-in form and the link-by-password page of
// brokered sign-in both run it, so brute-force protection, the audit trail and the sign-in metrics cannot
// drift apart. Order matters (domain/login-throttle.ts): a point of the IP's and the name's allowance is taken
// atomically before the password is verified, and a refused attempt verifies nothing.
// The caller finishes a successful sign-in (its audit type and amr differ: login.success/pwd vs
// login.upstream/fed), so success is counted there.
import type { Db } from '../store/db.ts';
import { recordAudit } from '../domain/audit.ts';
import type { LoginThrottle } from '../domain/login-throttle.ts';

export type SignInResult = 'success' | 'failure' | 'locked';

export interface PasswordCheckDeps {
  db: Db;
  throttle: LoginThrottle;
  /** Counts sign-in attempts by result (metrics.ts). */
  onLogin?: (result: SignInResult) => void;
}

export interface PasswordAttempt {
  username: string;
  ip: string;
  userAgent: string | undefined;
  clientId: string;
  /** Which page asked, recorded with failures: the sign-in form or an upstream's link-by-password page. */
  via: 'login' | `upstream:${string}`;
}

/**
 * What verifying the password found. `passwordRight` on a refusal: the password was right but the step
 * cannot complete (an identity already linked), so the attempt counts as a success for the throttle.
 */
export type PasswordVerdict<T> = { ok: true; value: T } | { ok: false; reason: string; passwordRight?: boolean };

/** On a refusal, `lockedForSeconds` > 0 when the name or address is locked out (now or by this attempt). */
export type PasswordOutcome<T> = { ok: true; value: T } | { ok: false; lockedForSeconds: number; reason: string; passwordRight: boolean };

export function createPasswordCheck(deps: PasswordCheckDeps) {
  const audit = (attempt: PasswordAttempt, type: 'login.locked' | 'login.failure', details: Record<string, unknown>) =>
    recordAudit(deps.db, {
      type,
      clientId: attempt.clientId,
      ip: attempt.ip,
      userAgent: attempt.userAgent,
      details: { username: attempt.username, ...(attempt.via === 'login' ? {} : { via: attempt.via }), ...details },
    });

  return async function checkPassword<T>(attempt: PasswordAttempt, verify: () => Promise<PasswordVerdict<T>>): Promise<PasswordOutcome<T>> {
    const gate = await deps.throttle.begin(attempt.username, attempt.ip);
    if (!gate.ok) {
      deps.onLogin?.('locked');
      await audit(attempt, 'login.locked', {});
      return { ok: false, lockedForSeconds: gate.retryAfterSeconds, reason: 'locked', passwordRight: false };
    }
    const verdict = await verify();
    if (verdict.ok || verdict.passwordRight) {
      await deps.throttle.succeeded(gate.attempt);
      return verdict.ok ? verdict : { ok: false, lockedForSeconds: 0, reason: verdict.reason, passwordRight: true };
    }
    const after = await deps.throttle.failed(gate.attempt);
    deps.onLogin?.('failure');
    await audit(attempt, 'login.failure', { reason: verdict.reason });
    return after.ok
      ? { ok: false, lockedForSeconds: 0, reason: verdict.reason, passwordRight: false }
      : { ok: false, lockedForSeconds: after.retryAfterSeconds, reason: verdict.reason, passwordRight: false };
  };
}

export type PasswordCheck = ReturnType<typeof createPasswordCheck>;
