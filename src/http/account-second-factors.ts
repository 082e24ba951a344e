// Two-step verification on the account page: set up an authenticator app (QR code, then a code from the
// app and the current password in one form), new recovery codes, remove a factor. Every change asks for
// the current password (checked inside the sign-in lock-out); recovery codes are shown once, on the page
// after the POST (303), carried there sealed in a short-lived cookie bound to the account.
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { LiveProvider } from '../oidc/live-provider.ts';
import type { Config } from '../config.ts';
import type { ServiceContext } from '../services/context.ts';
import type { SignInService } from '../services/sign-in.ts';
import { confirmTotpEnrolment, generateRecoveryCodes, listFactors, pendingTotp, removeFactor, startTotpEnrolment } from '../services/mfa.ts';
import { signedInAccount as activeAccount } from '../services/account-page.ts';
import { ACR_MFA, accountRequiresMfa, amrWithSecondFactor, hasMfa } from '../domain/second-factor-policy.ts';
import { ACCOUNT_CLIENT_ID } from '../domain/clients.ts';
import { BadRequest } from '../errors.ts';
import { readPageForm, text } from './forms.ts';
import { csrfToken } from './middleware/csrf.ts';
import { renderPage } from './render.ts';
import { strings } from './strings.ts';
import { qrCodeDataUri } from './qr-code.ts';

export interface AccountSecondFactorDeps {
  live: LiveProvider;
  services: ServiceContext;
  config: Config;
  signIn: SignInService;
}

export const TWO_STEP_PATH = '/account/two-step';
const CODES_COOKIE = 'tessera.recovery-codes';
const field = (what: string, max: number) => z.string({ error: `no ${what} was given` }).min(1, `no ${what} was given`).max(max, `no ${what} was given`);
const CONFIRM_FORM = { factor: field('setup', 64), code: text.pipe(z.string().max(64, 'that code is too long')), password: text };
const PASSWORD_FORM = { password: text };
const REMOVE_FORM = { factor: field('factor', 64), password: text };
const codesContext = (accountId: string) => `recovery_codes_display:account:${accountId}`;

/**
 * The account the browser's session belongs to, when the session is strong enough for the account page:
 * an account that must use a second factor is shown only to a session that used one.
 */
export async function accountOfSession(live: LiveProvider, services: ServiceContext, ctx: Context) {
  const session = await live.current.Session.get(ctx);
  if (!session.accountId) return undefined;
  const account = await activeAccount(services, session.accountId);
  if (!account) return undefined;
  if (!hasMfa(session.amr as string[] | undefined) && (await accountRequiresMfa(services.runtime.db, services.config.mfa, account.id))) return undefined;
  return account;
}

/**
 * The person just used a factor on the account page (an authenticator app's first code, a new passkey):
 * this session now holds it, with `amr` of that method and `mfa` (the account page asks for one from now on).
 */
export async function sessionUsedFactor(live: LiveProvider, ctx: Context, accountId: string, amr: readonly string[]): Promise<void> {
  const session = await live.current.Session.get(ctx);
  if (session.accountId !== accountId || typeof session.exp !== 'number') return;
  session.amr = amrWithSecondFactor((session.amr as string[] | undefined) ?? [], amr);
  session.acr = ACR_MFA;
  await session.persist();
}

/** What the account page shows of two-step verification. */
export async function twoStepSummary(services: ServiceContext, accountId: string) {
  const { factors, recovery_codes_left } = await listFactors(services, accountId);
  return {
    factors: factors.map((f) => ({ ...f, since: f.created_at.slice(0, 10) })),
    codesLeft: recovery_codes_left,
    addAction: `${TWO_STEP_PATH}/totp/start`,
    removeAction: `${TWO_STEP_PATH}/remove`,
    regenerateAction: `${TWO_STEP_PATH}/recovery-codes`,
  };
}

export function createAccountSecondFactorRouter(deps: AccountSecondFactorDeps): Router {
  const { services, config, signIn } = deps;
  const router = new Router({ prefix: TWO_STEP_PATH });
  const origin = (ctx: Context) => ({ ip: ctx.ip, userAgent: ctx.get('user-agent') });

  async function signedInForm<S extends z.ZodRawShape>(ctx: Context, shape: S) {
    const form = await readPageForm(ctx, config.bodyLimitBytes, shape);
    const account = await accountOfSession(deps.live, services, ctx);
    if (!account) throw new BadRequest('you are signed out; sign in again');
    return { form, account };
  }

  /** The current password, inside the sign-in lock-out: undefined when right, else the words to show. */
  async function passwordProblem(ctx: Context, account: { id: string; username: string }, password: string): Promise<string | undefined> {
    const outcome = await signIn.reauthenticate({ ...origin(ctx), username: account.username, clientId: ACCOUNT_CLIENT_ID }, account.id, password);
    if (outcome.ok) return undefined;
    if (outcome.lockedForSeconds > 0) {
      ctx.status = 429;
      ctx.set('Retry-After', String(outcome.lockedForSeconds));
      return strings.login.tooMany(Math.ceil(outcome.lockedForSeconds / 60));
    }
    ctx.status = 401;
    return strings.mfa.wrongPassword;
  }

  function showCodesNext(ctx: Context, accountId: string, codes: string[]) {
    const sealed = services.runtime.box.seal(JSON.stringify(codes), codesContext(accountId));
    ctx.cookies.set(CODES_COOKIE, sealed, { httpOnly: true, sameSite: 'strict', path: TWO_STEP_PATH, maxAge: 10 * 60 * 1000, secure: ctx.secure, overwrite: true });
    ctx.status = 303;
    ctx.redirect(`${TWO_STEP_PATH}/recovery-codes`);
  }

  async function renderEnrol(ctx: Context, account: { id: string; username: string }, enrolment: { factorId: string; secret: string; uri: string }, error?: string) {
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'html';
    ctx.body = renderPage('totp-enrol', {
      askPassword: true,
      qr: await qrCodeDataUri(enrolment.uri),
      secret: enrolment.secret,
      factorId: enrolment.factorId,
      action: `${TWO_STEP_PATH}/totp/confirm`,
      cancelAction: `${TWO_STEP_PATH}/totp/cancel`,
      csrf: csrfToken(ctx),
      error,
    });
  }

  router.post('/totp/start', async (ctx) => {
    const { account } = await signedInForm(ctx, {});
    const enrolment = await startTotpEnrolment(services, account);
    ctx.status = 303;
    ctx.redirect(`${TWO_STEP_PATH}/totp/${enrolment.factorId}`);
  });

  router.get('/totp/:factor', async (ctx) => {
    const account = await accountOfSession(deps.live, services, ctx);
    if (!account) throw new BadRequest('you are signed out; sign in again');
    const enrolment = /^[0-9a-f-]{36}$/.test(ctx.params.factor!) ? await pendingTotp(services, account, ctx.params.factor!) : undefined;
    if (!enrolment) throw new BadRequest(strings.mfa.expired);
    await renderEnrol(ctx, account, enrolment);
  });

  router.post('/totp/confirm', async (ctx) => {
    const { form, account } = await signedInForm(ctx, CONFIRM_FORM);
    const enrolment = /^[0-9a-f-]{36}$/.test(form.factor) ? await pendingTotp(services, account, form.factor) : undefined;
    if (!enrolment) throw new BadRequest(strings.mfa.expired);
    const problem = await passwordProblem(ctx, account, form.password);
    if (problem) return renderEnrol(ctx, account, enrolment, problem);
    let recoveryCodes: string[] | undefined;
    const outcome = await signIn.withSecondFactor({ ...origin(ctx), username: account.username, clientId: ACCOUNT_CLIENT_ID }, 'totp', async () => {
      const confirmed = await confirmTotpEnrolment(services, account.id, enrolment.factorId, form.code, origin(ctx));
      recoveryCodes = confirmed.ok ? confirmed.recoveryCodes : undefined;
      return confirmed;
    });
    if (!outcome.ok) {
      ctx.status = outcome.lockedForSeconds > 0 ? 429 : 401;
      return renderEnrol(ctx, account, enrolment, outcome.lockedForSeconds > 0 ? strings.login.tooMany(Math.ceil(outcome.lockedForSeconds / 60)) : strings.mfa.invalid);
    }
    await sessionUsedFactor(deps.live, ctx, account.id, ['otp']);
    if (recoveryCodes) return showCodesNext(ctx, account.id, recoveryCodes);
    ctx.status = 303;
    ctx.redirect('/account');
  });

  router.post('/totp/cancel', async (ctx) => {
    await readPageForm(ctx, config.bodyLimitBytes, {});
    ctx.status = 303;
    ctx.redirect('/account');
  });

  router.post('/recovery-codes', async (ctx) => {
    const { form, account } = await signedInForm(ctx, PASSWORD_FORM);
    const { factors } = await listFactors(services, account.id);
    if (!factors.length) throw new BadRequest('set up an authenticator app first; recovery codes back it up');
    const problem = await passwordProblem(ctx, account, form.password);
    if (problem) throw new BadRequest(problem);
    showCodesNext(ctx, account.id, await generateRecoveryCodes(services, account.id, origin(ctx)));
  });

  router.get('/recovery-codes', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const account = await accountOfSession(deps.live, services, ctx);
    const sealed = ctx.cookies.get(CODES_COOKIE);
    ctx.cookies.set(CODES_COOKIE, null, { path: TWO_STEP_PATH, overwrite: true });
    let codes: string[] | undefined;
    try {
      codes = account && sealed ? (JSON.parse(services.runtime.box.open(sealed, codesContext(account.id))) as string[]) : undefined;
    } catch {
      codes = undefined;
    }
    if (!codes) throw new BadRequest('these recovery codes were shown already; make new ones on your account page if you did not save them');
    ctx.type = 'html';
    ctx.body = renderPage('recovery-codes', { codes, csrf: csrfToken(ctx) });
  });

  router.post('/remove', async (ctx) => {
    const { form, account } = await signedInForm(ctx, REMOVE_FORM);
    const problem = await passwordProblem(ctx, account, form.password);
    if (problem) throw new BadRequest(problem);
    await removeFactor(services, account.id, form.factor, origin(ctx));
    ctx.status = 303;
    ctx.redirect('/account');
  });

  return router;
}
