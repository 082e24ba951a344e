// Passkeys (WebAuthn) as use cases, on @simplewebauthn/server: registering, naming and removing them on the
// account page, signing in with one alone (passwordless, discoverable credentials), and — for the
// second-factor step after a password — options and verification for one given account.
//
// Every ceremony's challenge is generated here and kept in webauthn_challenges under a key of its purpose
// and binding (the engine session's uid on /account, the interaction's uid on the sign-in page, whatever
// the second-factor step names): the browser never supplies it, and taking it deletes it (single use,
// CHALLENGE_TTL_SECONDS). The expected origin and RP ID come from ISSUER only (domain/passkeys.ts).
//
// Second factor (for the coordinator's registry in services/second-factors.ts):
//   passkeySecondFactorOptions(ctx, accountId, binding) → request options (allowCredentials = the
//     account's passkeys), or undefined when the account has none; the browser script
//     (views/assets/passkeys.js) runs them from a form marked data-passkey="second-factor".
//   verifyPasskeySecondFactor(ctx, accountId, binding, credentialJson, from, clientId) →
//     { ok: true, amr: ['hwk'|'swk', 'user'] } — the step adds 'pwd' and 'mfa' — or { ok: false, reason,
//     lockedForSeconds }. Failures count toward the lock-out and are audited; the success is the step's
//     to audit (login.success with its method).
//   listPasskeys(ctx, accountId), removePasskeyAsOperator(ctx, accountId, id, by) and
//     removeAllPasskeys(ctx, accountId, by) serve an operator's view, removal and reset (services/mfa.ts).
//
// A passkey registered or removed by the person is told to them by email (services/account-notices.ts).
import { randomUUID } from 'node:crypto';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type AuthenticatorTransport,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { ServiceContext } from './context.ts';
import { findActiveAccount, type AccountRow } from '../domain/accounts.ts';
import { recordAudit } from '../domain/audit.ts';
import { createLoginThrottle } from '../domain/login-throttle.ts';
import {
  CHALLENGE_TTL_SECONDS,
  authenticationResponseSchema,
  checkPasskeyName,
  isClonedCounter,
  knownTransports,
  parseCredentialJson,
  passkeyAmr,
  registrationResponseSchema,
  relyingPartyOf,
  userHandleOf,
  type AuthenticationResponse,
} from '../domain/passkeys.ts';
import {
  deleteAllWebauthnCredentials,
  deleteWebauthnCredential,
  findOwnWebauthnCredential,
  findWebauthnCredential,
  insertWebauthnCredential,
  listWebauthnCredentials,
  recordWebauthnUse,
  renameWebauthnCredential,
  type WebauthnCredentialRow,
} from '../store/webauthn-credentials.ts';
import { putWebauthnChallenge, takeWebauthnChallenge } from '../store/webauthn-challenges.ts';
import { confirmPassword, type RequestOrigin } from './password-confirmation.ts';
import { noticeAccountChange } from './account-notices.ts';

export type { RequestOrigin };

/** Why a ceremony was refused; the pages turn each into plain words (http/strings.ts, passkeys). */
export type PasskeyRefusal =
  | 'no_challenge' // none issued for this session/interaction, already used, or expired
  | 'wrong_password'
  | 'locked'
  | 'invalid_response' // not a WebAuthn response, or one that does not verify (origin, RP ID, challenge, signature, UV)
  | 'unknown_credential'
  | 'cloned_counter'
  | 'already_registered'
  | 'invalid_name'
  | 'not_found';

export type PasskeyOutcome<T> = ({ ok: true } & T) | { ok: false; reason: PasskeyRefusal; lockedForSeconds: number; problem?: string };

const refused = (reason: PasskeyRefusal, lockedForSeconds = 0, problem?: string) =>
  ({ ok: false, reason, lockedForSeconds, ...(problem ? { problem } : {}) }) as const;

const challengeKey = (purpose: 'register' | 'sign-in' | 'second-factor', binding: string) => `${purpose}:${binding}`;

function expiry(ctx: ServiceContext): Date {
  return new Date(ctx.runtime.clock.now().getTime() + CHALLENGE_TTL_SECONDS * 1000);
}

const timeoutMs = CHALLENGE_TTL_SECONDS * 1000;

/** What the account page lists: never the public key or the counter. */
export interface PasskeySummary {
  id: string;
  name: string;
  synced: boolean;
  createdAt: Date;
  lastUsedAt: Date | null;
}

export async function listPasskeys(ctx: ServiceContext, accountId: string): Promise<PasskeySummary[]> {
  return (await listWebauthnCredentials(ctx.runtime.db, accountId)).map((c) => ({
    id: c.id,
    name: c.name,
    synced: c.backupState,
    createdAt: c.createdAt,
    lastUsedAt: c.lastUsedAt,
  }));
}

// ---- Registration (account page) -------------------------------------------------------------------------

/** Creation options for a new passkey of the signed-in person; the challenge is bound to their session. */
export async function passkeyRegistrationOptions(ctx: ServiceContext, account: AccountRow, sessionUid: string): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const rp = relyingPartyOf(ctx.config.issuer);
  const existing = await listWebauthnCredentials(ctx.runtime.db, account.id);
  const options = await generateRegistrationOptions({
    rpName: rp.name,
    rpID: rp.id,
    userName: account.username,
    userDisplayName: account.name ?? account.username,
    userID: userHandleOf(account.id),
    timeout: timeoutMs,
    attestationType: 'none',
    // Discoverable (passwordless sign-in names no account) and user-verifying (a passkey alone is two factors).
    authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'required' },
    excludeCredentials: existing.map((c) => ({ id: c.credentialId, transports: c.transports as AuthenticatorTransport[] })),
  });
  await putWebauthnChallenge(ctx.runtime.db, challengeKey('register', sessionUid), { challenge: options.challenge, accountId: account.id, expiresAt: expiry(ctx) });
  return options;
}

/**
 * Registers the passkey the browser created, once the person's current password checks out (same step).
 * The challenge is taken first, so a refused attempt cannot be replayed with a corrected password.
 */
export async function registerPasskey(
  ctx: ServiceContext,
  account: AccountRow,
  sessionUid: string,
  input: { password: string; name: string; credential: string },
  from: RequestOrigin,
): Promise<PasskeyOutcome<{ id: string }>> {
  const { db } = ctx.runtime;
  const stored = await takeWebauthnChallenge(db, challengeKey('register', sessionUid), ctx.runtime.clock.now());
  if (!stored || stored.accountId !== account.id) return refused('no_challenge');
  const name = checkPasskeyName(input.name);
  if (!name.ok) return refused('invalid_name', 0, name.problem);
  const confirmed = await confirmPassword(ctx, account, input.password, from, 'passkey.register');
  if (!confirmed.ok) return refused(confirmed.reason, confirmed.lockedForSeconds);
  const response = parseCredentialJson(registrationResponseSchema, input.credential);
  if (!response) return refused('invalid_response');

  const rp = relyingPartyOf(ctx.config.issuer);
  let info;
  try {
    const verification = await verifyRegistrationResponse({
      response: response as RegistrationResponseJSON,
      expectedChallenge: stored.challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      requireUserVerification: true,
    });
    if (!verification.verified) return refused('invalid_response');
    info = verification.registrationInfo;
  } catch {
    // The library throws on every malformed or mismatching response (origin, RP ID, challenge, CBOR…).
    return refused('invalid_response');
  }
  const id = randomUUID();
  const inserted = await insertWebauthnCredential(db, {
    id,
    accountId: account.id,
    credentialId: info.credential.id,
    publicKey: info.credential.publicKey,
    counter: info.credential.counter,
    transports: knownTransports(response.response.transports),
    backupEligible: info.credentialDeviceType === 'multiDevice',
    backupState: info.credentialBackedUp,
    name: name.name,
    createdAt: ctx.runtime.clock.now(),
  });
  if (!inserted.ok) return refused('already_registered');
  await recordAudit(db, {
    type: 'passkey.registered',
    accountId: account.id,
    ip: from.ip,
    userAgent: from.userAgent,
    details: { passkey: id, name: name.name, synced: info.credentialBackedUp, backupEligible: info.credentialDeviceType === 'multiDevice' },
  });
  noticeAccountChange(ctx, account.id, 'factor_added', { factorKind: 'passkey', factorName: name.name });
  return { ok: true, id };
}

export async function renamePasskey(ctx: ServiceContext, accountId: string, id: string, newName: string): Promise<PasskeyOutcome<object>> {
  const name = checkPasskeyName(newName);
  if (!name.ok) return refused('invalid_name', 0, name.problem);
  return (await renameWebauthnCredential(ctx.runtime.db, accountId, id, name.name)) ? { ok: true } : refused('not_found');
}

/** Removes one of the person's own passkeys after their password checks out; audited. */
export async function removePasskey(ctx: ServiceContext, account: AccountRow, id: string, password: string, from: RequestOrigin): Promise<PasskeyOutcome<object>> {
  const { db } = ctx.runtime;
  const own = await findOwnWebauthnCredential(db, account.id, id);
  if (!own) return refused('not_found');
  const confirmed = await confirmPassword(ctx, account, password, from, 'passkey.remove');
  if (!confirmed.ok) return refused(confirmed.reason, confirmed.lockedForSeconds);
  if (!(await deleteWebauthnCredential(db, account.id, id))) return refused('not_found');
  await recordAudit(db, { type: 'passkey.removed', accountId: account.id, ip: from.ip, userAgent: from.userAgent, details: { passkey: id, name: own.name } });
  noticeAccountChange(ctx, account.id, 'factor_removed', { factorKind: 'passkey', factorName: own.name });
  return { ok: true };
}

/**
 * An operator removes one passkey of a person by its id (`DELETE /users/{user}/factors/{id}`, services/mfa.ts):
 * no password, the operator's privilege stands for it; audited as passkey.removed with the operator's words.
 * The removed passkey, or undefined when the account has none of that id. The caller tells the person.
 */
export async function removePasskeyAsOperator(ctx: ServiceContext, accountId: string, id: string, by: string): Promise<PasskeySummary | undefined> {
  const { db } = ctx.runtime;
  const own = await findOwnWebauthnCredential(db, accountId, id);
  if (!own || !(await deleteWebauthnCredential(db, accountId, id))) return undefined;
  await recordAudit(db, { type: 'passkey.removed', accountId, details: { passkey: id, name: own.name, by } });
  return { id: own.id, name: own.name, synced: own.backupState, createdAt: own.createdAt, lastUsedAt: own.lastUsedAt };
}

/**
 * An operator's reset of a person's factors (for the coordinator's `user reset-mfa` / admin API): removes
 * every passkey of the account; audited as passkey.removed with `all` and the operator's words.
 */
export async function removeAllPasskeys(ctx: ServiceContext, accountId: string, by: string): Promise<number> {
  const removed = await deleteAllWebauthnCredentials(ctx.runtime.db, accountId);
  if (removed > 0) await recordAudit(ctx.runtime.db, { type: 'passkey.removed', accountId, details: { all: true, count: removed, by } });
  return removed;
}

// ---- Assertions (sign-in, second factor) -----------------------------------------------------------------

type AssertionCheck = { ok: true; amr: string[] } | { ok: false; reason: 'invalid_response' | 'cloned_counter' };

/**
 * Verifies an assertion against a stored credential. The library's own counter check runs before the
 * signature is verified; it is switched off (stored counter passed as 0) so that a clone is reported only
 * for a correctly signed assertion, and decided here (domain/passkeys.ts isClonedCounter) and again
 * atomically when the new counter is written.
 */
async function checkAssertion(ctx: ServiceContext, credential: WebauthnCredentialRow, response: AuthenticationResponse, challenge: string, requireUserVerification: boolean): Promise<AssertionCheck> {
  const rp = relyingPartyOf(ctx.config.issuer);
  let info;
  try {
    const verification = await verifyAuthenticationResponse({
      response: response as AuthenticationResponseJSON,
      expectedChallenge: challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      credential: { id: credential.credentialId, publicKey: credential.publicKey, counter: 0, transports: credential.transports as AuthenticatorTransport[] },
      requireUserVerification,
    });
    if (!verification.verified) return { ok: false, reason: 'invalid_response' };
    info = verification.authenticationInfo;
  } catch {
    return { ok: false, reason: 'invalid_response' };
  }
  if (isClonedCounter(credential.counter, info.newCounter)) return { ok: false, reason: 'cloned_counter' };
  const recorded = await recordWebauthnUse(ctx.runtime.db, credential.id, {
    expectedCounter: credential.counter,
    newCounter: info.newCounter,
    backupState: info.credentialBackedUp,
    at: ctx.runtime.clock.now(),
  });
  // Another assertion with the same counter was recorded in between: the same key presented twice.
  if (!recorded && credential.counter + info.newCounter > 0) return { ok: false, reason: 'cloned_counter' };
  return { ok: true, amr: passkeyAmr(info.credentialBackedUp) };
}

interface AssertionAttempt {
  from: RequestOrigin;
  clientId: string | undefined;
  step: 'passwordless' | 'second-factor';
}

/**
 * Throttle, verify, count and audit an assertion for a known account — the lock-out the password form
 * uses (domain/login-throttle.ts), so passkey failures and password failures add up.
 */
async function settleAssertion(
  ctx: ServiceContext,
  account: AccountRow,
  credential: WebauthnCredentialRow,
  verify: () => Promise<AssertionCheck>,
  attempt: AssertionAttempt,
): Promise<PasskeyOutcome<{ amr: string[] }>> {
  const { db } = ctx.runtime;
  const audit = (type: string, details: Record<string, unknown>) =>
    recordAudit(db, { type, accountId: account.id, clientId: attempt.clientId, ip: attempt.from.ip, userAgent: attempt.from.userAgent, details: { method: 'passkey', step: attempt.step, ...details } });
  const throttle = createLoginThrottle(db, ctx.config.loginThrottle);
  const gate = await throttle.begin(account.username, attempt.from.ip);
  if (!gate.ok) {
    await audit('login.locked', { username: account.username });
    return refused('locked', gate.retryAfterSeconds);
  }
  const check = await verify();
  if (check.ok) {
    await throttle.succeeded(gate.attempt);
    return { ok: true, amr: check.amr };
  }
  const after = await throttle.failed(gate.attempt);
  if (check.reason === 'cloned_counter') await audit('passkey.cloned', { passkey: credential.id, name: credential.name, storedCounter: credential.counter });
  await audit('login.failure', { username: account.username, reason: check.reason, passkey: credential.id });
  return refused(after.ok ? check.reason : 'locked', after.ok ? 0 : after.retryAfterSeconds);
}

/** Request options for passwordless sign-in: no account named (discoverable credentials), UV required. */
export async function passkeySignInOptions(ctx: ServiceContext, interactionUid: string): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const rp = relyingPartyOf(ctx.config.issuer);
  const options = await generateAuthenticationOptions({ rpID: rp.id, userVerification: 'required', timeout: timeoutMs });
  await putWebauthnChallenge(ctx.runtime.db, challengeKey('sign-in', interactionUid), { challenge: options.challenge, accountId: null, expiresAt: expiry(ctx) });
  return options;
}

/**
 * Passwordless sign-in for an interaction: the account is the credential's. amr: hwk|swk, user, mfa
 * (user verification was required). Audited (login.success with method passkey, or login.failure);
 * failures count toward the account's lock-out once the credential names an account.
 */
export async function signInWithPasskey(
  ctx: ServiceContext,
  interactionUid: string,
  credentialJson: string,
  from: RequestOrigin,
  clientId: string,
): Promise<PasskeyOutcome<{ account: AccountRow; amr: string[] }>> {
  const { db } = ctx.runtime;
  const anonymousFailure = async (reason: PasskeyRefusal) => {
    await recordAudit(db, { type: 'login.failure', clientId, ip: from.ip, userAgent: from.userAgent, details: { method: 'passkey', step: 'passwordless', reason } });
    return refused(reason);
  };
  const stored = await takeWebauthnChallenge(db, challengeKey('sign-in', interactionUid), ctx.runtime.clock.now());
  if (!stored) return anonymousFailure('no_challenge');
  const response = parseCredentialJson(authenticationResponseSchema, credentialJson);
  if (!response) return anonymousFailure('invalid_response');
  const credential = await findWebauthnCredential(db, response.id);
  if (!credential) return anonymousFailure('unknown_credential');
  const account = await findActiveAccount(db, credential.accountId);
  // A disabled account's passkey signs no one in; the same refusal as an unknown one (no enumeration).
  if (!account) return anonymousFailure('unknown_credential');
  // WebAuthn §7.2 step 6: a user handle, when returned, must be the credential's account's.
  const handle = response.response.userHandle;
  const handleMatches = !handle || handle === Buffer.from(userHandleOf(account.id)).toString('base64url');
  const outcome = await settleAssertion(
    ctx,
    account,
    credential,
    async () => (handleMatches ? checkAssertion(ctx, credential, response, stored.challenge, true) : { ok: false, reason: 'invalid_response' }),
    { from, clientId, step: 'passwordless' },
  );
  if (!outcome.ok) return outcome;
  const amr = [...outcome.amr, 'mfa'];
  await recordAudit(db, { type: 'login.success', accountId: account.id, clientId, ip: from.ip, userAgent: from.userAgent, details: { method: 'passkey', passkey: credential.id, amr } });
  return { ok: true, account, amr };
}

// ---- Second factor (after a password) --------------------------------------------------------------------

/** Request options naming the account's own passkeys; undefined when it has none. UV preferred, not required. */
export async function passkeySecondFactorOptions(ctx: ServiceContext, accountId: string, binding: string): Promise<PublicKeyCredentialRequestOptionsJSON | undefined> {
  const credentials = await listWebauthnCredentials(ctx.runtime.db, accountId);
  if (credentials.length === 0) return undefined;
  const rp = relyingPartyOf(ctx.config.issuer);
  const options = await generateAuthenticationOptions({
    rpID: rp.id,
    userVerification: 'preferred',
    timeout: timeoutMs,
    allowCredentials: credentials.map((c) => ({ id: c.credentialId, transports: c.transports as AuthenticatorTransport[] })),
  });
  await putWebauthnChallenge(ctx.runtime.db, challengeKey('second-factor', binding), { challenge: options.challenge, accountId, expiresAt: expiry(ctx) });
  return options;
}

/** Verifies a second-factor assertion for `accountId` (one of its own passkeys); amr without pwd/mfa. */
export async function verifyPasskeySecondFactor(
  ctx: ServiceContext,
  accountId: string,
  binding: string,
  credentialJson: string,
  from: RequestOrigin,
  clientId?: string,
): Promise<PasskeyOutcome<{ amr: string[] }>> {
  const { db } = ctx.runtime;
  const account = await findActiveAccount(db, accountId);
  if (!account) return refused('unknown_credential');
  const stored = await takeWebauthnChallenge(db, challengeKey('second-factor', binding), ctx.runtime.clock.now());
  const response = parseCredentialJson(authenticationResponseSchema, credentialJson);
  const credential = response ? await findWebauthnCredential(db, response.id) : undefined;
  const own = credential && credential.accountId === account.id ? credential : undefined;
  if (!stored || stored.accountId !== account.id || !response || !own) {
    // Counted like a wrong code: the person is known here (they gave the password).
    const throttle = createLoginThrottle(db, ctx.config.loginThrottle);
    const gate = await throttle.begin(account.username, from.ip);
    const reason: PasskeyRefusal = !stored || stored.accountId !== account.id ? 'no_challenge' : !response ? 'invalid_response' : 'unknown_credential';
    await recordAudit(db, { type: gate.ok ? 'login.failure' : 'login.locked', accountId, clientId, ip: from.ip, userAgent: from.userAgent, details: { method: 'passkey', step: 'second-factor', reason } });
    if (!gate.ok) return refused('locked', gate.retryAfterSeconds);
    const after = await throttle.failed(gate.attempt);
    return refused(after.ok ? reason : 'locked', after.ok ? 0 : after.retryAfterSeconds);
  }
  return settleAssertion(ctx, account, own, () => checkAssertion(ctx, own, response, stored.challenge, false), { from, clientId, step: 'second-factor' });
}
