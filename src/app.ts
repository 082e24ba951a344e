// createApp: the Koa host. Our routes first (health, assets, interaction pages); everything else is handed
// to the engine. No I/O here: all dependencies arrive built.
import Koa from 'koa';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import type { Db } from './store/db.ts';
import type { PasswordHasher } from './domain/password.ts';
import { requestLog } from './http/middleware/request-log.ts';
import { errorHandler } from './http/middleware/error-handler.ts';
import { securityHeaders } from './http/middleware/security-headers.ts';
import { bodyLimit } from './http/middleware/body-limit.ts';
import { refuseHostileInput } from './http/middleware/hostile-input.ts';
import { pinHost, prepareEngineRequest } from './http/middleware/engine-request.ts';
import { createHealthRouter } from './http/health.ts';
import { createAssetRouter } from './http/assets.ts';
import { createInteractionRouter } from './http/interactions.ts';
import { createAccountRouter } from './http/account.ts';
import { createSecondFactorStep } from './http/second-factor-step.ts';
import { createAccountSecondFactorRouter } from './http/account-second-factors.ts';
import { createAccountPasskeyRouter } from './http/account-passkeys.ts';
import { createPasskeySignInRouter } from './http/passkey-sign-in.ts';
import { createRevocationFeedRouter } from './http/revocation-feed.ts';
import { ADMIN_BASE_PATH, createAdminRouter } from './http/admin/router.ts';
import { feedAudience } from './oidc/provider.ts';
import type { AccessTokenVerifier } from './domain/access-token-verifier.ts';
import { createSignInService, type SignInResult } from './services/sign-in.ts';
import type { LiveProvider } from './oidc/live-provider.ts';
import type { ServiceContext } from './services/operations.ts';
import type { Metrics } from './metrics.ts';
import { createMetricsRouter } from './http/metrics.ts';
import { createUpstreamRouter } from './http/upstream.ts';
import type { UpstreamClient } from './upstream/client.ts';
import { createIntrospectionFastPath } from './oidc/introspection-fast-path.ts';
import { introspectionFastPath } from './http/introspection-fast-path.ts';
import { createEmailLinkService } from './services/email-links.ts';
import { createPasswordResetRouter } from './http/password-reset.ts';
import { createEmailVerificationRouter } from './http/email-verification.ts';

export interface AppDeps {
  config: Config;
  logger: Logger;
  db: Db;
  /** The engine; replaced when keys rotate (oidc/live-provider.ts). */
  live: LiveProvider;
  hasher: PasswordHasher;
  verifier: AccessTokenVerifier;
  /** Aborted when the server begins to shut down. */
  shutdown: AbortSignal;
  /** The service operations (shared with the CLI). */
  operations: ServiceContext;
  metrics?: Metrics;
  /** The upstream side of brokered sign-in (upstream/client.ts). */
  upstreamClient: UpstreamClient;
}

export function createApp(deps: AppDeps): Koa {
  const { config, live } = deps;
  const https = config.issuer.startsWith('https:');
  const app = new Koa({ proxy: config.trustProxy });
  // Koa reads app.keys for every request's cookies. The engine is a Koa app holding the cookie keys it was
  // built with (signing one first), so the host signs and verifies with the current engine's: always the
  // latest rotation.
  Object.defineProperty(app, 'keys', { get: () => live.current.keys, set: () => {}, configurable: true });

  app.use(requestLog(deps.logger, deps.metrics));
  // While draining for shutdown, every response closes its connection so keep-alive clients move on.
  app.use(async (ctx, next) => {
    if (deps.shutdown.aborted) ctx.set('Connection', 'close');
    await next();
  });
  app.use(errorHandler(deps.logger));
  app.use(securityHeaders({ https }));
  // The admin API applies the same limit itself, so its 413 has its own error shape and is audited.
  app.use(bodyLimit(config.bodyLimitBytes, { except: [`${ADMIN_BASE_PATH}/`] }));
  // NUL, unpaired surrogates, malformed percent-encoding or UTF-8 anywhere in the input: 400 here, before any
  // router or the engine passes them towards the database. The admin API applies the same rules in its own shape.
  app.use(refuseHostileInput(config.bodyLimitBytes, { except: [`${ADMIN_BASE_PATH}/`] }));

  const onLogin = deps.metrics ? { onLogin: (result: SignInResult) => deps.metrics!.logins.inc({ result }) } : {};
  // One sign-in service for the sign-in form, registration, consent and brokered sign-in: one throttle, one audit trail.
  const signIn = createSignInService(deps.operations, onLogin);
  const secondFactor = createSecondFactorStep({ live, signIn, services: deps.operations, bodyLimitBytes: config.bodyLimitBytes });
  // Password reset and email verification links (off when email is: services/mailer.ts).
  const emailLinks = createEmailLinkService(deps.operations);
  for (const router of [
    createHealthRouter(deps.operations, deps.shutdown),
    ...(deps.metrics && config.metrics.token ? [createMetricsRouter(deps.metrics.registry, config.metrics.token)] : []),
    createAssetRouter(),
    secondFactor.router,
    createInteractionRouter({ live, signIn, bodyLimitBytes: config.bodyLimitBytes, selfRegistration: config.selfRegistration, secondFactor, passwordReset: emailLinks.enabled }),
    createPasswordResetRouter({ live, links: emailLinks, bodyLimitBytes: config.bodyLimitBytes }),
    createEmailVerificationRouter({ live, links: emailLinks, bodyLimitBytes: config.bodyLimitBytes }),
    createUpstreamRouter({ live, signIn, client: deps.upstreamClient, logger: deps.logger, bodyLimitBytes: config.bodyLimitBytes, secondFactor }),
    createAccountRouter({ live, services: deps.operations, config }),
    createAccountSecondFactorRouter({ live, services: deps.operations, config, signIn }),
    // Passkeys: passwordless sign-in on the sign-in page, and the account page's passkeys (docs/accounts.md).
    createPasskeySignInRouter({ live, services: deps.operations, bodyLimitBytes: config.bodyLimitBytes, ...onLogin }),
    createAccountPasskeyRouter({ live, services: deps.operations, config }),
    createRevocationFeedRouter({
      services: deps.operations,
      verifier: deps.verifier,
      feedAudience: feedAudience(config.issuer),
      shutdown: deps.shutdown,
      maxStreamsPerClient: config.feedMaxStreamsPerClient,
      clockToleranceSeconds: config.clockToleranceSeconds,
    }),
    createAdminRouter({ config, logger: deps.logger, verifier: deps.verifier, operations: deps.operations }),
  ]) {
    app.use(router.routes());
  }

  // Resource servers introspect on every API call: the plain case is answered without the engine's pipeline.
  app.use(introspectionFastPath(createIntrospectionFastPath(live, deps.verifier), deps.metrics));

  const issuer = new URL(config.issuer);
  app.use(async (ctx) => {
    // RFC 8414 §3: the OAuth metadata document is the same document as OpenID discovery.
    if (ctx.path === '/.well-known/oauth-authorization-server') {
      ctx.req.url = ctx.req.url?.replace('/.well-known/oauth-authorization-server', '/.well-known/openid-configuration');
    }
    const req = await prepareEngineRequest(ctx, config.bodyLimitBytes);
    // What the engine records on the request it handles (route, client) is read back from ctx.req by the
    // request log and the metrics (oidc/observe.ts), so a replayed request takes the original's place.
    ctx.req = ctx.request.req = req;
    pinHost(req, issuer);
    // The key set is what resource servers cache: advertise how long (see KEY_PREPUBLISH in config.ts).
    if (ctx.path === '/jwks') ctx.res.setHeader('Cache-Control', `public, max-age=${config.keys.jwksMaxAgeSeconds}`);
    ctx.respond = false;
    await live.callback(req, ctx.res);
  });

  // Errors Koa itself raises outside middleware (e.g. client aborts) are logged, never thrown.
  app.on('error', (error: Error) => deps.logger.warn({ err: { message: error.message } }, 'koa error'));
  app.silent = true;
  return app;
}
