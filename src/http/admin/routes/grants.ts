// Grants: what a person allowed an app (the engine's Grants). Revoking one is a revocation like any other:
// its tokens stop at introspection at once and the revocation feed announces it.
import { z } from 'zod';
import { runOperation } from '../../../services/operations.ts';
import { defineRoute } from '../route.ts';
import { asPage, pageOf, pageQuery, plainText, timestamp } from '../schemas.ts';

const tags = ['grants'];

const grant = z.object({
  grant_id: z.string(),
  user_id: z.string().nullable(),
  client_id: z.string(),
  client_name: z.string().nullable(),
  scopes: z.array(z.string()),
  resources: z.array(z.string()).describe('Resource servers (audiences) the grant covers'),
  created_at: timestamp,
  expires_at: timestamp.nullable(),
});

export const grantRoutes = [
  defineRoute({
    method: 'get',
    path: '/grants',
    scope: 'admin:grants:read',
    summary: 'List a user\'s or a client\'s grants',
    description: 'Give user, client, or both.',
    tags,
    query: pageQuery.extend({
      user: plainText(256).optional().describe('User id or username'),
      client: plainText(256).optional().describe('Client id'),
    }),
    response: pageOf(grant),
    handler: async ({ ops, query }) => {
      const page = await runOperation(ops, 'grant.list', query);
      return asPage(page.grants, page);
    },
  }),
  defineRoute({
    method: 'delete',
    path: '/grants/{grant_id}',
    scope: 'admin:grants:write',
    summary: 'Revoke a grant',
    description: 'Deletes the grant and every token issued from it.',
    tags,
    params: z.strictObject({ grant_id: plainText(256) }),
    response: z.object({ grant_id: z.string(), revoked: z.boolean() }),
    handler: ({ ops, params }) => runOperation(ops, 'grant.revoke', { grantId: params.grant_id }),
  }),
];
