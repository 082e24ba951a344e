// Clients: RFC 7591 metadata names on the wire, plus first_party and default_resource. Every change goes
// through the same rules as the CLI and dynamic registration (domain/clients.ts). A secret is shown once,
// in the answer to POST; it is never part of a client read back.
import { z } from 'zod';
import { runOperation } from '../../../services/operations.ts';
import { AUTH_METHODS, GRANT_TYPES, type ClientChanges, type NewClient } from '../../../domain/clients.ts';
import { defineRoute } from '../route.ts';
import { asPage, pageOf, pageQuery, plainText, timestamp, uri, uriList } from '../schemas.ts';
import { requireHoldsScopes } from '../privilege.ts';
import type { Caller } from '../route.ts';
import type { ServiceContext } from '../../../services/operations.ts';

const tags = ['clients'];
const jwks = z.object({ keys: z.array(z.record(z.string(), z.unknown())).max(20) }).describe('JSON Web Key Set (public keys)');

const clientFields = {
  client_name: z.string().min(1).max(200),
  redirect_uris: uriList,
  post_logout_redirect_uris: uriList,
  grant_types: z.array(z.enum(GRANT_TYPES)).min(1).max(GRANT_TYPES.length),
  scope: z.string().max(1024).describe('Space-separated scopes the client may ask for'),
  token_endpoint_auth_method: z.enum(AUTH_METHODS),
  jwks_uri: uri,
  jwks,
  backchannel_logout_uri: uri,
  logo_uri: uri,
  policy_uri: uri,
  tos_uri: uri,
  client_uri: uri,
  first_party: z.boolean().describe('First-party apps skip the consent page'),
  default_resource: uri.describe('Resource (audience) used when a request names none (RFC 8707)'),
  dpop_bound_access_tokens: z.boolean().describe('RFC 9449 §5.2: every token request must carry a DPoP proof; every access token is bound to its key'),
  token_exchange_audiences: z.array(uri).max(20).describe('Token exchange (RFC 8693): the APIs this client may exchange tokens into'),
  token_exchange_impersonation: z.boolean().describe('Token exchange without actor_token (no act claim); off by default'),
  require_mfa: z.boolean().describe('Everyone signing in to this client needs a second factor (tessera_require_mfa); off by default'),
};

const createBody = z.strictObject(clientFields).partial().required({ client_name: true });

/** Every field optional; null removes an optional one (client_name cannot be removed). */
const updateBody = z.strictObject({
  client_name: clientFields.client_name.optional(),
  redirect_uris: clientFields.redirect_uris.nullable().optional(),
  post_logout_redirect_uris: clientFields.post_logout_redirect_uris.nullable().optional(),
  grant_types: clientFields.grant_types.nullable().optional(),
  scope: clientFields.scope.nullable().optional(),
  token_endpoint_auth_method: clientFields.token_endpoint_auth_method.nullable().optional(),
  jwks_uri: clientFields.jwks_uri.nullable().optional(),
  jwks: clientFields.jwks.nullable().optional(),
  backchannel_logout_uri: clientFields.backchannel_logout_uri.nullable().optional(),
  logo_uri: clientFields.logo_uri.nullable().optional(),
  policy_uri: clientFields.policy_uri.nullable().optional(),
  tos_uri: clientFields.tos_uri.nullable().optional(),
  client_uri: clientFields.client_uri.nullable().optional(),
  first_party: clientFields.first_party.nullable().optional(),
  default_resource: clientFields.default_resource.nullable().optional(),
  dpop_bound_access_tokens: clientFields.dpop_bound_access_tokens.nullable().optional(),
  token_exchange_audiences: clientFields.token_exchange_audiences.nullable().optional(),
  token_exchange_impersonation: clientFields.token_exchange_impersonation.nullable().optional(),
  require_mfa: clientFields.require_mfa.nullable().optional(),
});

const client = z.object({
  client_id: z.string(),
  client_name: z.string().optional(),
  client_id_issued_at: z.number().optional(),
  redirect_uris: z.array(z.string()).optional(),
  post_logout_redirect_uris: z.array(z.string()).optional(),
  grant_types: z.array(z.string()).optional(),
  response_types: z.array(z.string()).optional(),
  scope: z.string().optional(),
  token_endpoint_auth_method: z.string().optional(),
  jwks_uri: z.string().optional(),
  jwks: jwks.optional(),
  backchannel_logout_uri: z.string().optional(),
  backchannel_logout_session_required: z.boolean().optional(),
  logo_uri: z.string().optional(),
  policy_uri: z.string().optional(),
  tos_uri: z.string().optional(),
  client_uri: z.string().optional(),
  client_secret_expires_at: z.number().optional(),
  dpop_bound_access_tokens: z.boolean().optional(),
  first_party: z.boolean(),
  default_resource: z.string().nullable(),
  introspects: z.string().nullable().describe('For a resource server\'s own client: the API it introspects for'),
  token_exchange_audiences: z.array(z.string()),
  token_exchange_impersonation: z.boolean(),
  require_mfa: z.boolean(),
  disabled: z.boolean(),
  created_at: timestamp,
});

const created = client.extend({ client_secret: z.string().optional().describe('Shown this once; absent for clients that use no secret') });
const clientParams = z.strictObject({ client_id: plainText(256) });
const changed = z.object({ client_id: z.string(), disabled: z.boolean().optional(), deleted: z.boolean().optional() });
const rotateSecretBody = z.strictObject({
  grace_seconds: z
    .number()
    .int()
    .min(0)
    .max(90 * 24 * 3600)
    .optional()
    .describe('How long the previous secret keeps working (default CLIENT_SECRET_GRACE); 0 stops it at once'),
});
const rotatedSecret = z.object({
  client_id: z.string(),
  client_secret: z.string().describe('Shown this once'),
  previous_secret_expires_at: z.number().nullable().describe('Seconds since the epoch; null when the previous secret stopped at once'),
});

type Wire = z.output<typeof updateBody>;
const WIRE_TO_INPUT: Array<[keyof Wire, keyof NewClient]> = [
  ['client_name', 'name'],
  ['redirect_uris', 'redirectUris'],
  ['post_logout_redirect_uris', 'postLogoutRedirectUris'],
  ['grant_types', 'grantTypes'],
  ['scope', 'scope'],
  ['token_endpoint_auth_method', 'authMethod'],
  ['jwks_uri', 'jwksUri'],
  ['jwks', 'jwks'],
  ['backchannel_logout_uri', 'backchannelLogoutUri'],
  ['logo_uri', 'logoUri'],
  ['policy_uri', 'policyUri'],
  ['tos_uri', 'tosUri'],
  ['client_uri', 'clientUri'],
  ['first_party', 'firstParty'],
  ['default_resource', 'defaultResource'],
  ['dpop_bound_access_tokens', 'requireDpop'],
  ['token_exchange_audiences', 'tokenExchangeAudiences'],
  ['token_exchange_impersonation', 'allowImpersonation'],
  ['require_mfa', 'requireMfa'],
];

/** A client that carries admin scopes is changed only by a caller that holds them (privilege.ts). */
async function guardExisting(ops: ServiceContext, caller: Caller | undefined, clientId: string, action: string): Promise<void> {
  const current = await runOperation(ops, 'client.get', { clientId });
  requireHoldsScopes(caller, current.scope, action);
}

/** RFC 7591 names → the operations' camelCase input; fields not sent stay absent. */
function toInput(body: Wire): ClientChanges {
  const input: Record<string, unknown> = {};
  for (const [wire, name] of WIRE_TO_INPUT) if (body[wire] !== undefined) input[name] = body[wire];
  return input as ClientChanges;
}

export const clientRoutes = [
  defineRoute({
    method: 'get',
    path: '/clients',
    scope: 'admin:clients:read',
    summary: 'List clients',
    tags,
    query: pageQuery,
    response: pageOf(client),
    handler: async ({ ops, query }) => {
      const page = await runOperation(ops, 'client.list', query);
      return asPage(page.clients, page);
    },
  }),
  defineRoute({
    method: 'post',
    path: '/clients',
    scope: 'admin:clients:write',
    summary: 'Register a client',
    description: 'Without grant_types: authorization_code and refresh_token when redirect_uris are given, else client_credentials.',
    tags,
    body: createBody,
    response: created,
    status: 201,
    handler: async ({ ops, body, caller }) => {
      requireHoldsScopes(caller, body.scope, 'registering');
      const metadata = await runOperation(ops, 'client.create', toInput(body) as NewClient);
      const shown = await runOperation(ops, 'client.get', { clientId: metadata.client_id });
      return { ...shown, ...(metadata.client_secret ? { client_secret: metadata.client_secret } : {}) };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/clients/{client_id}',
    scope: 'admin:clients:read',
    summary: 'Read a client',
    tags,
    params: clientParams,
    response: client,
    handler: ({ ops, params }) => runOperation(ops, 'client.get', { clientId: params.client_id }),
  }),
  defineRoute({
    method: 'patch',
    path: '/clients/{client_id}',
    scope: 'admin:clients:write',
    summary: 'Change a client',
    description: 'Only the fields sent change; null removes an optional field. The result must pass the same rules as a new client.',
    tags,
    params: clientParams,
    body: updateBody,
    response: client,
    handler: async ({ ops, params, body, caller }) => {
      await guardExisting(ops, caller, params.client_id, 'changing');
      requireHoldsScopes(caller, body.scope, 'giving');
      return runOperation(ops, 'client.update', { clientId: params.client_id, ...toInput(body) });
    },
  }),
  defineRoute({
    method: 'delete',
    path: '/clients/{client_id}',
    scope: 'admin:clients:write',
    summary: 'Delete a client',
    description: 'Revokes every grant and token of the client first.',
    tags,
    params: clientParams,
    response: changed,
    handler: async ({ ops, params, caller }) => {
      await guardExisting(ops, caller, params.client_id, 'deleting');
      return runOperation(ops, 'client.delete', { clientId: params.client_id });
    },
  }),
  defineRoute({
    method: 'post',
    path: '/clients/{client_id}/disable',
    scope: 'admin:clients:write',
    summary: 'Disable a client',
    description: 'Revokes every grant and token of the client; it can no longer authenticate.',
    tags,
    params: clientParams,
    response: changed,
    handler: async ({ ops, params, caller }) => {
      await guardExisting(ops, caller, params.client_id, 'disabling');
      return runOperation(ops, 'client.disable', { clientId: params.client_id });
    },
  }),
  defineRoute({
    method: 'post',
    path: '/clients/{client_id}/secret',
    scope: 'admin:clients:write',
    summary: "Rotate a client's secret",
    description: 'A new 256-bit secret, shown once. The previous one keeps working for the grace period, then stops; at most two work at a time.',
    tags,
    params: clientParams,
    body: rotateSecretBody,
    response: rotatedSecret,
    handler: async ({ ops, params, body, caller }) => {
      await guardExisting(ops, caller, params.client_id, 'taking the secret of');
      return runOperation(ops, 'client.rotate-secret', { clientId: params.client_id, graceSeconds: body.grace_seconds });
    },
  }),
  defineRoute({
    method: 'post',
    path: '/clients/{client_id}/enable',
    scope: 'admin:clients:write',
    summary: 'Enable a client again',
    tags,
    params: clientParams,
    response: changed,
    handler: async ({ ops, params, caller }) => {
      await guardExisting(ops, caller, params.client_id, 'enabling');
      return runOperation(ops, 'client.enable', { clientId: params.client_id });
    },
  }),
];
