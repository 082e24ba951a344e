// The admin API under /admin/v1: every route of routes/ (and the OpenAPI document built from them), each
// request authenticated, parsed with the route's zod schemas and answered through service operations.
// Unknown paths and methods get the same JSON error shape (404, 405).
import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import type { Config } from '../../config.ts';
import type { Logger } from '../../logger.ts';
import type { ServiceContext } from '../../services/operations.ts';
import type { AccessTokenVerifier } from '../../domain/access-token-verifier.ts';
import { AppError, InvalidInput, NotFound } from '../../errors.ts';
import { adminAudience, authenticate, type AdminAuthDeps } from './auth.ts';
import { createDPoPGuard } from '../dpop-bound-tokens.ts';
import { adminBoundary } from './boundary.ts';
import { buildOpenApiDocument } from './openapi.ts';
import { parseInput, readJsonBody } from './request.ts';
import { requestLineProblem } from '../middleware/hostile-input.ts';
import { defineRoute, type AdminRoute } from './route.ts';
import { adminRoutes } from './routes/index.ts';

export const ADMIN_BASE_PATH = '/admin/v1';
const CATCH_ALL = '{/*rest}';

export interface AdminDeps {
  config: Config;
  logger: Logger;
  verifier: AccessTokenVerifier;
  operations: ServiceContext;
}

/** `/clients/{client_id}` → `/clients/:client_id` (path-to-regexp reads braces as optional groups). */
export const toRouterPath = (path: string) => path.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, ':$1');

function openApiRoute(document: () => unknown): AdminRoute {
  return defineRoute({
    method: 'get',
    path: '/openapi.json',
    scope: null,
    summary: 'This API described as OpenAPI 3.1',
    tags: ['meta'],
    response: z.record(z.string(), z.unknown()),
    handler: async () => document() as Record<string, unknown>,
  });
}

function handle(deps: AdminDeps, auth: AdminAuthDeps, route: AdminRoute): Middleware {
  return async (ctx: Context) => {
    const caller = route.scope ? await authenticate(ctx, auth, route.scope) : undefined;
    const params = route.params ? parseInput(route.params, { ...ctx.params }, 'path') : {};
    const query = route.query ? parseInput(route.query, { ...ctx.query }, 'query') : {};
    // What the schemas cannot see: percent-encoding that does not decode (Koa's parsers quietly substitute
    // U+FFFD), or a NUL in a part no schema reads. The same rule as the host's edge (hostile-input.ts).
    const malformed = requestLineProblem(ctx);
    if (malformed) throw new InvalidInput(400, malformed, []);
    const body = route.body ? parseInput(route.body, await readJsonBody(ctx, deps.config.bodyLimitBytes), 'body') : undefined;
    const result = await route.handler({ ops: deps.operations, params, query, body, caller });
    // The response schema is an allow-list too: nothing it does not document leaves (no secret by accident).
    const output = route.response.safeParse(result);
    if (!output.success) throw new Error(`admin ${route.method.toUpperCase()} ${route.path}: response does not match its schema: ${output.error.message}`);
    ctx.status = route.status;
    ctx.body = output.data;
  };
}

export function createAdminRouter(deps: AdminDeps, routes: readonly AdminRoute[] = adminRoutes): Router {
  const auth: AdminAuthDeps = { services: deps.operations, verifier: deps.verifier, audience: adminAudience(deps.config.issuer), dpop: createDPoPGuard(deps.config.clockToleranceSeconds) };
  const boundary = { services: deps.operations, logger: deps.logger, basePath: ADMIN_BASE_PATH };
  let document: unknown;
  const all: AdminRoute[] = [...routes, openApiRoute(() => (document ??= buildOpenApiDocument(all, { issuer: deps.config.issuer, basePath: ADMIN_BASE_PATH })))];

  const router = new Router({ prefix: ADMIN_BASE_PATH });
  for (const route of all) {
    router.register(toRouterPath(route.path), [route.method.toUpperCase()], [adminBoundary(boundary, route), handle(deps, auth, route)]);
  }
  // Reached only when no route above answered: a known path with another method (405), or nothing (404).
  router.all(CATCH_ALL, adminBoundary(boundary, undefined), (ctx: Context) => {
    const matched = ((ctx as Context & { matched?: Array<{ path: string; methods: string[] }> }).matched ?? []).filter((layer) => !layer.path.endsWith(CATCH_ALL));
    const allowed = [...new Set(matched.flatMap((layer) => layer.methods))];
    if (allowed.length) {
      ctx.set('Allow', allowed.join(', '));
      throw new AppError(405, 'method_not_allowed', `${ctx.method} is not allowed here (allowed: ${allowed.join(', ')})`);
    }
    throw new NotFound(`no admin API route ${ctx.path}`);
  });
  return router;
}

/** The method and path (router syntax, with prefix) of every route a router built here serves. */
export function servedRoutes(router: Router): Array<{ method: string; path: string }> {
  return router.stack
    .filter((layer) => layer.methods.length > 0 && !String(layer.path).endsWith(CATCH_ALL))
    .flatMap((layer) => layer.methods.filter((m) => m !== 'HEAD').map((method) => ({ method, path: String(layer.path) })));
}
