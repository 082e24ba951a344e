// Sessions: where people are signed in (single sign-on sessions). Ending one sends back-channel logout to the
// apps that took part in it. A session is named by its uid, never by its id (the cookie's bearer value).
import { z } from 'zod';
import { runOperation } from '../../../services/operations.ts';
import { defineRoute } from '../route.ts';
import { asPage, pageOf, pageQuery, plainText, timestamp } from '../schemas.ts';

const tags = ['sessions'];

export const session = z.object({
  uid: z.string(),
  user_id: z.string().nullable(),
  client_ids: z.array(z.string()).describe('Apps signed in through this session'),
  login_at: timestamp.nullable(),
  created_at: timestamp,
  expires_at: timestamp.nullable(),
});

export const sessionRoutes = [
  defineRoute({
    method: 'get',
    path: '/sessions',
    scope: 'admin:sessions:read',
    summary: 'List sessions',
    tags,
    query: pageQuery.extend({ user: plainText(256).optional().describe('Only this user\'s (id or username)') }),
    response: pageOf(session),
    handler: async ({ ops, query }) => {
      const page = await runOperation(ops, 'session.list', query);
      return asPage(page.sessions, page);
    },
  }),
  defineRoute({
    method: 'delete',
    path: '/sessions/{session_id}',
    scope: 'admin:sessions:write',
    summary: 'End a session',
    description: 'The session\'s uid; its apps receive back-channel logout.',
    tags,
    params: z.strictObject({ session_id: plainText(256).describe('The session\'s uid') }),
    response: z.object({ uid: z.string(), user_id: z.string().nullable(), ended: z.boolean(), logout_notifications: z.number().int() }),
    handler: ({ ops, params }) => runOperation(ops, 'session.end', { uid: params.session_id }),
  }),
];
