// Signing and cookie keys: list, rotate (scheduled, now, emergency), retire. The same operations as
// `tessera keys …`; the serving process reloads at once, the others within one poll (docs/keys-and-secrets.md).
import { z } from 'zod';
import { runOperation } from '../../../services/operations.ts';
import { SIGNING_ALGORITHMS } from '../../../domain/keys.ts';
import { defineRoute } from '../route.ts';
import { plainText } from '../schemas.ts';

const tags = ['keys'];
const when = z.string().nullable().describe('RFC 3339 timestamp');

const key = z.object({
  kid: z.string(),
  purpose: z.enum(['signing', 'cookie']),
  alg: z.string().nullable(),
  state: z.enum(['next', 'current', 'retired']),
  created_at: when,
  activated_at: when.describe('When a current key started signing'),
  activates_at: when.describe('When a next key starts signing'),
  retired_at: when,
  remove_after: when.describe('When a retired key stops being published'),
});
const change = z.object({
  kid: z.string(),
  purpose: z.enum(['signing', 'cookie']),
  alg: z.string().nullable(),
  change: z.enum(['created', 'staged', 'activated', 'retired', 'removed']),
});
const keyList = z.object({ keys: z.array(key) });
const changes = z.object({ changes: z.array(change), keys: z.array(key) });

const rotateBody = z.strictObject({
  mode: z
    .enum(['scheduled', 'now', 'emergency'])
    .default('scheduled')
    .describe('scheduled: publish the next key now, sign with it after KEY_PREPUBLISH; now: sign with it at once; emergency: also stop publishing the old key at once'),
  alg: z.enum(SIGNING_ALGORITHMS).optional().describe('Only this algorithm (default: every key group)'),
  purpose: z.enum(['signing', 'cookie']).optional().describe('Only signing keys or only cookie keys'),
});
const kidParams = z.strictObject({ kid: plainText(200) });
const retireBody = z.strictObject({
  immediately: z.boolean().default(false).describe('Stop publishing the key now (a compromised key): tokens it signed stop validating'),
});

export const keyRoutes = [
  defineRoute({
    method: 'get',
    path: '/keys',
    scope: 'admin:keys:read',
    summary: 'List signing and cookie keys',
    description: 'Public information only: never a private part.',
    tags,
    response: keyList,
    handler: ({ ops }) => runOperation(ops, 'keys.list', undefined),
  }),
  defineRoute({
    method: 'post',
    path: '/keys/rotate',
    scope: 'admin:keys:write',
    summary: 'Rotate keys',
    tags,
    body: rotateBody,
    response: changes,
    handler: ({ ops, body, caller }) => runOperation(ops, 'keys.rotate', { ...body, actor: caller ? `admin:${caller.clientId}` : 'admin' }),
  }),
  defineRoute({
    method: 'post',
    path: '/keys/{kid}/retire',
    scope: 'admin:keys:write',
    summary: 'Retire a key',
    description: 'A current key hands over to a successor at once and stays published until its tokens expire; a next key is dropped; with immediately, the key stops being published now.',
    tags,
    params: kidParams,
    body: retireBody,
    response: changes,
    handler: ({ ops, params, body, caller }) =>
      runOperation(ops, 'keys.retire', { kid: params.kid, immediately: body.immediately, actor: caller ? `admin:${caller.clientId}` : 'admin' }),
  }),
];
