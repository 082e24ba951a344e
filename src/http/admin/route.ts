// One admin API route: its method and OpenAPI-style path, the scope it needs, the zod schemas of its input
// and output, and a handler that calls service operations (services/operations.ts). The same schemas validate
// requests (router.ts) and document them (openapi.ts), so the two cannot drift.
import type { z } from 'zod';
import type { ServiceContext } from '../../services/operations.ts';
import type { AdminScope } from '../../domain/admin-scopes.ts';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** Who called: the client of the access token, and the scopes the token carries. */
export interface Caller {
  clientId: string;
  scopes: string[];
}

export interface HandlerInput<P, Q, B> {
  ops: ServiceContext;
  params: P;
  query: Q;
  body: B;
  /** Undefined only on public routes (scope null). */
  caller: Caller | undefined;
}

type Empty = z.ZodObject<Record<string, never>>;

export interface RouteSpec<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType, R extends z.ZodType> {
  method: HttpMethod;
  /** Relative to /admin/v1, OpenAPI style: `/clients/{client_id}`. */
  path: string;
  /** The scope a token needs (write implies read, `admin:*` everything); null for a public route. */
  scope: AdminScope | null;
  summary: string;
  description?: string;
  tags: string[];
  /** Required when the path has `{parameters}`: an object with exactly those keys. */
  params?: P;
  query?: Q;
  body?: B;
  response: R;
  /** Success status; 200 unless given. */
  status?: number;
  handler(input: HandlerInput<z.output<P>, z.output<Q>, z.output<B>>): Promise<z.input<R>>;
}

/** A route with its types erased, as the router and the OpenAPI generator see it. */
export interface AdminRoute {
  method: HttpMethod;
  path: string;
  scope: AdminScope | null;
  summary: string;
  description: string | undefined;
  tags: string[];
  params: z.ZodType | undefined;
  query: z.ZodType | undefined;
  body: z.ZodType | undefined;
  response: z.ZodType;
  status: number;
  handler(input: HandlerInput<unknown, unknown, unknown>): Promise<unknown>;
}

export const pathParameterNames = (path: string) => [...path.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]!);

export function defineRoute<P extends z.ZodType = Empty, Q extends z.ZodType = Empty, B extends z.ZodType = Empty, R extends z.ZodType = z.ZodType>(
  spec: RouteSpec<P, Q, B, R>,
): AdminRoute {
  const declared = spec.params && 'shape' in spec.params ? Object.keys((spec.params as unknown as z.ZodObject).shape).sort() : [];
  const inPath = pathParameterNames(spec.path).sort();
  // Caught when the module loads (and so by every test): a path parameter without a schema, or the reverse.
  if (declared.join() !== inPath.join()) throw new Error(`admin route ${spec.method.toUpperCase()} ${spec.path}: params schema declares [${declared}] but the path has [${inPath}]`);
  return {
    method: spec.method,
    path: spec.path,
    scope: spec.scope,
    summary: spec.summary,
    description: spec.description,
    tags: spec.tags,
    params: spec.params,
    query: spec.query,
    body: spec.body,
    response: spec.response,
    status: spec.status ?? 200,
    handler: spec.handler as AdminRoute['handler'],
  };
}
