// The pages the engine renders itself, drawn from our views so every page looks and behaves the same.
import type { EnginePages } from '../oidc/engine-pages.ts';
import { renderPage } from './render.ts';
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
};
