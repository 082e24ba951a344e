// Login, consent and (optional) registration pages for the engine's interactions:
// parse → domain → interactionResult or render. Form posts answer 303 (never 307/308, which would re-post
// the password to the next hop).
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { LiveProvider } from '../oidc/live-provider.ts';
import type { SignInService } from '../services/sign-in.ts';
import { AppError, BadRequest, NotFound } from '../errors.ts';
import { INTERACTION_PATH } from '../oidc/provider.ts';
import { readPageForm, text, trimmed } from './forms.ts';
import { csrfToken } from './middleware/csrf.ts';
import { renderPage } from './render.ts';
import { strings } from './strings.ts';
import { documentUrlOf } from '../domain/client-id-metadata-documents.ts';
import type { SecondFactorStep } from './second-factor-step.ts';
import { SECOND_FACTOR_REASON } from '../oidc/second-factor-policy.ts';

export interface InteractionDeps {
  live: LiveProvider;
  /** Every sign-in use case: password, registration, consent (services/sign-in.ts). */
  signIn: SignInService;
  bodyLimitBytes: number;
  selfRegistration: boolean;
  /** The second-factor step after the password (http/second-factor-step.ts). */
  secondFactor: SecondFactorStep;
  /** Email is on: the sign-in page offers "Forgot password?" (http/password-reset.ts). */
  passwordReset?: boolean;
}

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;
type PromptDetails = { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };

const SIGN_IN_FORM = { username: trimmed, password: text };
const CONSENT_FORM = { remember: text };
const REGISTER_FORM = { username: trimmed, email: trimmed, name: trimmed, password: text };

export function createInteractionRouter(deps: InteractionDeps): Router {
  const { signIn } = deps;
  // Read per request: a key rotation swaps the engine.
  const provider = () => deps.live.current;
  const router = new Router({ prefix: INTERACTION_PATH });

  async function detailsFor(ctx: Context): Promise<Details> {
    const details = await provider().interactionDetails(ctx.req, ctx.res);
    if (details.uid !== ctx.params.uid) throw new BadRequest('this sign-in page is out of date; start again from the application');
    ctx.set('Cache-Control', 'no-store');
    return details;
  }

  async function clientOf(details: Details) {
    const client = await provider().Client.find(String(details.params.client_id));
    const meta: Record<string, unknown> = client?.metadata() ?? {};
    const https = (v: unknown) => (typeof v === 'string' && /^https?:\/\//.test(v) ? v : undefined);
    // A client ID metadata document's client is whoever controls that host: named by its host, first and
    // prominently, and never shown with a logo of its choosing (phishing: a copied name and logo).
    const unverifiedHost = client ? documentUrlOf(client.clientId)?.host : undefined;
    return {
      id: String(details.params.client_id),
      name: client?.clientName ?? String(details.params.client_id),
      unverifiedHost,
      logoUri: unverifiedHost ? undefined : https(meta.logo_uri),
      policyUri: https(meta.policy_uri),
      tosUri: https(meta.tos_uri),
      clientUri: https(meta.client_uri),
    };
  }

  const origin = (ctx: Context) => ({ ip: ctx.ip, userAgent: ctx.get('user-agent') });

  function finish(ctx: Context, redirectTo: string): void {
    ctx.status = 303;
    ctx.redirect(redirectTo);
  }

  async function renderLogin(ctx: Context, details: Details, extra: { error?: string; username?: string } = {}) {
    ctx.type = 'html';
    ctx.body = renderPage('login', {
      client: await clientOf(details),
      action: `${INTERACTION_PATH}/${details.uid}/login`,
      abortAction: `${INTERACTION_PATH}/${details.uid}/abort`,
      registerAction: deps.selfRegistration ? `${INTERACTION_PATH}/${details.uid}/register` : undefined,
      passkeyOptionsAction: `${INTERACTION_PATH}/${details.uid}/passkey/options`,
      passkeyAction: `${INTERACTION_PATH}/${details.uid}/passkey`,
      forgotAction: deps.passwordReset ? `${INTERACTION_PATH}/${details.uid}/forgot` : undefined,
      upstreams: (await signIn.offeredUpstreams()).map((u) => ({ name: u.name, action: `${INTERACTION_PATH}/${details.uid}/upstream/${u.id}` })),
      csrf: csrfToken(ctx),
      username: extra.username ?? (typeof details.params.login_hint === 'string' ? details.params.login_hint : ''),
      error: extra.error,
    });
  }

  async function describeScopes(details: Details): Promise<string[]> {
    const d = details.prompt.details as PromptDetails;
    const lines = (d.missingOIDCScope ?? []).map((s) => strings.consent.scopes[s] ?? `${strings.consent.unknownScope} "${s}"`);
    for (const [resource, scopes] of Object.entries(d.missingResourceScopes ?? {})) {
      const api = await signIn.describeApi(resource);
      for (const s of scopes) {
        const described = api?.scopes.find((x) => x.name === s)?.description;
        lines.push(described ? `${described} (${api!.name})` : `${strings.consent.unknownScope} "${s}" ${strings.consent.resource} ${api?.name ?? resource}`);
      }
    }
    return lines;
  }

  router.get('/:uid', async (ctx) => {
    const details = await detailsFor(ctx);
    // Signed in, only a second factor missing (step-up): that step alone, no password again.
    const reasons = details.prompt.reasons;
    if (details.prompt.name === 'login' && details.session?.accountId && reasons.length > 0 && reasons.every((r) => r === SECOND_FACTOR_REASON)) {
      return deps.secondFactor.stepUp(ctx, details);
    }
    if (details.prompt.name === 'login') return renderLogin(ctx, details);
    ctx.type = 'html';
    ctx.body = renderPage('consent', {
      client: await clientOf(details),
      scopes: await describeScopes(details),
      action: `${INTERACTION_PATH}/${details.uid}/confirm`,
      abortAction: `${INTERACTION_PATH}/${details.uid}/abort`,
      csrf: csrfToken(ctx),
    });
  });

  router.post('/:uid/login', async (ctx) => {
    const form = await readPageForm(ctx, deps.bodyLimitBytes, SIGN_IN_FORM);
    const details = await detailsFor(ctx);
    if (details.prompt.name !== 'login') throw new BadRequest('this sign-in step is already complete');
    const { username } = form;
    const clientId = String(details.params.client_id);
    const tooMany = (seconds: number) => {
      ctx.status = 429;
      ctx.set('Retry-After', String(seconds));
      return renderLogin(ctx, details, { error: strings.login.tooMany(Math.ceil(seconds / 60)), username });
    };

    const result = await signIn.withPassword({ ...origin(ctx), username, clientId }, form.password);
    if (!result.ok) {
      if (result.lockedForSeconds > 0) return tooMany(result.lockedForSeconds);
      ctx.status = 401;
      // Same message for an unknown user, a wrong password and a disabled account (no enumeration).
      return renderLogin(ctx, details, { error: strings.login.invalid, username });
    }
    ctx.state.accountId = result.value.id;
    // Finished here, or kept pending (server-side) until the second factor.
    await deps.secondFactor.afterFirstFactor(ctx, details, { accountId: result.value.id, username: result.value.username, amr: ['pwd'] });
  });

  router.post('/:uid/confirm', async (ctx) => {
    const form = await readPageForm(ctx, deps.bodyLimitBytes, CONSENT_FORM);
    const details = await detailsFor(ctx);
    if (details.prompt.name !== 'consent' || !details.session?.accountId) throw new BadRequest('there is nothing to consent to');
    const d = details.prompt.details as PromptDetails;
    const grant = details.grantId
      ? await provider().Grant.find(details.grantId)
      : new (provider().Grant)({ accountId: details.session.accountId, clientId: String(details.params.client_id) });
    if (!grant) throw new BadRequest('this consent request has expired; start again from the application');
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    for (const [resource, scopes] of Object.entries(d.missingResourceScopes ?? {})) grant.addResourceScope(resource, scopes.join(' '));
    const grantId = await grant.save();
    await signIn.consented(origin(ctx), {
      grantId,
      accountId: details.session.accountId,
      clientId: String(details.params.client_id),
      remember: form.remember === '1',
      scopes: d.missingOIDCScope ?? [],
      resources: d.missingResourceScopes ?? {},
    });
    const consent = details.grantId ? {} : { grantId };
    finish(ctx, await provider().interactionResult(ctx.req, ctx.res, { consent }, { mergeWithLastSubmission: true }));
  });

  router.post('/:uid/abort', async (ctx) => {
    await readPageForm(ctx, deps.bodyLimitBytes, {});
    const details = await detailsFor(ctx);
    await signIn.denied(origin(ctx), details.session?.accountId, String(details.params.client_id));
    const result = { error: 'access_denied', error_description: 'the resource owner denied the request' };
    finish(ctx, await provider().interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false }));
  });

  // Self-registration (SELF_REGISTRATION=true): same password rules as the CLI; signs the new account in.
  async function renderRegister(ctx: Context, details: Details, extra: { error?: string; values?: Record<string, string> } = {}) {
    ctx.type = 'html';
    ctx.body = renderPage('register', {
      client: await clientOf(details),
      action: `${INTERACTION_PATH}/${details.uid}/register`,
      back: `${INTERACTION_PATH}/${details.uid}`,
      verifiesEmail: deps.passwordReset === true,
      csrf: csrfToken(ctx),
      values: extra.values ?? {},
      error: extra.error,
    });
  }

  router.get('/:uid/register', async (ctx) => {
    if (!deps.selfRegistration) throw new NotFound('registration is not enabled');
    const details = await detailsFor(ctx);
    if (details.prompt.name !== 'login') throw new BadRequest('you are already signed in');
    await renderRegister(ctx, details);
  });

  router.post('/:uid/register', async (ctx) => {
    if (!deps.selfRegistration) throw new NotFound('registration is not enabled');
    const { password, ...values } = await readPageForm(ctx, deps.bodyLimitBytes, REGISTER_FORM);
    const details = await detailsFor(ctx);
    if (details.prompt.name !== 'login') throw new BadRequest('you are already signed in');
    try {
      const account = await signIn.register(origin(ctx), String(details.params.client_id), {
        username: values.username,
        password,
        email: values.email || undefined,
        name: values.name || undefined,
      });
      await deps.secondFactor.afterFirstFactor(ctx, details, { accountId: account.id, username: account.username, amr: ['pwd'] });
    } catch (error) {
      if (!(error instanceof AppError) || !error.expose) throw error;
      ctx.status = 422;
      await renderRegister(ctx, details, { error: error.description, values });
    }
  });

  return router;
}
