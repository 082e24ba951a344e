// createApp: the Koa host. Our routes first (health, assets, interaction pages); everything else is handed
// to the engine. No I/O here: all dependencies arrive built.
import Koa from 'koa';
import type Provider from 'oidc-provider';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import type { Db } from './store/db.ts';
import type { PasswordHasher } from './domain/password.ts';
import { requestLog } from './http/middleware/request-log.ts';
import { errorHandler } from './http/middleware/error-handler.ts';
import { securityHeaders } from './http/middleware/security-headers.ts';
import { bodyLimit } from './http/middleware/body-limit.ts';
import { pinHost, prepareEngineRequest } from './http/middleware/engine-request.ts';
import { createHealthRouter } from './http/health.ts';
import { createAssetRouter } from './http/assets.ts';
import { createInteractionRouter } from './http/interactions.ts';
import { createAccountRouter } from './http/account.ts';
import { createRevocationFeedRouter } from './http/revocation-feed.ts';
import { feedAudience } from './oidc/provider.ts';
import type { AccessTokenVerifier } from './domain/access-token-verifier.ts';
import { createLoginThrottle } from './domain/login-throttle.ts';

export interface AppDeps {
  config: Config;
  logger: Logger;
  db: Db;
  provider: Provider;
  hasher: PasswordHasher;
  cookieKeys: string[];
  verifier: AccessTokenVerifier;
  /** Aborted when the server begins to shut down. */
  shutdown: AbortSignal;
}

export function createApp(deps: AppDeps): Koa {
  const { config, provider } = deps;
  const https = config.issuer.startsWith('https:');
  const app = new Koa({ proxy: config.trustProxy, keys: deps.cookieKeys });

  app.use(requestLog(deps.logger));
  app.use(errorHandler(deps.logger));
  app.use(securityHeaders({ https }));
  app.use(bodyLimit(config.bodyLimitBytes));

  for (const router of [
    createHealthRouter(deps.db),
    createAssetRouter(),
    createInteractionRouter({
      provider,
      db: deps.db,
      hasher: deps.hasher,
      throttle: createLoginThrottle(deps.db, config.loginThrottle),
      bodyLimitBytes: config.bodyLimitBytes,
      selfRegistration: config.selfRegistration,
    }),
    createAccountRouter({ provider, db: deps.db, config }),
    createRevocationFeedRouter({ db: deps.db, verifier: deps.verifier, feedAudience: feedAudience(config.issuer), shutdown: deps.shutdown }),
  ]) {
    app.use(router.routes());
  }

  const engine = provider.callback();
  const issuer = new URL(config.issuer);
  app.use(async (ctx) => {
    // RFC 8414 §3: the OAuth metadata document is the same document as OpenID discovery.
    if (ctx.path === '/.well-known/oauth-authorization-server') {
      ctx.req.url = ctx.req.url?.replace('/.well-known/oauth-authorization-server', '/.well-known/openid-configuration');
    }
    const req = await prepareEngineRequest(ctx, config.bodyLimitBytes);
    pinHost(req, issuer);
    ctx.respond = false;
    await engine(req, ctx.res);
  });

  // Errors Koa itself raises outside middleware (e.g. client aborts) are logged, never thrown.
  app.on('error', (error: Error) => deps.logger.warn({ err: { message: error.message } }, 'koa error'));
  app.silent = true;
  return app;
}
