// The audit trail, newest first: sign-ins, consent, revocations, account changes, admin API calls.
import { z } from 'zod';
import { runOperation } from '../../../services/operations.ts';
import { defineRoute } from '../route.ts';
import { asPage, pageOf, pageQuery, plainText, timestamp } from '../schemas.ts';

const event = z.object({
  id: z.string(),
  at: timestamp,
  type: z.string(),
  account_id: z.string().nullable(),
  client_id: z.string().nullable(),
  ip: z.string().nullable(),
  user_agent: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
});

const instant = z.iso.datetime({ offset: true });

export const auditEventRoutes = [
  defineRoute({
    method: 'get',
    path: '/audit-events',
    scope: 'admin:audit:read',
    summary: 'List audit events',
    description: 'Newest first. Filters combine.',
    tags: ['audit'],
    query: pageQuery.extend({
      since: instant.optional().describe('Only events at or after this ISO 8601 date-time'),
      until: instant.optional().describe('Only events before this ISO 8601 date-time'),
      actor: plainText(256).optional().describe('A client id or user id: events by or about it'),
      type: plainText(128).optional().describe('e.g. login.success, grant.revoked, admin.request'),
    }),
    response: pageOf(event),
    handler: async ({ ops, query }) => {
      const page = await runOperation(ops, 'audit.list', query);
      return asPage(page.events, page);
    },
  }),
];
