// The second-factor step of sign-in, as a registry of methods. The step (http/second-factor-step.ts) asks
// each method whether the person has it, shows each enrolled method's form, and hands what the person sent
// to that method's `verify`. Adding a method (passkeys) is one more entry in `createSecondFactorMethods`:
//
//   interface SecondFactorMethod {
//     kind      — stable name: the URL segment of its form (/interaction/:uid/second-factor/:kind) and the
//                 audit trail's word for it;
//     amr       — RFC 8176 values a success adds to the session (the step adds `mfa`): ['otp'], ['hwk'] …;
//     primary   — may be the only factor a person holds (recovery codes may not: they back up a primary one);
//     isEnrolled(accountId) — the person has it, confirmed;
//     view      — an eta partial under views/ rendering the method's fields inside the step's <form>
//                 (the step adds the action and the CSRF field); it gets `it.data` from prepare();
//     prepare?(accountId) — what the fragment shows (`data`) and server-side state for verify (`state`, kept in
//                 the engine's interaction record, never in the page: e.g. a WebAuthn challenge);
//     verify(accountId, fields, { state, from, binding }) — checks the form fields and spends the code; may
//                 answer the amr it proved (a passkey: hwk or swk by its backup state) instead of `amr`;
//     options?(accountId, binding) — for a method the browser drives by script (passkeys): fresh options
//                 as JSON, with the challenge kept server-side under `binding` (the interaction's uid);
//     countsOwnFailures — verify throttles, counts and audits its own failures (passkeys do, being usable
//                 without a password too); otherwise the step runs it inside the sign-in lock-out.
//   }
//
// Every other verify runs inside the sign-in lock-out (services/sign-in.ts withSecondFactor): failures count
// against the same name and address as wrong passwords.
import type { ServiceContext } from './context.ts';
import type { RequestOrigin } from './sign-in.ts';
import { recordAudit } from '../domain/audit.ts';
import { noticeAccountChange } from './account-notices.ts';
import { matchTotp } from '../domain/totp.ts';
import { recoveryCodeHash } from '../domain/recovery-codes.ts';
import { claimStep, factorsOf, spendRecoveryCode, unusedRecoveryCodes } from '../store/second-factors.ts';
import { listWebauthnCredentials } from '../store/webauthn-credentials.ts';
import { passkeySecondFactorOptions, verifyPasskeySecondFactor } from './passkeys.ts';
import { findActiveAccount } from '../domain/accounts.ts';
import { acrAsksForMfa, policyRequiresMfa } from '../domain/second-factor-policy.ts';

export type FactorVerdict = { ok: true; amr?: readonly string[] } | { ok: false; reason: string; lockedForSeconds?: number };

export interface SecondFactorMethod {
  readonly kind: string;
  readonly amr: readonly string[];
  readonly primary: boolean;
  readonly label: string;
  readonly view: string;
  isEnrolled(accountId: string): Promise<boolean>;
  prepare?(accountId: string): Promise<{ data?: Record<string, unknown>; state?: Record<string, unknown> }>;
  verify(
    accountId: string,
    fields: Record<string, string>,
    context: { state: Record<string, unknown> | undefined; from: RequestOrigin; binding: string; clientId: string },
  ): Promise<FactorVerdict>;
  options?(accountId: string, binding: string): Promise<unknown>;
  readonly countsOwnFailures?: boolean;
}

/** The TOTP secret's sealing context: bound to the factor's row and account, so a sealed value moved to another row does not open. */
export const totpSealContext = (factorId: string, accountId: string) => `totp:${factorId}:${accountId}`;

/** Checks a code against the account's confirmed (or, when enrolling, the given pending) TOTP factor, and claims its step. */
export async function verifyTotpCode(ctx: ServiceContext, accountId: string, code: string, only?: { factorId: string; confirm: boolean }): Promise<FactorVerdict> {
  const { db, box, clock } = ctx.runtime;
  const factors = (await factorsOf(db, accountId)).filter(
    (f) => f.kind === 'totp' && f.secretSealed && (only ? f.id === only.factorId : f.confirmedAt !== null),
  );
  for (const f of factors) {
    const secret = box.open(f.secretSealed!, totpSealContext(f.id, accountId));
    const step = matchTotp(secret, code, clock.now(), f.lastStep);
    if (step === undefined) continue;
    // Atomic: of two sign-ins sending the same code, one claims the step and the other is refused.
    if (await claimStep(db, f.id, step, only?.confirm ?? false)) return { ok: true };
    return { ok: false, reason: 'totp_reused' };
  }
  return { ok: false, reason: 'totp_invalid' };
}

export function createSecondFactorMethods(ctx: ServiceContext): SecondFactorMethod[] {
  const { db } = ctx.runtime;
  const totp: SecondFactorMethod = {
    kind: 'totp',
    amr: ['otp'],
    primary: true,
    label: 'authenticator app',
    view: './second-factor/totp',
    isEnrolled: async (accountId) => (await factorsOf(db, accountId)).some((f) => f.kind === 'totp' && f.confirmedAt !== null),
    verify: (accountId, fields) => verifyTotpCode(ctx, accountId, fields.code ?? ''),
  };
  const recoveryCode: SecondFactorMethod = {
    kind: 'recovery-code',
    amr: ['otp'],
    primary: false,
    label: 'recovery code',
    view: './second-factor/recovery-code',
    isEnrolled: async (accountId) => (await unusedRecoveryCodes(db, accountId)) > 0,
    async verify(accountId, fields, { from }) {
      const hash = recoveryCodeHash(accountId, fields.code ?? '');
      if (!hash || !(await spendRecoveryCode(db, accountId, hash))) return { ok: false, reason: 'recovery_code_invalid' };
      const left = await unusedRecoveryCodes(db, accountId);
      await recordAudit(db, { type: 'mfa.recovery_code_used', accountId, ip: from.ip, userAgent: from.userAgent, details: { remaining: left } });
      noticeAccountChange(ctx, accountId, 'recovery_code_used');
      return { ok: true };
    },
  };
  // Passkeys (services/passkeys.ts) after a password: one of the account's own, user verification preferred.
  const passkey: SecondFactorMethod = {
    kind: 'passkey',
    amr: ['hwk'],
    primary: true,
    label: 'passkey',
    view: './second-factor/passkey',
    countsOwnFailures: true,
    isEnrolled: async (accountId) => (await listWebauthnCredentials(db, accountId)).length > 0,
    options: (accountId, binding) => passkeySecondFactorOptions(ctx, accountId, binding),
    async verify(accountId, fields, { from, binding, clientId }) {
      const outcome = await verifyPasskeySecondFactor(ctx, accountId, binding, fields.credential ?? '', from, clientId);
      return outcome.ok ? { ok: true, amr: outcome.amr } : { ok: false, reason: outcome.reason, lockedForSeconds: outcome.lockedForSeconds };
    },
  };
  return [passkey, totp, recoveryCode];
}

export type SecondFactorRequirement =
  /** Nothing to ask. */
  | { kind: 'none' }
  /** Ask for one of these enrolled methods. */
  | { kind: 'verify'; methods: SecondFactorMethod[] }
  /** Required, but the person holds no primary factor: walk them through enrolment. */
  | { kind: 'enrol' };

/**
 * Whether signing in to this client needs a second factor, and which: the person holds one (then it is
 * always asked), the settings require one for everyone or the account's roles, the client requires one
 * (tessera_require_mfa), or the client asked for the MFA level (acr_values).
 */
export async function secondFactorRequirement(
  ctx: ServiceContext,
  methods: readonly SecondFactorMethod[],
  accountId: string,
  request: { clientRequiresMfa: boolean; acrValues: unknown },
): Promise<SecondFactorRequirement> {
  const enrolled: SecondFactorMethod[] = [];
  for (const m of methods) if (await m.isEnrolled(accountId)) enrolled.push(m);
  if (enrolled.some((m) => m.primary)) return { kind: 'verify', methods: enrolled };
  const account = await findActiveAccount(ctx.runtime.db, accountId);
  const required = request.clientRequiresMfa || acrAsksForMfa(request.acrValues) || policyRequiresMfa(ctx.config.mfa, account?.roles ?? []);
  // Recovery codes never stand alone: removing the last primary factor removes them (services/mfa.ts).
  return required ? { kind: 'enrol' } : { kind: 'none' };
}
