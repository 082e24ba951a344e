// Users (accounts). `{user}` is a user id or a username. Disabling, deleting and setting a password end the
// person's sessions (with back-channel logout) and revoke their grants, as the CLI's commands do.
import { z } from 'zod';
import { runOperation } from '../../../services/operations.ts';
import { defineRoute } from '../route.ts';
import { asPage, pageOf, pageQuery, plainText, timestamp } from '../schemas.ts';
import { session } from './sessions.ts';

const tags = ['users'];

const user = z.object({
  id: z.string(),
  username: z.string(),
  email: z.string().nullable(),
  email_verified: z.boolean(),
  name: z.string().nullable(),
  disabled: z.boolean(),
  roles: z.array(z.string()),
  groups: z.array(z.string()),
  created_at: timestamp,
});

const userEnded = user.extend({
  sessions_ended: z.number().int(),
  logout_notifications: z.number().int().describe('Back-channel logout notifications delivered'),
});

const userParams = z.strictObject({ user: plainText(256).describe('User id or username') });
const username = z.string().min(1).max(128);
const password = z.string().min(1).max(1024);

export const userRoutes = [
  defineRoute({
    method: 'get',
    path: '/users',
    scope: 'admin:users:read',
    summary: 'List users',
    tags,
    query: pageQuery,
    response: pageOf(user),
    handler: async ({ ops, query }) => {
      const page = await runOperation(ops, 'user.list', query);
      return asPage(page.users, page);
    },
  }),
  defineRoute({
    method: 'post',
    path: '/users',
    scope: 'admin:users:write',
    summary: 'Create a user',
    tags,
    body: z.strictObject({ username, password, email: z.string().max(320).optional(), name: z.string().max(200).optional() }),
    response: user,
    status: 201,
    handler: ({ ops, body }) => runOperation(ops, 'user.create', body),
  }),
  defineRoute({
    method: 'get',
    path: '/users/{user}',
    scope: 'admin:users:read',
    summary: 'Read a user',
    tags,
    params: userParams,
    response: user,
    handler: ({ ops, params }) => runOperation(ops, 'user.show', { user: params.user }),
  }),
  defineRoute({
    method: 'patch',
    path: '/users/{user}',
    scope: 'admin:users:write',
    summary: 'Change a user\'s username, email or name',
    description: 'Only the fields sent change; null clears email or name.',
    tags,
    params: userParams,
    body: z.strictObject({
      username: username.optional(),
      email: z.string().max(320).nullable().optional(),
      name: z.string().max(200).nullable().optional(),
      email_verified: z.boolean().optional(),
    }),
    response: user,
    handler: ({ ops, params, body }) =>
      runOperation(ops, 'user.update', { user: params.user, username: body.username, email: body.email, name: body.name, emailVerified: body.email_verified }),
  }),
  defineRoute({
    method: 'delete',
    path: '/users/{user}',
    scope: 'admin:users:write',
    summary: 'Delete a user',
    description: 'Ends their sessions (back-channel logout) and revokes their grants first.',
    tags,
    params: userParams,
    response: z.object({
      id: z.string(),
      username: z.string(),
      deleted: z.boolean(),
      sessions_ended: z.number().int(),
      logout_notifications: z.number().int(),
    }),
    handler: ({ ops, params }) => runOperation(ops, 'user.delete', { user: params.user }),
  }),
  defineRoute({
    method: 'post',
    path: '/users/{user}/disable',
    scope: 'admin:users:write',
    summary: 'Disable a user',
    description: 'Ends their sessions (back-channel logout) and revokes their grants; they can no longer sign in.',
    tags,
    params: userParams,
    response: userEnded,
    handler: ({ ops, params }) => runOperation(ops, 'user.disable', { user: params.user }),
  }),
  defineRoute({
    method: 'post',
    path: '/users/{user}/enable',
    scope: 'admin:users:write',
    summary: 'Enable a user again',
    tags,
    params: userParams,
    response: user,
    handler: ({ ops, params }) => runOperation(ops, 'user.enable', { user: params.user }),
  }),
  defineRoute({
    method: 'put',
    path: '/users/{user}/password',
    scope: 'admin:users:write',
    summary: 'Set a user\'s password',
    description: 'Also ends their sessions (back-channel logout) and revokes their grants.',
    tags,
    params: userParams,
    body: z.strictObject({ password }),
    response: userEnded,
    handler: ({ ops, params, body }) => runOperation(ops, 'user.set-password', { user: params.user, password: body.password }),
  }),
  defineRoute({
    method: 'post',
    path: '/users/{user}/roles',
    scope: 'admin:users:write',
    summary: 'Add and remove roles',
    tags,
    params: userParams,
    body: z.strictObject({ add: z.array(z.string().max(64)).max(50).optional(), remove: z.array(z.string().max(64)).max(50).optional() }),
    response: user,
    handler: ({ ops, params, body }) => runOperation(ops, 'user.change-roles', { user: params.user, add: body.add, remove: body.remove }),
  }),
  defineRoute({
    method: 'get',
    path: '/users/{user}/sessions',
    scope: 'admin:sessions:read',
    summary: 'List a user\'s sessions',
    tags: [...tags, 'sessions'],
    params: userParams,
    query: pageQuery,
    response: pageOf(session),
    handler: async ({ ops, params, query }) => {
      const page = await runOperation(ops, 'user.sessions', { user: params.user, ...query });
      return asPage(page.sessions, page);
    },
  }),
  defineRoute({
    method: 'delete',
    path: '/users/{user}/sessions',
    scope: 'admin:sessions:write',
    summary: 'Sign a user out everywhere',
    description: 'Ends every session of the user (back-channel logout); their grants stay.',
    tags: [...tags, 'sessions'],
    params: userParams,
    response: userEnded,
    handler: ({ ops, params }) => runOperation(ops, 'user.end-sessions', { user: params.user }),
  }),
];
