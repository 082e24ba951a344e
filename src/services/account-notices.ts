// Tells a person by email that something changed in how their account is secured, so a change they did not
// make does not go unnoticed. One function, for every part of Tessera that makes such a change:
//
//   noticeAccountChange(ctx, accountId, 'factor_added', { factorKind: 'passkey', factorName: 'YubiKey' })
//
// It returns at once (void): the account is read and the message sent in the background
// (services/mailer.ts), so a slow or failing mail server never delays or fails the change itself; a failed
// send is retried and then logged (never with the message). Nothing is sent when email is off or the
// account has no address. Call it after the change has committed.
import type { ServiceContext } from './context.ts';
import { findAccountById } from '../store/accounts.ts';
import { renderEmail } from './email-templates.ts';

export type AccountChange =
  | 'password_changed'
  | 'password_reset'
  | 'factor_added'
  | 'factor_removed'
  | 'recovery_code_used'
  | 'recovery_codes_regenerated'
  | 'factors_reset';

export interface AccountChangeDetails {
  /** The factor's kind: 'totp' and 'passkey' (or 'webauthn') have friendly names; others are shown as given. */
  factorKind?: string;
  /** The name the person gave the factor (a passkey's label), shown in quotes. */
  factorName?: string;
}

const FACTOR_KINDS: Record<string, string> = { totp: 'authenticator app', passkey: 'passkey', webauthn: 'passkey' };

/** Text a person chose, made safe for a line of plain text (the HTML template escapes it besides). */
const plain = (s: string) => s.replace(/[\p{Cc}\p{Cf}\u2028\u2029]/gu, ' ').trim().slice(0, 100);

function factor(details: AccountChangeDetails): string {
  const kind = details.factorKind ? (FACTOR_KINDS[details.factorKind] ?? plain(details.factorKind)) : 'sign-in factor';
  return details.factorName ? `${kind} "${plain(details.factorName)}"` : kind;
}

/** "A passkey", "An authenticator app": the article the factor's words start with. */
const aOrAn = (words: string) => (/^[aeiou]/i.test(words) ? `An ${words}` : `A ${words}`);

/** The one sentence the message is about. */
export function describeAccountChange(change: AccountChange, details: AccountChangeDetails = {}): string {
  switch (change) {
    case 'password_changed':
      return 'The password of your account was changed.';
    case 'password_reset':
      return 'The password of your account was reset with a link sent to this address.';
    case 'factor_added':
      return `${aOrAn(factor(details))} was added to your account for signing in.`;
    case 'factor_removed':
      return `${aOrAn(factor(details))} was removed from your account.`;
    case 'recovery_code_used':
      return 'A recovery code was used to sign in to your account. It cannot be used again.';
    case 'recovery_codes_regenerated':
      return 'New recovery codes were made for your account; the earlier ones no longer work.';
    case 'factors_reset':
      return 'An administrator removed the second sign-in steps (authenticator apps, passkeys, recovery codes) of your account.';
  }
}

export function noticeAccountChange(ctx: ServiceContext, accountId: string, change: AccountChange, details: AccountChangeDetails = {}): void {
  const mailer = ctx.mailer;
  if (!mailer?.enabled) return;
  mailer.later(`notice:${change}`, async () => {
    const account = await findAccountById(ctx.runtime.db, accountId);
    if (!account?.email) return;
    const message = await renderEmail('account-notice', {
      name: account.name,
      username: account.username,
      what: describeAccountChange(change, details),
      when: ctx.runtime.clock.now().toUTCString(),
      recoverUrl: `${ctx.config.issuer}/password/forgot`,
    });
    mailer.send({ ...message, to: account.email, kind: `notice:${change}` });
  });
}
