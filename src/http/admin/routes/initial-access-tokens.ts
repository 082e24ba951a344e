// Initial access tokens for dynamic client registration (RFC 7591 §3). The token is shown once, when made;
// afterwards it is known by its id (the SHA-256 of its value, which is all that is stored).
import { z } from 'zod';
import { runOperation } from '../../../services/operations.ts';
import { GRANT_TYPES } from '../../../domain/clients.ts';
import { defineRoute } from '../route.ts';
import { asPage, pageOf, pageQuery, plainText, timestamp } from '../schemas.ts';

const tags = ['initial access tokens'];

const rules = {
  max_uses: z.number().int().nullable().describe('Registrations it allows; null for no limit'),
  allowed_scopes: z.array(z.string()).nullable(),
  allowed_grant_types: z.array(z.string()).nullable(),
  expires_at: z.number().int().nullable().describe('Seconds since the epoch; null for never'),
};

const listed = z.object({ id: z.string(), uses: z.number().int(), ...rules, created_at: timestamp });

export const initialAccessTokenRoutes = [
  defineRoute({
    method: 'post',
    path: '/initial-access-tokens',
    scope: 'admin:registration:write',
    summary: 'Issue an initial access token',
    description: 'Needs REGISTRATION_POLICY=initial-access-token. The token is in this answer only.',
    tags,
    body: z.strictObject({
      expires_in: z.number().int().min(60).max(10 * 365 * 24 * 3600).optional().describe('Seconds until it expires'),
      max_uses: z.number().int().min(1).max(1_000_000).optional(),
      scopes: z.array(z.string().min(1).max(128)).max(100).optional().describe('The only scopes clients registered with it may have'),
      grant_types: z.array(z.enum(GRANT_TYPES)).max(GRANT_TYPES.length).optional().describe('The only grant types they may have'),
    }),
    response: z.object({ initial_access_token: z.string(), id: z.string(), ...rules }),
    status: 201,
    handler: ({ ops, body }) =>
      runOperation(ops, 'iat.create', { expiresIn: body.expires_in, maxUses: body.max_uses, scopes: body.scopes, grantTypes: body.grant_types }),
  }),
  defineRoute({
    method: 'get',
    path: '/initial-access-tokens',
    scope: 'admin:registration:read',
    summary: 'List initial access tokens',
    description: 'Never the token values.',
    tags,
    query: pageQuery,
    response: pageOf(listed),
    handler: async ({ ops, query }) => {
      const page = await runOperation(ops, 'iat.list', query);
      return asPage(page.initial_access_tokens, page);
    },
  }),
  defineRoute({
    method: 'delete',
    path: '/initial-access-tokens/{id}',
    scope: 'admin:registration:write',
    summary: 'Withdraw an initial access token',
    tags,
    params: z.strictObject({ id: plainText(128) }),
    response: z.object({ id: z.string(), deleted: z.boolean() }),
    handler: ({ ops, params }) => runOperation(ops, 'iat.delete', { id: params.id }),
  }),
];
