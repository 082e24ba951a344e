// Upstream identity providers (sign in with Google, GitHub or any OpenID Connect provider). The client
// secret is write-only: sent on create (and on update to replace it), never returned.
import { z } from 'zod';
import { runOperation } from '../../../services/operations.ts';
import { PROVISIONING, UPSTREAM_KINDS, type UpstreamInput } from '../../../domain/upstreams.ts';
import { defineRoute } from '../route.ts';
import { plainText, timestamp, uri } from '../schemas.ts';
import { requireScope } from '../privilege.ts';

const tags = ['upstreams'];

const settings = {
  display_name: z.string().min(1).max(100).describe('Shown on the sign-in button'),
  issuer: uri.describe('OpenID Connect issuer (kind oidc only; discovery from it)'),
  client_id: z.string().min(1).max(512),
  client_secret: z.string().min(1).max(1024).describe('Write-only'),
  scopes: z.string().max(2000).describe('Space-separated; default per kind'),
  claim_mapping: z.partialRecord(z.enum(['username', 'email', 'name']), z.string().min(1).max(100)).describe('Local field → upstream claim'),
  provisioning: z.enum(PROVISIONING).describe('jit: create an account on first sign-in; link: the person links an existing account with its password'),
  default_roles: z.array(z.string().min(1).max(64)).max(50).describe('Roles given to accounts created just in time; setting any also needs admin:users:write'),
  enabled: z.boolean(),
};

const createBody = z.strictObject({ id: z.string().min(1).max(63).describe('Lower-case slug; part of the callback URL'), kind: z.enum(UPSTREAM_KINDS), ...settings }).partial({
  issuer: true,
  scopes: true,
  claim_mapping: true,
  provisioning: true,
  default_roles: true,
  enabled: true,
  display_name: true,
});
const updateBody = z.strictObject(settings).partial();

const upstream = z.object({
  id: z.string(),
  kind: z.enum(UPSTREAM_KINDS),
  display_name: z.string(),
  issuer: z.string().nullable(),
  client_id: z.string(),
  scopes: z.string(),
  claim_mapping: z.record(z.string(), z.string()),
  provisioning: z.enum(PROVISIONING),
  default_roles: z.array(z.string()),
  enabled: z.boolean(),
  created_at: timestamp,
});
const created = upstream.extend({ redirect_uri: z.string().describe('Register this callback URL at the upstream') });
const params = z.strictObject({ id: plainText(63) });

type Wire = Partial<z.output<typeof createBody>>;
const toInput = (id: string, body: Wire): UpstreamInput => ({
  id,
  kind: body.kind,
  displayName: body.display_name,
  issuer: body.issuer,
  clientId: body.client_id,
  clientSecret: body.client_secret,
  scopes: body.scopes,
  claimMapping: body.claim_mapping as Record<string, string> | undefined,
  provisioning: body.provisioning,
  defaultRoles: body.default_roles,
  enabled: body.enabled,
});

export const upstreamRoutes = [
  defineRoute({
    method: 'get',
    path: '/upstreams',
    scope: 'admin:upstreams:read',
    summary: 'List upstream identity providers',
    tags,
    response: z.object({ upstreams: z.array(upstream) }),
    handler: ({ ops }) => runOperation(ops, 'upstream.list', undefined),
  }),
  defineRoute({
    method: 'post',
    path: '/upstreams',
    scope: 'admin:upstreams:write',
    summary: 'Add an upstream identity provider',
    tags,
    body: createBody,
    response: created,
    status: 201,
    handler: ({ ops, body, caller }) => {
      if (body.default_roles?.length) requireScope(caller, 'admin:users:write', 'giving accounts default roles');
      return runOperation(ops, 'upstream.create', toInput(body.id, body));
    },
  }),
  defineRoute({
    method: 'get',
    path: '/upstreams/{id}',
    scope: 'admin:upstreams:read',
    summary: 'Read an upstream identity provider',
    tags,
    params,
    response: upstream,
    handler: ({ ops, params: p }) => runOperation(ops, 'upstream.get', { id: p.id }),
  }),
  defineRoute({
    method: 'patch',
    path: '/upstreams/{id}',
    scope: 'admin:upstreams:write',
    summary: 'Change an upstream identity provider',
    tags,
    params,
    body: updateBody,
    response: upstream,
    handler: ({ ops, params: p, body, caller }) => {
      if (body.default_roles?.length) requireScope(caller, 'admin:users:write', 'giving accounts default roles');
      return runOperation(ops, 'upstream.update', toInput(p.id, body));
    },
  }),
  defineRoute({
    method: 'delete',
    path: '/upstreams/{id}',
    scope: 'admin:upstreams:write',
    summary: 'Remove an upstream identity provider',
    description: 'Identities linked through it are unlinked; the accounts stay.',
    tags,
    params,
    response: z.object({ id: z.string(), deleted: z.boolean() }),
    handler: ({ ops, params: p }) => runOperation(ops, 'upstream.delete', { id: p.id }),
  }),
];
