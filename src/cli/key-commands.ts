// `tessera keys list|rotate|retire` and `tessera client rotate-secret`: thin wrappers over the operations the
// admin API uses too. A rotation made here reaches every server process within one poll (KEY_POLL_INTERVAL).
import { print, UsageError } from './output.ts';
import { parse, runOperation, type CommandContext } from './commands.ts';
import type { OperationResult } from './operations.ts';

type KeyList = OperationResult<'keys.list'>['keys'];

const describeKeys = (keys: KeyList) =>
  keys
    .map((k) => {
      const when = k.state === 'next' ? `signs from ${k.activates_at ?? 'its activation'}` : k.state === 'retired' ? `published until ${k.remove_after}` : `signing since ${k.activated_at}`;
      return `${k.purpose === 'cookie' ? 'cookie ' : (k.alg ?? '').padEnd(7)} ${k.state.padEnd(7)} ${k.kid}  ${when}`;
    })
    .join('\n');

export async function keysList(ctx: CommandContext, args: string[]): Promise<void> {
  const { values } = parse(args, {});
  const result = await runOperation(ctx, 'keys.list', undefined);
  print(values.json === true, result, describeKeys(result.keys));
}

export async function keysRotate(ctx: CommandContext, args: string[]): Promise<void> {
  const { values } = parse(args, {
    alg: { type: 'string' },
    purpose: { type: 'string' },
    now: { type: 'boolean', default: false },
    emergency: { type: 'boolean', default: false },
  });
  if (values.now && values.emergency) throw new UsageError('give --now or --emergency, not both');
  const mode = values.emergency ? 'emergency' : values.now ? 'now' : 'scheduled';
  const purpose = values.purpose as string | undefined;
  if (purpose !== undefined && purpose !== 'signing' && purpose !== 'cookie') throw new UsageError('--purpose is signing or cookie');
  const result = await runOperation(ctx, 'keys.rotate', { mode, alg: values.alg as string | undefined, purpose, actor: 'cli' });
  const summary = result.changes.map((c) => `${c.change} ${c.purpose === 'cookie' ? 'cookie' : c.alg} ${c.kid}`).join('\n') || 'nothing to do (a next key is already staged)';
  print(values.json === true, result, summary);
}

export async function keysRetire(ctx: CommandContext, args: string[]): Promise<void> {
  const { values } = parse(args, { kid: { type: 'string' }, immediately: { type: 'boolean', default: false } });
  if (typeof values.kid !== 'string' || !values.kid) throw new UsageError('keys retire needs --kid');
  const result = await runOperation(ctx, 'keys.retire', { kid: values.kid, immediately: values.immediately === true, actor: 'cli' });
  print(values.json === true, result, result.changes.map((c) => `${c.change} ${c.purpose === 'cookie' ? 'cookie' : c.alg} ${c.kid}`).join('\n'));
}

export async function clientRotateSecret(ctx: CommandContext, args: string[]): Promise<void> {
  const { values } = parse(args, { 'client-id': { type: 'string' }, grace: { type: 'string' } });
  if (typeof values['client-id'] !== 'string' || !values['client-id']) throw new UsageError('client rotate-secret needs --client-id');
  if (values.grace !== undefined && !/^\d+$/.test(String(values.grace))) throw new UsageError('--grace takes whole seconds');
  const result = await runOperation(ctx, 'client.rotate-secret', {
    clientId: values['client-id'],
    graceSeconds: values.grace === undefined ? undefined : Number(values.grace),
  });
  const until = result.previous_secret_expires_at ? `the previous secret works until ${new Date(result.previous_secret_expires_at * 1000).toISOString()}` : 'the previous secret no longer works';
  print(values.json === true, { ...result }, `client_secret: ${result.client_secret}   (shown once; store it now)\n${until}`);
}
