// A user's second factors (authenticator apps and passkeys) and recovery codes: list them, remove one, or
// reset them all. The same operations as `tessera user factors|reset-mfa`; never a secret or key in an answer.
import { z } from 'zod';
import { runOperation } from '../../../services/operations.ts';
import { defineRoute } from '../route.ts';
import { plainText, timestamp } from '../schemas.ts';

const tags = ['users'];
const userParams = z.strictObject({ user: plainText(256).describe('User id or username') });
const factorParams = userParams.extend({ factor: plainText(64).describe('Factor id (an authenticator app or a passkey)') });

const factors = z.object({
  user: z.string(),
  username: z.string(),
  factors: z.array(
    z.object({
      id: z.string(),
      kind: z.string().describe('totp (an authenticator app) or passkey'),
      label: z.string().describe('What the factor is called; a passkey\'s name'),
      created_at: timestamp,
      confirmed_at: timestamp.nullable(),
      last_used_at: timestamp.nullable().optional().describe('Passkeys: when one last signed in (null: never)'),
    }),
  ),
  recovery_codes_left: z.number().int(),
});

const actorOf = (caller: { clientId: string } | undefined) => (caller ? `admin:${caller.clientId}` : 'admin');

export const userFactorRoutes = [
  defineRoute({
    method: 'get',
    path: '/users/{user}/factors',
    scope: 'admin:users:read',
    summary: 'List a user\'s second factors',
    tags,
    params: userParams,
    response: factors,
    handler: ({ ops, params }) => runOperation(ops, 'user.factors', { user: params.user }),
  }),
  defineRoute({
    method: 'delete',
    path: '/users/{user}/factors/{factor}',
    scope: 'admin:users:write',
    summary: 'Remove one of a user\'s second factors',
    description: 'An authenticator app or a passkey, by id. Removing the last one removes the recovery codes too. Audited (mfa.factor_removed, or passkey.removed); the person is told by email.',
    tags,
    params: factorParams,
    response: factors,
    handler: ({ ops, params, caller }) => runOperation(ops, 'user.remove-factor', { user: params.user, factor: params.factor, actor: actorOf(caller) }),
  }),
  defineRoute({
    method: 'delete',
    path: '/users/{user}/factors',
    scope: 'admin:users:write',
    summary: 'Reset a user\'s second factors',
    description: 'Removes every second factor — authenticator apps and passkeys — and recovery code (a lost phone or key). Audited (mfa.reset); the person is told by email.',
    tags,
    params: userParams,
    response: z.object({
      account_id: z.string(),
      username: z.string(),
      factors_removed: z.number().int().describe('Authenticator apps and passkeys'),
      passkeys_removed: z.number().int(),
    }),
    handler: ({ ops, params, caller }) => runOperation(ops, 'user.reset-mfa', { user: params.user, actor: actorOf(caller) }),
  }),
];
