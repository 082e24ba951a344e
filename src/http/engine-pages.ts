// The pages the engine renders itself, drawn from our views so every page looks and behaves the same.
import type { EnginePages } from '../oidc/engine-pages.ts';
import { renderPage } from './render.ts';
import { CODE_VERIFICATION_PATH } from '../oidc/device-flow.ts';
import { strings } from './strings.ts';

export const enginePages: EnginePages = {
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = renderPage('error', {
      code: out.error,
      description: out.error_description ?? strings.error.generic,
    });
  },
  async logoutSource(ctx, form) {
    ctx.type = 'html';
    // `form` is the engine's own hidden form (action + its xsrf token), not request input.
    ctx.body = renderPage('logout', { form, host: ctx.host });
  },
  async postLogoutSuccessSource(ctx) {
    ctx.type = 'html';
    ctx.body = renderPage('logged-out', { clientName: ctx.oidc.client?.clientName ?? ctx.oidc.client?.clientId });
  },
  // The device flow's pages (RFC 8628 §3.3). The engine answers them 200 whatever happened (a wrong code is a
  // page to try again on, not an error); each form carries the engine's session-bound `xsrf` token.
  async userCodeInput(ctx, view) {
    ctx.type = 'html';
    const error = view.error && {
      wrong: strings.device.wrongCode,
      aborted: strings.device.aborted,
      failed: strings.device.failed,
      throttled: strings.device.tooMany(Math.ceil((view.retryAfterSeconds ?? 60) / 60)),
    }[view.error];
    ctx.body = renderPage('device-code', { action: view.action, restart: CODE_VERIFICATION_PATH, xsrf: view.xsrf, userCode: view.userCode ?? '', digits: view.digits, error });
  },
  async userCodeConfirm(ctx, view) {
    ctx.type = 'html';
    ctx.body = renderPage('device-confirm', { ...view });
  },
  async deviceSuccess(ctx, clientName) {
    ctx.type = 'html';
    ctx.body = renderPage('device-done', { clientName });
  },
};

