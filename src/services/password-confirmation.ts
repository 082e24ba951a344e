// "Enter your password again" before a change to how a person signs in (adding or removing a passkey).
// It is a password check like the sign-in form's, so it is throttled the same way (domain/login-throttle.ts:
// a point taken before verifying, the lock-out shared with the sign-in form) and a failure is audited:
// a stolen session cannot be used to guess the password, nor to get around a lock-out.
import type { ServiceContext } from './context.ts';
import type { AccountRow } from '../domain/accounts.ts';
import { authenticate } from '../domain/accounts.ts';
import { recordAudit } from '../domain/audit.ts';
import { createLoginThrottle } from '../domain/login-throttle.ts';

export interface RequestOrigin {
  ip: string;
  userAgent: string | undefined;
}

export type PasswordConfirmation = { ok: true } | { ok: false; reason: 'wrong_password' | 'locked'; lockedForSeconds: number };

export async function confirmPassword(ctx: ServiceContext, account: AccountRow, password: string, from: RequestOrigin, purpose: string): Promise<PasswordConfirmation> {
  const { db, hasher } = ctx.runtime;
  const throttle = createLoginThrottle(db, ctx.config.loginThrottle);
  const audit = (type: string, details: Record<string, unknown>) =>
    recordAudit(db, { type, accountId: account.id, ip: from.ip, userAgent: from.userAgent, details: { via: purpose, ...details } });
  const gate = await throttle.begin(account.username, from.ip);
  if (!gate.ok) {
    await audit('login.locked', { username: account.username });
    return { ok: false, reason: 'locked', lockedForSeconds: gate.retryAfterSeconds };
  }
  const result = await authenticate(db, hasher, account.username, password);
  if (result.ok && result.account.id === account.id) {
    await throttle.succeeded(gate.attempt);
    return { ok: true };
  }
  const after = await throttle.failed(gate.attempt);
  await audit('login.failure', { username: account.username, reason: 'password_confirmation_failed' });
  return after.ok ? { ok: false, reason: 'wrong_password', lockedForSeconds: 0 } : { ok: false, reason: 'locked', lockedForSeconds: after.retryAfterSeconds };
}
