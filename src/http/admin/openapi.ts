// The OpenAPI 3.1 document of the admin API, generated from the routes' own zod schemas: request schemas as
// the input they accept, response schemas as the output they produce (zod's toJSONSchema, JSON Schema
// 2020-12, which is OpenAPI 3.1's schema dialect).
import { z } from 'zod';
import { ADMIN_ALL, ADMIN_SCOPES, SCOPE_DESCRIPTIONS, adminAudience, type AdminScope } from '../../domain/admin-scopes.ts';
import type { AdminRoute } from './route.ts';
import { errorBody } from './schemas.ts';

export const SECURITY_SCHEME = 'adminOAuth';

type JsonSchema = Record<string, unknown> & { properties?: Record<string, JsonSchema>; required?: string[]; description?: string };

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, target: 'draft-2020-12', unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

function parameters(schema: z.ZodType | undefined, location: 'path' | 'query') {
  if (!schema) return [];
  const object = jsonSchema(schema, 'input');
  return Object.entries(object.properties ?? {}).map(([name, s]) => ({
    name,
    in: location,
    required: location === 'path' || (object.required ?? []).includes(name),
    ...(s.description ? { description: s.description } : {}),
    schema: s,
  }));
}

const errorRef = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });

function errorResponses(route: AdminRoute) {
  const responses: Record<string, unknown> = {};
  if (route.query || route.params) responses['400'] = errorRef('Malformed query or path (details lists the problems)');
  if (route.body) responses['400'] = errorRef('Malformed JSON body or query');
  if (route.scope) {
    responses['401'] = errorRef('Missing, invalid, expired or revoked access token');
    responses['403'] = errorRef('The token lacks the scope this call needs');
  }
  if (route.params || route.query) responses['404'] = errorRef('No such item (or no such user or client named in the query)');
  if (route.method !== 'get') responses['409'] = errorRef('Conflicts with what exists (e.g. a taken username)');
  if (route.body) {
    responses['413'] = errorRef('Body too large');
    responses['415'] = errorRef('Body is not application/json');
  }
  if (route.method !== 'get' || route.query) responses['422'] = errorRef('Well-formed but invalid input (details lists the problems)');
  return responses;
}

/** The scopes that allow a route: its own, the write scope of its area for a read, and admin:*. */
function allowedBy(scope: AdminScope): AdminScope[] {
  const write = scope.endsWith(':read') ? [scope.replace(/:read$/, ':write') as AdminScope] : [];
  return [...new Set<AdminScope>([scope, ...write, ADMIN_ALL])];
}

/** `post /clients/{client_id}/disable` → `postClientsByClientIdDisable`. */
export function operationId(route: AdminRoute): string {
  const words = route.path
    .split('/')
    .filter(Boolean)
    .map((segment) => (segment.startsWith('{') ? `by_${segment.slice(1, -1)}` : segment))
    .flatMap((s) => s.split(/[-_]/));
  return route.method + words.map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
}

export function buildOpenApiDocument(routes: readonly AdminRoute[], options: { issuer: string; basePath: string }) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const scopeNote = route.scope ? `Needs one of the scopes ${allowedBy(route.scope).map((s) => `\`${s}\``).join(', ')}.` : 'Public: no token needed.';
    (paths[route.path] ??= {})[route.method] = {
      operationId: operationId(route),
      summary: route.summary,
      description: [route.description, scopeNote].filter(Boolean).join('\n\n'),
      tags: route.tags,
      parameters: [...parameters(route.params, 'path'), ...parameters(route.query, 'query')],
      ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(route.body, 'input') } } } } : {}),
      responses: {
        [String(route.status)]: { description: route.summary, content: { 'application/json': { schema: jsonSchema(route.response, 'output') } } },
        ...errorResponses(route),
      },
      security: route.scope ? [{ [SECURITY_SCHEME]: [route.scope] }] : [],
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tessera admin API',
      version: '1',
      description:
        'Manage clients, users, resource servers, grants, sessions, signing keys, registration tokens and the audit trail. ' +
        'Authenticate with an access token for the admin audience obtained by client_credentials (see `tessera admin bootstrap`). ' +
        'Lists are paginated with ?limit= and ?cursor=; errors are `{error, error_description, details}`.',
    },
    servers: [{ url: `${options.issuer}${options.basePath}` }],
    tags: [...new Set(routes.flatMap((r) => r.tags))].map((name) => ({ name })),
    paths,
    components: {
      schemas: { Error: jsonSchema(errorBody, 'output') },
      securitySchemes: {
        [SECURITY_SCHEME]: {
          type: 'oauth2',
          description: `client_credentials with resource=${adminAudience(options.issuer)} (the default resource of clients made by \`tessera admin bootstrap\`).`,
          flows: { clientCredentials: { tokenUrl: `${options.issuer}/token`, scopes: Object.fromEntries(ADMIN_SCOPES.map((s) => [s, SCOPE_DESCRIPTIONS[s]])) } },
        },
      },
    },
  };
}
