// Managing second factors: a person on the account page (enrol an authenticator app, new recovery codes,
// remove a factor) and operators (list and remove a user's factors, reset them all: CLI and admin API).
// Every change is audited: mfa.totp_enrolled, mfa.factor_removed, mfa.recovery_codes_generated, mfa.reset
// (mfa.recovery_code_used is written where a code is spent, services/second-factors.ts), and told to the
// person by email once it has committed (services/account-notices.ts: fire-and-forget, never a code or
// secret in the message). Operators see and remove passkeys here too (services/passkeys.ts keeps them).
import { randomUUID } from 'node:crypto';
import type { ServiceContext } from './context.ts';
import type { RequestOrigin } from './sign-in.ts';
import { recordAudit } from '../domain/audit.ts';
import { requireAccount } from '../domain/accounts.ts';
import { newTotpSecret, totpUri } from '../domain/totp.ts';
import { newRecoveryCodes, recoveryCodeHash } from '../domain/recovery-codes.ts';
import { NotFound } from '../errors.ts';
import { deleteAllFactors, deleteFactor, deleteRecoveryCodes, factorsOf, findFactor, insertPendingFactor, replaceRecoveryCodes, unusedRecoveryCodes } from '../store/second-factors.ts';
import { totpSealContext, verifyTotpCode, type FactorVerdict } from './second-factors.ts';
import { noticeAccountChange } from './account-notices.ts';

// Passkeys (and with them @simplewebauthn/server) are loaded when a factor operation needs them, not by
// every CLI command that loads the operations table.
const passkeys = () => import('./passkeys.ts');

type Origin = Partial<RequestOrigin>;
const audit = (ctx: ServiceContext, from: Origin, event: { type: string; accountId: string; details?: Record<string, unknown>; actor?: string }) =>
  recordAudit(ctx.runtime.db, { type: event.type, accountId: event.accountId, ip: from.ip, userAgent: from.userAgent, details: { ...event.details, ...(event.actor ? { actor: event.actor } : {}) } });

/** A factor as people and operators see it: never its secret. */
export interface PublicFactor {
  id: string;
  kind: string;
  label: string;
  created_at: string;
  confirmed_at: string | null;
  /** Passkeys only: when one last signed in (null: never). */
  last_used_at?: string | null;
}

/** Whether the account still holds a factor recovery codes can back up: an authenticator app or a passkey. */
async function holdsPrimaryFactor(ctx: ServiceContext, accountId: string): Promise<boolean> {
  if ((await factorsOf(ctx.runtime.db, accountId)).some((f) => f.confirmedAt !== null)) return true;
  return (await (await passkeys()).listPasskeys(ctx, accountId)).length > 0;
}

/** An operator's view: the authenticator apps and the passkeys (name and dates; never key material). */
async function listFactorsAndPasskeys(ctx: ServiceContext, accountId: string) {
  const listed = await listFactors(ctx, accountId);
  const keys: PublicFactor[] = (await (await passkeys()).listPasskeys(ctx, accountId)).map((p) => ({
    id: p.id,
    kind: 'passkey',
    label: p.name,
    created_at: p.createdAt.toISOString(),
    confirmed_at: p.createdAt.toISOString(),
    last_used_at: p.lastUsedAt?.toISOString() ?? null,
  }));
  return { factors: [...listed.factors, ...keys], recovery_codes_left: listed.recovery_codes_left };
}

export async function listFactors(ctx: ServiceContext, accountId: string): Promise<{ factors: PublicFactor[]; recovery_codes_left: number }> {
  const rows = await factorsOf(ctx.runtime.db, accountId);
  return {
    factors: rows
      .filter((f) => f.confirmedAt !== null)
      .map((f) => ({ id: f.id, kind: f.kind, label: f.label, created_at: f.createdAt.toISOString(), confirmed_at: f.confirmedAt!.toISOString() })),
    recovery_codes_left: await unusedRecoveryCodes(ctx.runtime.db, accountId),
  };
}

/** Starts enrolling an authenticator app: a new secret, sealed, pending until a code confirms it. */
export async function startTotpEnrolment(ctx: ServiceContext, account: { id: string; username: string }) {
  const { db, box } = ctx.runtime;
  const id = randomUUID();
  const secret = newTotpSecret();
  const issuer = new URL(ctx.config.issuer).host;
  await insertPendingFactor(db, { id, accountId: account.id, kind: 'totp', label: 'Authenticator app', secretSealed: box.seal(secret, totpSealContext(id, account.id)) });
  return { factorId: id, secret, uri: totpUri(secret, issuer, account.username) };
}

/** The pending enrolment's secret again (the page is shown again after a wrong code). */
export async function pendingTotp(ctx: ServiceContext, account: { id: string; username: string }, factorId: string) {
  const f = await findFactor(ctx.runtime.db, account.id, factorId);
  if (!f || f.kind !== 'totp' || f.confirmedAt !== null || !f.secretSealed) return undefined;
  const secret = ctx.runtime.box.open(f.secretSealed, totpSealContext(f.id, account.id));
  return { factorId: f.id, secret, uri: totpUri(secret, new URL(ctx.config.issuer).host, account.username) };
}

/**
 * Confirms an enrolment with a code from the app. The first factor comes with recovery codes, returned
 * here in clear once (only their hashes are kept).
 */
export async function confirmTotpEnrolment(
  ctx: ServiceContext,
  accountId: string,
  factorId: string,
  code: string,
  from: Origin,
): Promise<FactorVerdict & { recoveryCodes?: string[] }> {
  const hadFactor = (await factorsOf(ctx.runtime.db, accountId)).some((f) => f.confirmedAt !== null);
  const verdict = await verifyTotpCode(ctx, accountId, code, { factorId, confirm: true });
  if (!verdict.ok) return verdict;
  await audit(ctx, from, { type: 'mfa.totp_enrolled', accountId, details: { factor: factorId } });
  // The first codes come with the enrolment: one notice for both (the codes were not "regenerated").
  const recoveryCodes = hadFactor && (await unusedRecoveryCodes(ctx.runtime.db, accountId)) > 0 ? undefined : await replaceCodes(ctx, accountId, from);
  noticeAccountChange(ctx, accountId, 'factor_added', { factorKind: 'totp' });
  return { ok: true, ...(recoveryCodes ? { recoveryCodes } : {}) };
}

/** New recovery codes, replacing every earlier one; the clear codes are returned once. */
export async function generateRecoveryCodes(ctx: ServiceContext, accountId: string, from: Origin): Promise<string[]> {
  const codes = await replaceCodes(ctx, accountId, from);
  noticeAccountChange(ctx, accountId, 'recovery_codes_regenerated');
  return codes;
}

async function replaceCodes(ctx: ServiceContext, accountId: string, from: Origin): Promise<string[]> {
  const codes = newRecoveryCodes();
  await replaceRecoveryCodes(ctx.runtime.db, accountId, codes.map((c) => recoveryCodeHash(accountId, c)!));
  await audit(ctx, from, { type: 'mfa.recovery_codes_generated', accountId, details: { count: codes.length } });
  return codes;
}

/**
 * Removes one factor; removing the last one (no authenticator app and no passkey left) removes the recovery
 * codes too (they back up a factor).
 */
export async function removeFactor(ctx: ServiceContext, accountId: string, factorId: string, from: Origin, actor?: string): Promise<void> {
  const removed = await deleteFactor(ctx.runtime.db, accountId, factorId);
  if (!removed) throw new NotFound(`no factor "${factorId}"`);
  const left = await holdsPrimaryFactor(ctx, accountId);
  if (!left) await deleteRecoveryCodes(ctx.runtime.db, accountId);
  await audit(ctx, from, { type: 'mfa.factor_removed', accountId, actor, details: { factor: factorId, kind: removed.kind, recovery_codes_removed: !left } });
  // A pending (never confirmed) enrolment was no factor yet: nothing to tell.
  if (removed.confirmedAt !== null) noticeAccountChange(ctx, accountId, 'factor_removed', { factorKind: removed.kind });
}

/** Operators: one factor by id, an authenticator app or a passkey (the ids never collide: both are UUIDs). */
async function removeAnyFactor(ctx: ServiceContext, accountId: string, factorId: string, actor: string): Promise<void> {
  if (await findFactor(ctx.runtime.db, accountId, factorId)) return removeFactor(ctx, accountId, factorId, {}, actor);
  const passkey = await (await passkeys()).removePasskeyAsOperator(ctx, accountId, factorId, actor);
  if (!passkey) throw new NotFound(`no factor "${factorId}"`);
  if (!(await holdsPrimaryFactor(ctx, accountId))) await deleteRecoveryCodes(ctx.runtime.db, accountId);
  noticeAccountChange(ctx, accountId, 'factor_removed', { factorKind: 'passkey', factorName: passkey.name });
}

/**
 * Operators: every factor (authenticator apps and passkeys) and recovery code of the user gone (a lost
 * phone or key); audited (mfa.reset, and passkey.removed for the passkeys) and told to the person.
 * `factors_removed` counts both kinds; `passkeys_removed` the passkeys among them.
 */
export async function resetMfa(
  ctx: ServiceContext,
  idOrUsername: string,
  from: Origin,
  actor = 'operator',
): Promise<{ account_id: string; username: string; factors_removed: number; passkeys_removed: number }> {
  const account = await requireAccount(ctx.runtime.db, idOrUsername);
  const apps = await deleteAllFactors(ctx.runtime.db, account.id);
  const keys = await (await passkeys()).removeAllPasskeys(ctx, account.id, actor);
  const removed = apps + keys;
  await audit(ctx, from, { type: 'mfa.reset', accountId: account.id, actor, details: { factors_removed: removed, passkeys_removed: keys } });
  noticeAccountChange(ctx, account.id, 'factors_reset');
  return { account_id: account.id, username: account.username, factors_removed: removed, passkeys_removed: keys };
}

/** The operators' use cases, in the operations table (services/operations.ts): CLI and admin API alike. */
export const mfaOperations = {
  async 'user.factors'(ctx: ServiceContext, input: { user: string }) {
    const account = await requireAccount(ctx.runtime.db, input.user);
    return { user: account.id, username: account.username, ...(await listFactorsAndPasskeys(ctx, account.id)) };
  },
  async 'user.remove-factor'(ctx: ServiceContext, input: { user: string; factor: string; actor?: string | undefined }) {
    const account = await requireAccount(ctx.runtime.db, input.user);
    await removeAnyFactor(ctx, account.id, input.factor, input.actor ?? 'operator');
    return { user: account.id, username: account.username, ...(await listFactorsAndPasskeys(ctx, account.id)) };
  },
  async 'user.reset-mfa'(ctx: ServiceContext, input: { user: string; actor?: string | undefined }) {
    return resetMfa(ctx, input.user, {}, input.actor ?? 'operator');
  },
} as const;
