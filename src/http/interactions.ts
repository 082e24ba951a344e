// Login and consent pages for the engine's interactions: parse → domain → interactionResult or render.
// Form posts answer 303 (never 307/308, which would re-post the password to the next hop).
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Db } from '../store/db.ts';
import type { PasswordHasher } from '../domain/password.ts';
import { authenticate } from '../domain/accounts.ts';
import { BadRequest } from '../errors.ts';
import { INTERACTION_PATH } from '../oidc/provider.ts';
import { readForm } from './middleware/body-limit.ts';
import { assertCsrf, csrfToken } from './middleware/csrf.ts';
import { renderPage } from './render.ts';
import { strings } from './strings.ts';

export interface InteractionDeps {
  provider: Provider;
  db: Db;
  hasher: PasswordHasher;
  bodyLimitBytes: number;
}

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

export function createInteractionRouter(deps: InteractionDeps): Router {
  const { provider } = deps;
  const router = new Router({ prefix: INTERACTION_PATH });

  async function detailsFor(ctx: Context): Promise<Details> {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.uid !== ctx.params.uid) throw new BadRequest('this sign-in page is out of date; start again from the application');
    ctx.set('Cache-Control', 'no-store');
    return details;
  }

  async function clientNameOf(details: Details): Promise<string> {
    const client = await provider.Client.find(String(details.params.client_id));
    return client?.clientName ?? String(details.params.client_id);
  }

  function finish(ctx: Context, redirectTo: string): void {
    ctx.status = 303;
    ctx.redirect(redirectTo);
  }

  async function renderLogin(ctx: Context, details: Details, extra: { error?: string; username?: string } = {}) {
    ctx.type = 'html';
    ctx.body = renderPage('login', {
      clientName: await clientNameOf(details),
      action: `${INTERACTION_PATH}/${details.uid}/login`,
      abortAction: `${INTERACTION_PATH}/${details.uid}/abort`,
      csrf: csrfToken(ctx),
      username: extra.username ?? (typeof details.params.login_hint === 'string' ? details.params.login_hint : ''),
      error: extra.error,
    });
  }

  function describeScopes(details: Details): string[] {
    const d = details.prompt.details as { missingOIDCScope?: string[]; missingResourceScopes?: Record<string, string[]> };
    const lines = (d.missingOIDCScope ?? []).map((s) => strings.consent.scopes[s] ?? `${strings.consent.unknownScope} "${s}"`);
    for (const [resource, scopes] of Object.entries(d.missingResourceScopes ?? {})) {
      for (const s of scopes) lines.push(`${strings.consent.unknownScope} "${s}" ${strings.consent.resource} ${resource}`);
    }
    return lines;
  }

  router.get('/:uid', async (ctx) => {
    const details = await detailsFor(ctx);
    if (details.prompt.name === 'login') return renderLogin(ctx, details);
    ctx.type = 'html';
    ctx.body = renderPage('consent', {
      clientName: await clientNameOf(details),
      scopes: describeScopes(details),
      action: `${INTERACTION_PATH}/${details.uid}/confirm`,
      abortAction: `${INTERACTION_PATH}/${details.uid}/abort`,
      csrf: csrfToken(ctx),
    });
  });

  router.post('/:uid/login', async (ctx) => {
    const form = await readForm(ctx, deps.bodyLimitBytes);
    assertCsrf(ctx, form);
    const details = await detailsFor(ctx);
    if (details.prompt.name !== 'login') throw new BadRequest('this sign-in step is already complete');
    const username = (form.get('username') ?? '').trim();
    const result = await authenticate(deps.db, deps.hasher, username, form.get('password') ?? '');
    if (!result.ok) {
      ctx.status = 401;
      return renderLogin(ctx, details, { error: strings.login.invalid, username });
    }
    finish(ctx, await provider.interactionResult(ctx.req, ctx.res, { login: { accountId: result.account.id } }, { mergeWithLastSubmission: false }));
  });

  router.post('/:uid/confirm', async (ctx) => {
    const form = await readForm(ctx, deps.bodyLimitBytes);
    assertCsrf(ctx, form);
    const details = await detailsFor(ctx);
    if (details.prompt.name !== 'consent' || !details.session?.accountId) throw new BadRequest('there is nothing to consent to');
    const d = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: String(details.params.client_id) });
    if (!grant) throw new BadRequest('this consent request has expired; start again from the application');
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    for (const [resource, scopes] of Object.entries(d.missingResourceScopes ?? {})) grant.addResourceScope(resource, scopes.join(' '));
    const grantId = await grant.save();
    const consent = details.grantId ? {} : { grantId };
    finish(ctx, await provider.interactionResult(ctx.req, ctx.res, { consent }, { mergeWithLastSubmission: true }));
  });

  router.post('/:uid/abort', async (ctx) => {
    const form = await readForm(ctx, deps.bodyLimitBytes);
    assertCsrf(ctx, form);
    await detailsFor(ctx);
    const result = { error: 'access_denied', error_description: 'the resource owner denied the request' };
    finish(ctx, await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false }));
  });

  return router;
}
