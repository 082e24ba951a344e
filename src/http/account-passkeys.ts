// The account page's passkeys (views/account.eta, section "Passkeys"; views/assets/passkeys.js):
//   POST /account/passkeys/options   JSON {csrf} → WebAuthn creation options; the challenge is bound to this
//        engine session (its uid) and the signed-in account
//   POST /account/passkeys           form {csrf, name, password, credential} → registered, 303 /account
//   POST /account/passkeys/rename    form {csrf, id, name} → 303 /account
//   POST /account/passkeys/remove    form {csrf, id, password} → 303 /account
// Registering and removing re-check the current password in the same request (throttled like sign-in).
// A refusal is a readable error page (401 wrong password, 404 not yours, 429 locked, 400 otherwise).
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { LiveProvider } from '../oidc/live-provider.ts';
import type { Config } from '../config.ts';
import type { ServiceContext } from '../services/context.ts';
import { accountOfSession, sessionUsedFactor } from './account-second-factors.ts';
import { passkeyAmr } from '../domain/passkeys.ts';
import { passkeyRegistrationOptions, registerPasskey, removePasskey, renamePasskey, type PasskeyOutcome, listPasskeys } from '../services/passkeys.ts';
import { AppError, BadRequest } from '../errors.ts';
import { readPageForm, text } from './forms.ts';
import { readScriptRequest } from './script-requests.ts';
import { strings } from './strings.ts';

export interface AccountPasskeyDeps {
  live: LiveProvider;
  services: ServiceContext;
  config: Config;
}

const passkeyId = z.string({ error: 'no passkey was chosen' }).uuid('no passkey was chosen');
const REGISTER_FORM = { name: text, password: text, credential: z.string({ error: 'no passkey was created' }).min(1, 'no passkey was created').max(65_536, 'the passkey answer is too large') };
const RENAME_FORM = { id: passkeyId, name: text };
const REMOVE_FORM = { id: passkeyId, password: text };

/** A refused passkey change as the page the person reads. */
function refusal(ctx: Context, outcome: Extract<PasskeyOutcome<object>, { ok: false }>): never {
  const t = strings.passkeys;
  switch (outcome.reason) {
    case 'wrong_password':
      throw new AppError(401, 'access_denied', t.wrongPassword);
    case 'locked':
      ctx.set('Retry-After', String(outcome.lockedForSeconds));
      throw new AppError(429, 'too_many_requests', strings.login.tooMany(Math.ceil(outcome.lockedForSeconds / 60)));
    case 'not_found':
      throw new AppError(404, 'not_found', t.notFound);
    case 'already_registered':
      throw new AppError(409, 'conflict', t.alreadyRegistered);
    case 'invalid_name':
      throw new BadRequest(outcome.problem ?? t.invalid);
    case 'no_challenge':
      throw new BadRequest(t.noChallenge);
    default:
      throw new BadRequest(t.invalid);
  }
}

export function createAccountPasskeyRouter(deps: AccountPasskeyDeps): Router {
  const { services, config } = deps;
  const provider = () => deps.live.current;
  const router = new Router({ prefix: '/account/passkeys' });
  const origin = (ctx: Context) => ({ ip: ctx.ip, userAgent: ctx.get('user-agent') });

  /** The signed-in person and their engine session's uid (what a registration challenge is bound to). */
  async function signedIn(ctx: Context) {
    const session = await provider().Session.get(ctx);
    // The account page's own rule: an account that must use a second factor is changed only from a session
    // that used one (account-second-factors.ts), or a password alone could add a passkey that stands for two.
    const account = session.accountId ? await accountOfSession(deps.live, services, ctx) : undefined;
    if (!account) throw new BadRequest('you are signed out; sign in again');
    return { account, sessionUid: session.uid };
  }

  router.post('/options', async (ctx) => {
    await readScriptRequest(ctx, config.bodyLimitBytes);
    const { account, sessionUid } = await signedIn(ctx);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await passkeyRegistrationOptions(services, account, sessionUid);
  });

  router.post('/', async (ctx) => {
    const form = await readPageForm(ctx, config.bodyLimitBytes, REGISTER_FORM);
    const { account, sessionUid } = await signedIn(ctx);
    const outcome = await registerPasskey(services, account, sessionUid, form, origin(ctx));
    if (!outcome.ok) refusal(ctx, outcome);
    // The person just used the passkey (with user verification): this session now holds it.
    const added = (await listPasskeys(services, account.id)).find((p) => p.id === outcome.id);
    if (added) await sessionUsedFactor(deps.live, ctx, account.id, passkeyAmr(added.synced));
    ctx.status = 303;
    ctx.redirect('/account');
  });

  router.post('/rename', async (ctx) => {
    const form = await readPageForm(ctx, config.bodyLimitBytes, RENAME_FORM);
    const { account } = await signedIn(ctx);
    const outcome = await renamePasskey(services, account.id, form.id, form.name);
    if (!outcome.ok) refusal(ctx, outcome);
    ctx.status = 303;
    ctx.redirect('/account');
  });

  router.post('/remove', async (ctx) => {
    const form = await readPageForm(ctx, config.bodyLimitBytes, REMOVE_FORM);
    const { account } = await signedIn(ctx);
    const outcome = await removePasskey(services, account, form.id, form.password, origin(ctx));
    if (!outcome.ok) refusal(ctx, outcome);
    ctx.status = 303;
    ctx.redirect('/account');
  });

  return router;
}
