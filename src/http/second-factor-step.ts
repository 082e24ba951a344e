// The second-factor step of sign-in (issue 17). After the first factor (the password form, or a session
// that lacks a factor this request needs: step-up), the sign-in is kept pending in the engine's own
// interaction record — server-side, bound to the browser by the engine's interaction cookie — never in a
// field of the page. Only this step finishes it, with the first factor's amr plus the method's and `mfa`.
// The methods are the registry in services/second-factors.ts; a person required to have a factor who has
// none is walked through authenticator-app enrolment and shown recovery codes here.
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import type { LiveProvider } from '../oidc/live-provider.ts';
import type { SignInService } from '../services/sign-in.ts';
import type { ServiceContext } from '../services/context.ts';
import { createSecondFactorMethods, secondFactorRequirement, type FactorVerdict, type SecondFactorMethod } from '../services/second-factors.ts';
import { recordAudit } from '../domain/audit.ts';
import { readScriptRequest } from './script-requests.ts';
import { confirmTotpEnrolment, pendingTotp, startTotpEnrolment } from '../services/mfa.ts';
import { ACR_MFA, ACR_ONE_FACTOR, amrWithSecondFactor, clientRequiresMfa } from '../domain/second-factor-policy.ts';
import { findActiveAccount } from '../domain/accounts.ts';
import { BadRequest, NotFound } from '../errors.ts';
import { INTERACTION_PATH } from '../oidc/provider.ts';
import { readPageForm, text } from './forms.ts';
import { csrfToken } from './middleware/csrf.ts';
import { renderPage } from './render.ts';
import { strings } from './strings.ts';
import { qrCodeDataUri } from './qr-code.ts';

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

/** Where the pending sign-in lives inside the interaction's `result` (no `login` there: resuming early signs nobody in). */
const PENDING = 'tessera_second_factor';

interface Pending {
  accountId: string;
  username: string;
  /** amr of the first factor (pwd, fed, or the session's for a step-up). */
  amr: string[];
  stepUp: boolean;
  /** Walk-through enrolment: the pending factor, then the recovery codes to show (sealed), then done. */
  factorId?: string;
  codesSealed?: string;
  enrolled?: boolean;
  /** Per method: server-side state its prepare() returned (e.g. a WebAuthn challenge). */
  state?: Record<string, Record<string, unknown>>;
}

export interface SecondFactorStepDeps {
  live: LiveProvider;
  signIn: SignInService;
  services: ServiceContext;
  bodyLimitBytes: number;
}

const CODE_FORM = {
  code: text.pipe(z.string().max(64, 'that code is too long')),
  // A passkey's assertion as JSON (views/assets/passkeys.js): a few hundred bytes to a few KiB.
  credential: text.pipe(z.string().max(32 * 1024, 'that answer is too long')),
};
const ENROL_FORM = {
  factor: z.string({ error: 'the form is not valid' }).max(64, 'the form is not valid'),
  code: text.pipe(z.string().max(64, 'that code is too long')),
  password: text,
};

export function createSecondFactorStep(deps: SecondFactorStepDeps) {
  const { services, signIn } = deps;
  const provider = () => deps.live.current;
  const methods = createSecondFactorMethods(services);
  const stepPath = (uid: string) => `${INTERACTION_PATH}/${uid}/second-factor`;
  const codesContext = (uid: string, accountId: string) => `recovery_codes_display:${uid}:${accountId}`;
  const origin = (ctx: Context) => ({ ip: ctx.ip, userAgent: ctx.get('user-agent') });

  async function requirementFor(details: Details, accountId: string) {
    const client = await provider().Client.find(String(details.params.client_id));
    return secondFactorRequirement(services, methods, accountId, {
      clientRequiresMfa: clientRequiresMfa(client?.metadata() as Record<string, unknown> | undefined),
      acrValues: details.params.acr_values,
    });
  }

  async function keep(details: Details, pending: Pending): Promise<void> {
    details.result = { [PENDING]: pending } as unknown as Details['result'];
    await details.persist();
  }

  function pendingOf(details: Details): Pending {
    const p = (details.result as Record<string, unknown> | undefined)?.[PENDING] as Pending | undefined;
    if (!p || typeof p.accountId !== 'string') throw new BadRequest('this sign-in step has expired; start again from the application');
    return p;
  }

  async function finish(ctx: Context, accountId: string, amr: string[], acr: string): Promise<void> {
    const login = { accountId, amr, acr };
    ctx.status = 303;
    ctx.redirect(await provider().interactionResult(ctx.req, ctx.res, { login }, { mergeWithLastSubmission: false }));
  }

  /**
   * After the first factor: finishes the sign-in when no second one is needed, or keeps it pending and
   * sends the person (303) to the second step.
   */
  async function afterFirstFactor(ctx: Context, details: Details, first: { accountId: string; username?: string; amr: string[]; stepUp?: boolean }) {
    const requirement = await requirementFor(details, first.accountId);
    if (requirement.kind === 'none') return finish(ctx, first.accountId, first.amr, ACR_ONE_FACTOR);
    // The name the lock-out counts wrong codes under.
    const username = first.username ?? (await findActiveAccount(services.runtime.db, first.accountId))?.username;
    if (!username) throw new BadRequest('this account cannot sign in; start again from the application');
    await keep(details, { accountId: first.accountId, username, amr: first.amr, stepUp: first.stepUp ?? false });
    ctx.status = 303;
    ctx.redirect(stepPath(details.uid));
  }

  /** A signed-in person whose session lacks the factor this request needs (second-factor-policy.ts): no password again. */
  async function stepUp(ctx: Context, details: Details) {
    const accountId = details.session!.accountId;
    const account = await findActiveAccount(services.runtime.db, accountId);
    if (!account) throw new BadRequest('this account cannot sign in; start again from the application');
    const amr = Array.isArray(details.session!.amr) ? (details.session!.amr as string[]) : [];
    return afterFirstFactor(ctx, details, { accountId, username: account.username, amr, stepUp: true });
  }

  async function detailsFor(ctx: Context): Promise<Details> {
    const details = await provider().interactionDetails(ctx.req, ctx.res);
    if (details.uid !== ctx.params.uid) throw new BadRequest('this sign-in page is out of date; start again from the application');
    ctx.set('Cache-Control', 'no-store');
    return details;
  }

  async function clientName(details: Details) {
    const client = await provider().Client.find(String(details.params.client_id));
    return client?.clientName ?? String(details.params.client_id);
  }

  async function renderMethods(ctx: Context, details: Details, pending: Pending, enrolled: SecondFactorMethod[], error?: string) {
    const shown = [];
    for (const m of enrolled) {
      const prepared = (await m.prepare?.(pending.accountId)) ?? {};
      if (prepared.state) pending.state = { ...pending.state, [m.kind]: prepared.state };
      shown.push({
        view: m.view,
        data: prepared.data ?? {},
        action: `${stepPath(details.uid)}/${m.kind}`,
        // A method the browser drives by script (passkeys) fetches fresh options here first.
        optionsAction: m.options ? `${stepPath(details.uid)}/${m.kind}/options` : undefined,
      });
    }
    if (enrolled.some((m) => m.prepare)) await keep(details, pending);
    ctx.type = 'html';
    ctx.body = renderPage('second-factor', {
      client: { name: await clientName(details) },
      stepUp: pending.stepUp,
      methods: shown,
      abortAction: `${INTERACTION_PATH}/${details.uid}/abort`,
      csrf: csrfToken(ctx),
      error,
    });
  }

  async function renderEnrol(ctx: Context, details: Details, pending: Pending, error?: string) {
    const account = { id: pending.accountId, username: pending.username };
    let enrolment = pending.factorId ? await pendingTotp(services, account, pending.factorId) : undefined;
    if (!enrolment) {
      enrolment = await startTotpEnrolment(services, account);
      await keep(details, { ...pending, factorId: enrolment.factorId });
    }
    ctx.type = 'html';
    ctx.body = renderPage('totp-enrol', {
      // A step-up has no fresh password: setting up a factor then asks for it, as the account page does, so
      // whoever finds a signed-in browser cannot tie the account to their own phone.
      askPassword: pending.stepUp,
      qr: await qrCodeDataUri(enrolment.uri),
      secret: enrolment.secret,
      factorId: enrolment.factorId,
      action: `${stepPath(details.uid)}/enrol`,
      cancelAction: `${INTERACTION_PATH}/${details.uid}/abort`,
      csrf: csrfToken(ctx),
      error,
    });
  }

  const router = new Router({ prefix: INTERACTION_PATH });

  router.get('/:uid/second-factor', async (ctx) => {
    const details = await detailsFor(ctx);
    const pending = pendingOf(details);
    if (pending.enrolled) {
      ctx.status = 303;
      return ctx.redirect(`${stepPath(details.uid)}/codes`);
    }
    const requirement = await requirementFor(details, pending.accountId);
    if (requirement.kind === 'verify') return renderMethods(ctx, details, pending, requirement.methods);
    if (requirement.kind === 'enrol') return renderEnrol(ctx, details, pending);
    // The factor went away meanwhile (an operator reset it) and none is needed: the first factor stands.
    return finish(ctx, pending.accountId, pending.amr, ACR_ONE_FACTOR);
  });

  /** A method that throttles, counts and audits its own failures (passkeys): the step audits the success. */
  async function verifyCountingOwnFailures(pending: Pending, clientId: string, method: SecondFactorMethod, verify: () => Promise<FactorVerdict>) {
    const verdict = await verify();
    if (!verdict.ok) return { ok: false as const, lockedForSeconds: verdict.lockedForSeconds ?? 0 };
    await recordAudit(services.runtime.db, {
      type: 'login.success',
      accountId: pending.accountId,
      clientId,
      details: { via: `second-factor:${method.kind}` },
    });
    return { ok: true as const };
  }

  /** A code for one method: throttled with passwords; the sign-in finishes on success. */
  async function verifyPost(ctx: Context, details: Details, pending: Pending, method: SecondFactorMethod, fields: Record<string, string>) {
    const requirement = await requirementFor(details, pending.accountId);
    const enrolled = requirement.kind === 'verify' ? requirement.methods : [];
    if (!enrolled.includes(method)) throw new BadRequest('this way of confirming is not set up for your account');
    const state = pending.state?.[method.kind];
    const clientId = String(details.params.client_id);
    let proved: readonly string[] = method.amr;
    const verify = async () => {
      const verdict = await method.verify(pending.accountId, fields, { state, from: origin(ctx), binding: details.uid, clientId });
      if (verdict.ok && verdict.amr) proved = verdict.amr;
      return verdict;
    };
    const outcome = method.countsOwnFailures
      ? await verifyCountingOwnFailures(pending, clientId, method, verify)
      : await signIn.withSecondFactor({ ...origin(ctx), username: pending.username, clientId }, method.kind, verify);
    if (outcome.ok) return finish(ctx, pending.accountId, amrWithSecondFactor(pending.amr, proved), ACR_MFA);
    if (outcome.lockedForSeconds > 0) {
      ctx.status = 429;
      ctx.set('Retry-After', String(outcome.lockedForSeconds));
      return renderMethods(ctx, details, pending, enrolled, strings.login.tooMany(Math.ceil(outcome.lockedForSeconds / 60)));
    }
    ctx.status = 401;
    return renderMethods(ctx, details, pending, enrolled, strings.mfa.invalid);
  }

  router.post('/:uid/second-factor/enrol', async (ctx) => {
    const form = await readPageForm(ctx, deps.bodyLimitBytes, ENROL_FORM);
    const details = await detailsFor(ctx);
    const pending = pendingOf(details);
    if (!pending.factorId || pending.factorId !== form.factor || pending.enrolled) throw new BadRequest(strings.mfa.expired);
    const attempt = { ...origin(ctx), username: pending.username, clientId: String(details.params.client_id) };
    if (pending.stepUp) {
      const checked = await signIn.reauthenticate(attempt, pending.accountId, form.password);
      if (!checked.ok) {
        ctx.status = checked.lockedForSeconds > 0 ? 429 : 401;
        if (checked.lockedForSeconds > 0) ctx.set('Retry-After', String(checked.lockedForSeconds));
        return renderEnrol(ctx, details, pending, checked.lockedForSeconds > 0 ? strings.login.tooMany(Math.ceil(checked.lockedForSeconds / 60)) : strings.mfa.wrongPassword);
      }
    }
    let codes: string[] | undefined;
    const outcome = await signIn.withSecondFactor(attempt, 'totp', async () => {
      const confirmed = await confirmTotpEnrolment(services, pending.accountId, pending.factorId!, form.code, origin(ctx));
      codes = confirmed.ok ? confirmed.recoveryCodes : undefined;
      return confirmed;
    });
    if (!outcome.ok) {
      ctx.status = outcome.lockedForSeconds > 0 ? 429 : 401;
      if (outcome.lockedForSeconds > 0) ctx.set('Retry-After', String(outcome.lockedForSeconds));
      return renderEnrol(ctx, details, pending, outcome.lockedForSeconds > 0 ? strings.login.tooMany(Math.ceil(outcome.lockedForSeconds / 60)) : strings.mfa.invalid);
    }
    const amr = amrWithSecondFactor(pending.amr, ['otp']);
    if (!codes) return finish(ctx, pending.accountId, amr, ACR_MFA);
    // The codes are shown on the next page (303 after POST), kept sealed in the interaction until then.
    const codesSealed = services.runtime.box.seal(JSON.stringify(codes), codesContext(details.uid, pending.accountId));
    await keep(details, { ...pending, amr, enrolled: true, codesSealed });
    ctx.status = 303;
    ctx.redirect(`${stepPath(details.uid)}/codes`);
  });

  router.get('/:uid/second-factor/codes', async (ctx) => {
    const details = await detailsFor(ctx);
    const pending = pendingOf(details);
    if (!pending.enrolled || !pending.codesSealed) throw new BadRequest(strings.mfa.expired);
    const codes = JSON.parse(services.runtime.box.open(pending.codesSealed, codesContext(details.uid, pending.accountId))) as string[];
    ctx.type = 'html';
    ctx.body = renderPage('recovery-codes', { codes, continueAction: `${stepPath(details.uid)}/codes`, csrf: csrfToken(ctx) });
  });

  router.post('/:uid/second-factor/codes', async (ctx) => {
    await readPageForm(ctx, deps.bodyLimitBytes, {});
    const details = await detailsFor(ctx);
    const pending = pendingOf(details);
    if (!pending.enrolled) throw new BadRequest(strings.mfa.expired);
    return finish(ctx, pending.accountId, pending.amr, ACR_MFA);
  });

  /** Fresh options for a script-driven method (a passkey), the challenge kept under the interaction's uid. */
  router.post('/:uid/second-factor/:kind/options', async (ctx) => {
    const method = methods.find((m) => m.kind === ctx.params.kind);
    if (!method?.options) throw new NotFound('there is no such way of confirming');
    await readScriptRequest(ctx, deps.bodyLimitBytes);
    const details = await detailsFor(ctx);
    const pending = pendingOf(details);
    const requirement = await requirementFor(details, pending.accountId);
    if (pending.enrolled || requirement.kind !== 'verify' || !requirement.methods.includes(method)) {
      throw new BadRequest('this way of confirming is not set up for your account');
    }
    ctx.body = await method.options(pending.accountId, details.uid);
  });

  router.post('/:uid/second-factor/:kind', async (ctx) => {
    const method = methods.find((m) => m.kind === ctx.params.kind);
    if (!method) throw new NotFound('there is no such way of confirming');
    const form = await readPageForm(ctx, deps.bodyLimitBytes, CODE_FORM);
    const details = await detailsFor(ctx);
    const pending = pendingOf(details);
    if (pending.enrolled) throw new BadRequest(strings.mfa.expired);
    await verifyPost(ctx, details, pending, method, { code: form.code, credential: form.credential });
  });

  return { router, afterFirstFactor, stepUp };
}

export type SecondFactorStep = ReturnType<typeof createSecondFactorStep>;
