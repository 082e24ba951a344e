// The use cases behind the links Tessera sends by email: "Forgot password?" (ask for a reset link, show and
// use it) and email verification (send after registration, resend, use). The pages (http/password-reset.ts,
// http/email-verification.ts) parse, call these and render.
//
// No enumeration: asking for a reset link answers the same whatever was typed. The request is throttled
// per client IP and per name typed (both counted before anything is looked up, so a name's limit behaves
// alike for known and unknown names), and everything that depends on the account — finding it, making the
// link, sending — runs after the answer (Mailer.later), so the answer's timing does not depend on it either.
import type { ServiceContext } from './context.ts';
import type { RequestOrigin } from './sign-in.ts';
import { recordAudit } from '../domain/audit.ts';
import { findAccountByUsername } from '../domain/accounts.ts';
import { revocationWindow } from '../domain/grants-and-sessions.ts';
import { normalizeUsername } from '../domain/usernames.ts';
import {
  canResetPassword,
  EMAIL_VERIFICATION_TTL_SECONDS,
  issueEmailLink,
  PASSWORD_RESET_TTL_SECONDS,
  peekEmailLink,
  resetPasswordWithLink,
  verifyEmailWithLink,
} from '../domain/email-links.ts';
import { findAccountById, type AccountRow } from '../store/accounts.ts';
import { findAccountIdsByEmail } from '../store/email-tokens.ts';
import { returnPoint, takePoint } from '../store/login-attempts.ts';
import { renderEmail } from './email-templates.ts';
import { noticeAccountChange } from './account-notices.ts';

const HOUR_MS = 3600 * 1000;
/** Reset requests per client IP per hour, and per name or address typed (and links per account) per hour. */
export const RESET_REQUESTS_PER_IP = 20;
export const RESET_REQUESTS_PER_NAME = 5;
/** Verification emails per account per hour (registration's first one included). */
export const VERIFICATION_SENDS_PER_ACCOUNT = 5;
/** An address shared by several accounts gets a link for each, up to this many. */
const ACCOUNTS_PER_ADDRESS = 5;
const ADDRESS = /^[^\s@]{1,64}@[^\s@]{1,255}$/;

export type Throttled = { ok: true } | { ok: false; retryAfterSeconds: number };

/** Takes one point of each key (IP first), or none when one is used up: login-attempts' atomic counters. */
async function takePoints(ctx: ServiceContext, keys: Array<{ key: string; limit: number }>): Promise<Throttled> {
  const taken: string[] = [];
  for (const k of keys) {
    const point = await takePoint(ctx.runtime.db, k.key, { limit: k.limit, windowMs: HOUR_MS, lockMs: HOUR_MS });
    if (!point.taken) {
      for (const t of taken) await returnPoint(ctx.runtime.db, t);
      return { ok: false, retryAfterSeconds: Math.ceil(point.retryAfterMs / 1000) };
    }
    taken.push(k.key);
  }
  return { ok: true };
}

const nameKey = (typed: string) => [...normalizeUsername(typed).replace(/\p{Cc}/gu, '\uFFFD')].slice(0, 200).join('');

export function createEmailLinkService(ctx: ServiceContext) {
  const { db, clock } = ctx.runtime;
  const mailer = ctx.mailer;
  const enabled = !!mailer?.enabled;
  const link = (path: string, token: string) => `${ctx.config.issuer}${path}?token=${token}`;

  async function sendReset(account: AccountRow, interactionUid: string | undefined, from: RequestOrigin) {
    const token = await issueEmailLink(db, account, 'password_reset', clock.now(), interactionUid);
    const message = await renderEmail('password-reset', {
      name: account.name,
      username: account.username,
      link: link('/password/reset', token),
      minutes: PASSWORD_RESET_TTL_SECONDS / 60,
    });
    mailer!.send({ ...message, to: account.email!, kind: 'password-reset' });
    await recordAudit(db, { type: 'user.password_reset_requested', accountId: account.id, ip: from.ip, userAgent: from.userAgent });
  }

  async function sendVerificationTo(account: AccountRow) {
    const token = await issueEmailLink(db, account, 'email_verification', clock.now());
    // To an address not yet confirmed: nothing the registrant wrote freely (their name) goes into it.
    const message = await renderEmail('verify-email', {
      username: account.username,
      email: account.email,
      link: link('/email/verify', token),
      hours: EMAIL_VERIFICATION_TTL_SECONDS / 3600,
    });
    mailer!.send({ ...message, to: account.email!, kind: 'verify-email' });
  }

  return {
    /** Whether email can be sent: otherwise "Forgot password?" is not offered and nothing is sent. */
    enabled,

    /**
     * "Forgot password?": throttled, then answered at once; the link (if `typed` names an account, by
     * username or address, with an address and a password) is made and sent in the background.
     */
    async requestPasswordReset(from: RequestOrigin, typed: string, interactionUid?: string): Promise<Throttled> {
      if (!enabled) return { ok: true };
      const gate = await takePoints(ctx, [
        { key: `reset-ip:${from.ip}`, limit: RESET_REQUESTS_PER_IP },
        { key: `reset-name:${nameKey(typed)}`, limit: RESET_REQUESTS_PER_NAME },
      ]);
      if (!gate.ok) return gate;
      mailer!.later('password-reset', async () => {
        if (typed.length === 0 || typed.length > 320 || /\p{Cc}/u.test(typed)) return;
        const byName = await findAccountByUsername(db, typed);
        const ids = new Set(byName ? [byName.id] : []);
        if (ADDRESS.test(typed)) for (const id of await findAccountIdsByEmail(db, typed, ACCOUNTS_PER_ADDRESS)) ids.add(id);
        for (const id of ids) {
          const account = id === byName?.id ? byName : await findAccountById(db, id);
          if (!account || !canResetPassword(account)) continue;
          // Per account too, whichever name or address reached it; past the limit the mail is silently not
          // sent (the answer went out already, the same as ever).
          const perAccount = await takePoints(ctx, [{ key: `reset-acct:${account.id}`, limit: RESET_REQUESTS_PER_NAME }]);
          if (perAccount.ok) await sendReset(account, interactionUid, from);
        }
      });
      return { ok: true };
    },

    /** The reset page: whose link this is, while it may be used (nothing changes). */
    async peekReset(token: string) {
      const found = await peekEmailLink(db, token, 'password_reset', clock.now());
      return found ? { username: found.account.username, interactionUid: found.link.interactionUid } : undefined;
    },

    /**
     * Uses a reset link: sets the password (same rules and effects as set-password: sessions end with
     * back-channel logout, grants are revoked), audited `user.password_reset`, and tells the person by email.
     */
    async resetPassword(from: RequestOrigin, token: string, password: string) {
      const window = await revocationWindow(db, ctx.config.ttl.accessToken);
      const result = await resetPasswordWithLink(db, ctx.runtime.hasher, { token, password, ...from }, clock.now(), window);
      if (!result.ok) return result;
      await ctx.notifyLogout(result.endedSessions);
      noticeAccountChange(ctx, result.account.id, 'password_reset');
      return result;
    },

    /** After self-registration with an address: the verification link, sent in the background. */
    sendVerification(accountId: string): void {
      if (!enabled) return;
      mailer!.later('verify-email', async () => {
        const account = await findAccountById(db, accountId);
        if (!account?.email || account.emailVerified || account.disabled) return;
        const gate = await takePoints(ctx, [{ key: `verify-acct:${account.id}`, limit: VERIFICATION_SENDS_PER_ACCOUNT }]);
        if (gate.ok) await sendVerificationTo(account);
      });
    },

    /** "Send the link again" on the account page: throttled per account; earlier links stop working. */
    async resendVerification(accountId: string): Promise<Throttled> {
      const account = await findAccountById(db, accountId);
      if (!enabled || !account?.email || account.emailVerified || account.disabled) return { ok: true };
      const gate = await takePoints(ctx, [{ key: `verify-acct:${account.id}`, limit: VERIFICATION_SENDS_PER_ACCOUNT }]);
      if (!gate.ok) return gate;
      mailer!.later('verify-email', () => sendVerificationTo(account));
      return { ok: true };
    },

    /** The verification page: the address a link confirms, while it may be used. */
    async peekVerification(token: string) {
      const found = await peekEmailLink(db, token, 'email_verification', clock.now());
      return found ? { email: found.link.email } : undefined;
    },

    /** Uses a verification link: the account's address becomes verified (`email_verified` true). */
    verifyEmail: (token: string) => verifyEmailWithLink(db, token, clock.now()),
  };
}

export type EmailLinkService = ReturnType<typeof createEmailLinkService>;
