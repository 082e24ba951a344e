// `tessera keys list|rotate|retire` and `tessera client rotate-secret`: thin wrappers over the operations the
// admin API uses too. A rotation made here reaches every server process within one poll (KEY_POLL_INTERVAL).
import { print } from './io.ts';
import { UsageError } from './output.ts';
import type { OperationResult } from '../services/operations.ts';
import { runOperation } from './run-operation.ts';
import { string, type CommandContext, type CommandSpec, type FlagValues } from './command.ts';

type KeyList = OperationResult<'keys.list'>['keys'];

const describeKeys = (keys: KeyList) =>
  keys
    .map((k) => {
      const when = k.state === 'next' ? `signs from ${k.activates_at ?? 'its activation'}` : k.state === 'retired' ? `published until ${k.remove_after}` : `signing since ${k.activated_at}`;
      return `${k.purpose === 'cookie' ? 'cookie ' : (k.alg ?? '').padEnd(7)} ${k.state.padEnd(7)} ${k.kid}  ${when}`;
    })
    .join('\n');

async function keysList(ctx: CommandContext, values: FlagValues): Promise<void> {
  const result = await runOperation(ctx, 'keys.list', undefined);
  print(ctx.io, values.json === true, result, describeKeys(result.keys));
}

async function keysRotate(ctx: CommandContext, values: FlagValues): Promise<void> {
  if (values.now && values.emergency) throw new UsageError('give --now or --emergency, not both');
  const mode = values.emergency ? 'emergency' : values.now ? 'now' : 'scheduled';
  const purpose = string(values, 'purpose');
  if (purpose !== undefined && purpose !== 'signing' && purpose !== 'cookie') throw new UsageError('--purpose is signing or cookie');
  const result = await runOperation(ctx, 'keys.rotate', { mode, alg: string(values, 'alg'), purpose, actor: 'cli' });
  const summary = result.changes.map((c) => `${c.change} ${c.purpose === 'cookie' ? 'cookie' : c.alg} ${c.kid}`).join('\n') || 'nothing to do (a next key is already staged)';
  print(ctx.io, values.json === true, result, summary);
}

async function keysRetire(ctx: CommandContext, values: FlagValues): Promise<void> {
  const kid = string(values, 'kid');
  if (!kid) throw new UsageError('keys retire needs --kid');
  const result = await runOperation(ctx, 'keys.retire', { kid, immediately: values.immediately === true, actor: 'cli' });
  print(ctx.io, values.json === true, result, result.changes.map((c) => `${c.change} ${c.purpose === 'cookie' ? 'cookie' : c.alg} ${c.kid}`).join('\n'));
}

async function clientRotateSecret(ctx: CommandContext, values: FlagValues): Promise<void> {
  const clientId = string(values, 'client-id');
  if (!clientId) throw new UsageError('client rotate-secret needs --client-id');
  if (values.grace !== undefined && !/^\d+$/.test(String(values.grace))) throw new UsageError('--grace takes whole seconds');
  const result = await runOperation(ctx, 'client.rotate-secret', { clientId, graceSeconds: values.grace === undefined ? undefined : Number(values.grace) });
  const until = result.previous_secret_expires_at ? `the previous secret works until ${new Date(result.previous_secret_expires_at * 1000).toISOString()}` : 'the previous secret no longer works';
  print(ctx.io, values.json === true, { ...result }, `client_secret: ${result.client_secret}   (shown once; store it now)\n${until}`);
}

export const keyCommands: CommandSpec[] = [
  {
    name: 'client rotate-secret',
    synopsis: '--client-id ID [--grace SECONDS]',
    summary: 'Give a client a new secret (shown once); the old one keeps working for the grace period, then stops.',
    flags: {
      'client-id': { type: 'string', value: 'ID', help: 'the client (required)' },
      grace: { type: 'string', value: 'SECONDS', help: 'how long the previous secret keeps working (default CLIENT_SECRET_GRACE; 0 stops it now)' },
    },
    example: 'tessera client rotate-secret --client-id 6wFQs3kQmZbG0aVT --grace 3600 --json',
    run: clientRotateSecret,
  },
  { name: 'keys list', synopsis: '', summary: 'List signing and cookie keys: state, and when each starts signing or stops being published.', flags: {}, example: 'tessera keys list', run: keysList },
  {
    name: 'keys rotate',
    synopsis: '[--alg ES256|RS256|EdDSA] [--purpose signing|cookie] [--now | --emergency]',
    summary: 'Stage the next key, which signs after KEY_PREPUBLISH (published first, so every cached JWKS has it).',
    flags: {
      alg: { type: 'string', value: 'ES256|RS256|EdDSA', help: 'rotate only this signing algorithm\'s key (default: all)' },
      purpose: { type: 'string', value: 'signing|cookie', help: 'rotate only signing keys or only the cookie key (default: both)' },
      now: { type: 'boolean', help: 'sign with the new key at once' },
      emergency: { type: 'boolean', help: 'sign with the new key at once and stop publishing the old one (a leaked key)' },
    },
    example: 'tessera keys rotate --alg ES256 --now',
    run: keysRotate,
  },
  {
    name: 'keys retire',
    synopsis: '--kid KID [--immediately]',
    summary: 'Retire one key: it stops signing and is published until the tokens it signed have expired.',
    flags: {
      kid: { type: 'string', value: 'KID', help: 'the key id, as `tessera keys list` shows it (required)' },
      immediately: { type: 'boolean', help: 'stop publishing it now (tokens it signed stop verifying)' },
    },
    example: 'tessera keys retire --kid 0cQ2Xy7rZ1 --immediately',
    run: keysRetire,
  },
];
