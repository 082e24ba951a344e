// Signing a person in, every way it happens: the password form, self-registration, consent, and brokered
// sign-in through an upstream identity provider (with its link-by-password page). The routers
// (http/interactions.ts, http/upstream.ts) parse, call these and render; every audit record and sign-in
// count of a sign-in is written here.
//
// "A person proves a password" is one use case (checkPassword), run by the sign-in form and the
// link-by-password page alike, so brute-force protection, the audit trail and the metrics cannot drift
// apart. Order matters (domain/login-throttle.ts): a point of the IP's and the name's allowance is taken
// atomically before the password is verified, and a refused attempt verifies nothing.
import type { ServiceContext } from './context.ts';
import { recordAudit, type AuditEvent } from '../domain/audit.ts';
import { authenticate, createAccount, type AccountRow, type NewAccount } from '../domain/accounts.ts';
import { createLoginThrottle } from '../domain/login-throttle.ts';
import { findEnabledUpstream, listUpstreams, type UpstreamRow } from '../domain/upstreams.ts';
import { linkWithPassword, resolveUpstreamLogin, type UpstreamProfile } from '../domain/federated-sign-in.ts';
import { rememberConsent } from '../domain/grants-and-sessions.ts';
import { findResourceServer } from '../domain/resource-servers.ts';
import { createEmailLinkService } from './email-links.ts';

export type SignInResult = 'success' | 'failure' | 'locked';

export interface PasswordAttempt {
  username: string;
  ip: string;
  userAgent: string | undefined;
  clientId: string;
  /**
   * Which page asked, recorded with failures: the sign-in form, an upstream's link-by-password page, the
   * second-factor step (its method's kind) or the account page confirming a change with the password.
   */
  via: 'login' | `upstream:${string}` | `second-factor:${string}` | 'account';
}

/**
 * What verifying the password found. `passwordRight` on a refusal: the password was right but the step
 * cannot complete (an identity already linked), so the attempt counts as a success for the throttle.
 */
export type PasswordVerdict<T> = { ok: true; value: T } | { ok: false; reason: string; passwordRight?: boolean };

/** On a refusal, `lockedForSeconds` > 0 when the name or address is locked out (now or by this attempt). */
export type PasswordOutcome<T> = { ok: true; value: T } | { ok: false; lockedForSeconds: number; reason: string; passwordRight: boolean };

/** Where a request came from, for the audit trail. */
export interface RequestOrigin {
  ip: string;
  userAgent: string | undefined;
}

type Audited = Omit<AuditEvent, 'ip' | 'userAgent'>;

export function createSignInService(ctx: ServiceContext, options: { onLogin?: (result: SignInResult) => void } = {}) {
  const { db, hasher } = ctx.runtime;
  const throttle = createLoginThrottle(db, ctx.config.loginThrottle);
  const audit = (from: RequestOrigin, event: Audited) => recordAudit(db, { ...event, ip: from.ip, userAgent: from.userAgent });

  /** The one password check: throttle, verify, count and audit (failures record which page asked). */
  async function checkPassword<T>(attempt: PasswordAttempt, verify: () => Promise<PasswordVerdict<T>>): Promise<PasswordOutcome<T>> {
    const refused = (type: 'login.locked' | 'login.failure', details: Record<string, unknown>) =>
      audit(attempt, {
        type,
        clientId: attempt.clientId,
        details: { username: attempt.username, ...(attempt.via === 'login' ? {} : { via: attempt.via }), ...details },
      });
    const gate = await throttle.begin(attempt.username, attempt.ip);
    if (!gate.ok) {
      options.onLogin?.('locked');
      await refused('login.locked', {});
      return { ok: false, lockedForSeconds: gate.retryAfterSeconds, reason: 'locked', passwordRight: false };
    }
    const verdict = await verify();
    if (verdict.ok || verdict.passwordRight) {
      await throttle.succeeded(gate.attempt);
      return verdict.ok ? verdict : { ok: false, lockedForSeconds: 0, reason: verdict.reason, passwordRight: true };
    }
    const after = await throttle.failed(gate.attempt);
    options.onLogin?.('failure');
    await refused('login.failure', { reason: verdict.reason });
    return { ok: false, lockedForSeconds: after.ok ? 0 : after.retryAfterSeconds, reason: verdict.reason, passwordRight: false };
  }

  return {
    /** The sign-in form: the account, once the password checks out within the limits; audited and counted. */
    async withPassword(attempt: Omit<PasswordAttempt, 'via'>, password: string): Promise<PasswordOutcome<AccountRow>> {
      const outcome = await checkPassword({ ...attempt, via: 'login' }, async () => {
        const found = await authenticate(db, hasher, attempt.username, password);
        return found.ok ? { ok: true as const, value: found.account } : found;
      });
      if (outcome.ok) {
        options.onLogin?.('success');
        await audit(attempt, { type: 'login.success', accountId: outcome.value.id, clientId: attempt.clientId });
      }
      return outcome;
    },

    /**
     * A second factor (services/second-factors.ts): checked inside the same lock-out as passwords, so
     * wrong codes count against the person's name and address; a right one settles the count.
     */
    withSecondFactor(attempt: Omit<PasswordAttempt, 'via'>, kind: string, verify: () => Promise<{ ok: true } | { ok: false; reason: string }>) {
      return checkPassword({ ...attempt, via: `second-factor:${kind}` }, async () => {
        const verdict = await verify();
        return verdict.ok ? { ok: true as const, value: undefined } : verdict;
      });
    },

    /** The account page's "current password" before a security change: throttled and audited like sign-in. */
    reauthenticate(attempt: Omit<PasswordAttempt, 'via'>, accountId: string, password: string) {
      return checkPassword({ ...attempt, via: 'account' }, async () => {
        const found = await authenticate(db, hasher, attempt.username, password);
        return found.ok && found.account.id === accountId ? { ok: true as const, value: found.account } : { ok: false as const, reason: 'invalid_credentials' };
      });
    },

    /** SELF_REGISTRATION: a new account, with the same password rules as the CLI; audited. */
    async register(from: RequestOrigin, clientId: string, input: NewAccount): Promise<AccountRow> {
      const account = await createAccount(db, hasher, input);
      await audit(from, { type: 'user.registered', accountId: account.id, clientId });
      // email_verified stays false until the emailed link is used (services/email-links.ts).
      if (account.email) createEmailLinkService(ctx).sendVerification(account.id);
      return account;
    },

    /** A saved consent, remembered for next time when the person asked; audited. */
    async consented(from: RequestOrigin, consent: { grantId: string; accountId: string; clientId: string; remember: boolean; scopes: string[]; resources: Record<string, string[]> }) {
      if (consent.remember) await rememberConsent(db, consent.grantId);
      await audit(from, {
        type: 'consent.granted',
        accountId: consent.accountId,
        clientId: consent.clientId,
        details: { scopes: consent.scopes, resources: consent.resources, remembered: consent.remember },
      });
    },

    denied(from: RequestOrigin, accountId: string | undefined, clientId: string) {
      return audit(from, { type: 'consent.denied', accountId, clientId });
    },

    /** An API named on the consent page, for its name and its scopes' descriptions. */
    describeApi: (resource: string) => findResourceServer(db, resource),

    upstream: (id: string) => findEnabledUpstream(db, id),

    /** The "Continue with …" buttons of the sign-in page. */
    offeredUpstreams: async () => (await listUpstreams(db, { enabledOnly: true })).map((u) => ({ id: u.id, name: u.displayName })),

    /** The upstream could not be used (unreachable, refused, an account disabled here); audited and counted. */
    async upstreamFailed(from: RequestOrigin, clientId: string, upstream: UpstreamRow, reason: string, { count = true } = {}) {
      await audit(from, { type: 'login.upstream_failed', clientId, details: { upstream: upstream.id, reason } });
      if (count) options.onLogin?.('failure');
    },

    /** Who the upstream's person is here: signed in (found or created just in time), disabled, or to link. */
    resolveUpstream: (upstream: UpstreamRow, profile: UpstreamProfile) => resolveUpstreamLogin(db, upstream, profile),

    /** The link-by-password page: the same password check as the sign-in form, then the link. */
    linkWithPassword(attempt: Omit<PasswordAttempt, 'via'>, upstream: UpstreamRow, profile: Pick<UpstreamProfile, 'subject' | 'email'>, password: string) {
      return checkPassword({ ...attempt, via: `upstream:${upstream.id}` }, async () => {
        const result = await linkWithPassword(db, hasher, upstream, profile, attempt.username, password);
        if (result.ok) return { ok: true as const, value: result.account };
        // already_linked is decided after the password was checked: it was right.
        return { ok: false as const, reason: result.reason, passwordRight: result.reason === 'already_linked' };
      });
    },

    /** A federated sign-in completed; audited and counted. */
    async signedInUpstream(from: RequestOrigin, accountId: string, clientId: string, upstream: UpstreamRow, created: boolean) {
      options.onLogin?.('success');
      await audit(from, { type: 'login.upstream', accountId, clientId, details: { upstream: upstream.id, created } });
    },
  };
}

export type SignInService = ReturnType<typeof createSignInService>;
