// `tessera upstream create|list|update|delete`: upstream identity providers. The client secret is read from
// standard input (--client-secret-stdin), never taken as an argument (it would land in shell history).
import { parse, runOperation, type CommandContext, type FlagValues } from './commands.ts';
import { print, readStdin, UsageError } from './output.ts';
import type { UpstreamInput } from '../domain/upstreams.ts';

const FLAGS = {
  id: { type: 'string' },
  kind: { type: 'string' },
  'display-name': { type: 'string' },
  issuer: { type: 'string' },
  'client-id': { type: 'string' },
  'client-secret-stdin': { type: 'boolean', default: false },
  scope: { type: 'string' },
  map: { type: 'string', multiple: true },
  provisioning: { type: 'string' },
  'default-role': { type: 'string', multiple: true },
  disable: { type: 'boolean', default: false },
  enable: { type: 'boolean', default: false },
} as const;

async function input(values: FlagValues, command: string): Promise<UpstreamInput> {
  if (typeof values.id !== 'string') throw new UsageError(`${command} needs --id`);
  const mapping: Record<string, string> = {};
  for (const m of (values.map as string[] | undefined) ?? []) {
    const eq = m.indexOf('=');
    if (eq < 1) throw new UsageError('--map takes field=claim, e.g. --map username=preferred_username');
    mapping[m.slice(0, eq)] = m.slice(eq + 1);
  }
  if (values.disable && values.enable) throw new UsageError('give --enable or --disable, not both');
  return {
    id: values.id,
    kind: values.kind as UpstreamInput['kind'],
    displayName: values['display-name'] as string | undefined,
    issuer: values.issuer as string | undefined,
    clientId: values['client-id'] as string | undefined,
    clientSecret: values['client-secret-stdin'] ? await readStdin() : undefined,
    scopes: values.scope as string | undefined,
    claimMapping: Object.keys(mapping).length ? mapping : undefined,
    provisioning: values.provisioning as UpstreamInput['provisioning'],
    defaultRoles: values['default-role'] as string[] | undefined,
    enabled: values.disable ? false : values.enable ? true : undefined,
  };
}

export async function upstreamCreate(ctx: CommandContext, args: string[]): Promise<void> {
  const { values } = parse(args, FLAGS);
  if (!values['client-secret-stdin']) throw new UsageError('upstream create needs --client-secret-stdin (secrets are never taken as arguments)');
  const result = await runOperation(ctx, 'upstream.create', await input(values, 'upstream create'));
  print(values.json === true, result, `added upstream ${result.id} (${result.kind}, ${result.provisioning})\nregister this redirect URI at the provider: ${result.redirect_uri}`);
}

export async function upstreamList(ctx: CommandContext, args: string[]): Promise<void> {
  const { values } = parse(args, {});
  const { upstreams } = await runOperation(ctx, 'upstream.list', undefined);
  const lines = upstreams.map((u) => `${u.id}  ${u.kind}  "${u.display_name}"  ${u.provisioning}${u.enabled ? '' : ' [disabled]'}  ${u.issuer ?? ''}`);
  print(values.json === true, { upstreams }, lines.length ? lines.join('\n') : 'no upstreams');
}

export async function upstreamUpdate(ctx: CommandContext, args: string[]): Promise<void> {
  const { values } = parse(args, FLAGS);
  const result = await runOperation(ctx, 'upstream.update', await input(values, 'upstream update'));
  print(values.json === true, result, `updated upstream ${result.id}`);
}

export async function upstreamDelete(ctx: CommandContext, args: string[]): Promise<void> {
  const { values } = parse(args, { id: { type: 'string' } });
  if (typeof values.id !== 'string') throw new UsageError('upstream delete needs --id');
  const result = await runOperation(ctx, 'upstream.delete', { id: values.id });
  print(values.json === true, result, `deleted upstream ${result.id}; identities linked through it are unlinked`);
}
