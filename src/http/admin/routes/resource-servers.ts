// Resource servers: the APIs that accept our access tokens (RFC 8707 audiences). `{identifier}` is the
// URL-encoded identifier. Creating one also creates its introspection client, whose secret is shown once.
import { z } from 'zod';
import { runOperation } from '../../../services/operations.ts';
import { SIGNING_ALGORITHMS } from '../../../domain/keys.ts';
import { defineRoute } from '../route.ts';
import { asPage, pageOf, pageQuery, timestamp, uri } from '../schemas.ts';

const tags = ['resource servers'];

const scopeDefinition = z.strictObject({ name: z.string().min(1).max(128), description: z.string().max(200).optional().describe('Shown on the consent page') });

const settings = {
  name: z.string().min(1).max(200),
  scopes: z.array(scopeDefinition).max(100),
  format: z.enum(['jwt', 'opaque']).describe('Access token format'),
  ttl: z.number().int().min(30).max(86400).describe('Access token lifetime in seconds'),
  alg: z.enum(SIGNING_ALGORITHMS).describe('JWT signing algorithm'),
};

const resourceServer = z.object({
  identifier: z.string(),
  name: z.string(),
  scopes: z.array(z.object({ name: z.string(), description: z.string().optional() })),
  format: z.enum(['jwt', 'opaque']),
  ttl: z.number().int(),
  alg: z.string(),
  created_at: timestamp,
});

const identifierParams = z.strictObject({ identifier: uri.describe('The resource server\'s identifier, URL-encoded') });

export const resourceServerRoutes = [
  defineRoute({
    method: 'get',
    path: '/resource-servers',
    scope: 'admin:resources:read',
    summary: 'List resource servers',
    tags,
    query: pageQuery,
    response: pageOf(resourceServer),
    handler: async ({ ops, query }) => {
      const page = await runOperation(ops, 'resource.list', query);
      return asPage(page.resources, page);
    },
  }),
  defineRoute({
    method: 'post',
    path: '/resource-servers',
    scope: 'admin:resources:write',
    summary: 'Register a resource server',
    description: 'Also registers its introspection client (credentials in this answer only).',
    tags,
    body: z.strictObject({ identifier: uri.describe('Absolute URI, no fragment (RFC 8707 §2)'), ...z.object(settings).partial().shape }),
    response: resourceServer.extend({ introspection_client: z.object({ client_id: z.string(), client_secret: z.string() }) }),
    status: 201,
    handler: ({ ops, body }) => runOperation(ops, 'resource.create', body),
  }),
  defineRoute({
    method: 'get',
    path: '/resource-servers/{identifier}',
    scope: 'admin:resources:read',
    summary: 'Read a resource server',
    tags,
    params: identifierParams,
    response: resourceServer,
    handler: ({ ops, params }) => runOperation(ops, 'resource.get', { identifier: params.identifier }),
  }),
  defineRoute({
    method: 'patch',
    path: '/resource-servers/{identifier}',
    scope: 'admin:resources:write',
    summary: 'Change a resource server',
    description: 'Only the fields sent change; scopes, when sent, replace the list.',
    tags,
    params: identifierParams,
    body: z.strictObject(settings).partial(),
    response: resourceServer,
    handler: ({ ops, params, body }) => runOperation(ops, 'resource.update', { identifier: params.identifier, ...body }),
  }),
  defineRoute({
    method: 'delete',
    path: '/resource-servers/{identifier}',
    scope: 'admin:resources:write',
    summary: 'Delete a resource server',
    description: 'Its introspection client is deleted too (its tokens revoked).',
    tags,
    params: identifierParams,
    response: z.object({ identifier: z.string(), deleted: z.boolean() }),
    handler: ({ ops, params }) => runOperation(ops, 'resource.delete', { identifier: params.identifier }),
  }),
];
