// Who must sign in with a second factor, and the words tokens use to say how someone signed in.
//
// amr (RFC 8176 §2): pwd (password), fed (an upstream identity provider), otp (a one-time code from an
// authenticator app or a recovery code), mfa (more than one factor), hwk/swk and user (a passkey: a device-bound
// or synced key, with the person verified).
// acr: two levels of Tessera's own (OpenID Connect Core §2 leaves their names to the server), advertised in
// discovery as acr_values_supported:
//   urn:tessera:acr:pwd — one factor (a password, or an upstream sign-in);
//   urn:tessera:acr:mfa — a second factor as well.
import type { Config } from '../config.ts';
import type { Db } from '../store/db.ts';
import { factorsOf } from '../store/second-factors.ts';
import { findAccountById } from '../store/accounts.ts';
import { listWebauthnCredentials } from '../store/webauthn-credentials.ts';

export const ACR_ONE_FACTOR = 'urn:tessera:acr:pwd';
export const ACR_MFA = 'urn:tessera:acr:mfa';
export const ACR_VALUES = [ACR_ONE_FACTOR, ACR_MFA] as const;

/** Client metadata set by operators only (oidc/registrant-metadata.ts): everyone signing in to it needs a second factor. */
export const REQUIRE_MFA_PROPERTY = 'tessera_require_mfa';

export function clientRequiresMfa(metadata: Record<string, unknown> | undefined): boolean {
  return metadata?.[REQUIRE_MFA_PROPERTY] === true;
}

/** Whether the settings alone require the account to have a second factor (MFA_REQUIRED, MFA_REQUIRED_ROLES). */
export function policyRequiresMfa(settings: Config['mfa'], roles: readonly string[]): boolean {
  return settings.requiredForAll || roles.some((r) => settings.requiredRoles.includes(r));
}

/** A client asked (acr_values) for the second-factor level. */
export function acrAsksForMfa(acrValues: unknown): boolean {
  return typeof acrValues === 'string' && acrValues.split(' ').includes(ACR_MFA);
}

/** The session already holds a second factor. */
export const hasMfa = (amr: readonly string[] | undefined) => (amr ?? []).includes('mfa');

/** amr after a second factor: the first factor's values, the method's, and mfa; each once. */
export function amrWithSecondFactor(first: readonly string[], method: readonly string[]): string[] {
  return [...new Set([...first, ...method, 'mfa'])];
}

/** The account must sign in with a second factor: it holds one (an authenticator app or a passkey), or the settings require one of it. */
export async function accountRequiresMfa(db: Db, settings: Config['mfa'], accountId: string): Promise<boolean> {
  if ((await factorsOf(db, accountId)).some((f) => f.confirmedAt !== null)) return true;
  if ((await listWebauthnCredentials(db, accountId)).length > 0) return true;
  if (!settings.requiredForAll && !settings.requiredRoles.length) return false;
  return policyRequiresMfa(settings, (await findAccountById(db, accountId))?.roles ?? []);
}
