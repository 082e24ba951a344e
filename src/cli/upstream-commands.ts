// `tessera upstream create|list|update|delete`: upstream identity providers. The client secret is read from
// standard input (--client-secret-stdin), never taken as an argument (it would land in shell history).
import type { UpstreamInput } from '../domain/upstreams.ts';
import { print, readStdin } from './io.ts';
import { UsageError } from './output.ts';
import { runOperation } from './run-operation.ts';
import { string, strings, type CommandContext, type CommandSpec, type FlagSpec, type FlagValues } from './command.ts';

async function input(ctx: CommandContext, values: FlagValues, command: string): Promise<UpstreamInput> {
  const id = string(values, 'id');
  if (id === undefined) throw new UsageError(`${command} needs --id`);
  const mapping: Record<string, string> = {};
  for (const m of strings(values, 'map') ?? []) {
    const eq = m.indexOf('=');
    if (eq < 1) throw new UsageError('--map takes field=claim, e.g. --map username=preferred_username');
    mapping[m.slice(0, eq)] = m.slice(eq + 1);
  }
  if (values.disable && values.enable) throw new UsageError('give --enable or --disable, not both');
  return {
    id,
    kind: string(values, 'kind') as UpstreamInput['kind'],
    displayName: string(values, 'display-name'),
    issuer: string(values, 'issuer'),
    clientId: string(values, 'client-id'),
    clientSecret: values['client-secret-stdin'] ? await readStdin(ctx.io, '--client-secret-stdin', 'client secret') : undefined,
    scopes: string(values, 'scope'),
    claimMapping: Object.keys(mapping).length ? mapping : undefined,
    provisioning: string(values, 'provisioning') as UpstreamInput['provisioning'],
    defaultRoles: strings(values, 'default-role'),
    enabled: values.disable ? false : values.enable ? true : undefined,
  };
}

async function upstreamCreate(ctx: CommandContext, values: FlagValues): Promise<void> {
  if (!values['client-secret-stdin']) throw new UsageError('upstream create needs --client-secret-stdin (secrets are never taken as arguments)');
  const result = await runOperation(ctx, 'upstream.create', await input(ctx, values, 'upstream create'));
  print(ctx.io, values.json === true, result, `added upstream ${result.id} (${result.kind}, ${result.provisioning})\nregister this redirect URI at the provider: ${result.redirect_uri}`);
}

async function upstreamList(ctx: CommandContext, values: FlagValues): Promise<void> {
  const { upstreams } = await runOperation(ctx, 'upstream.list', undefined);
  const lines = upstreams.map((u) => `${u.id}  ${u.kind}  "${u.display_name}"  ${u.provisioning}${u.enabled ? '' : ' [disabled]'}  ${u.issuer ?? ''}`);
  print(ctx.io, values.json === true, { upstreams }, lines.length ? lines.join('\n') : 'no upstreams');
}

async function upstreamUpdate(ctx: CommandContext, values: FlagValues): Promise<void> {
  const result = await runOperation(ctx, 'upstream.update', await input(ctx, values, 'upstream update'));
  print(ctx.io, values.json === true, result, `updated upstream ${result.id}`);
}

async function upstreamDelete(ctx: CommandContext, values: FlagValues): Promise<void> {
  const id = string(values, 'id');
  if (id === undefined) throw new UsageError('upstream delete needs --id');
  const result = await runOperation(ctx, 'upstream.delete', { id });
  print(ctx.io, values.json === true, result, `deleted upstream ${result.id}; identities linked through it are unlinked`);
}

/** `upstream create` and `upstream update` take the same flags; an update changes only those given. */
const upstreamFlags = (create: boolean): Record<string, FlagSpec> => ({
  id: { type: 'string', value: 'ID', help: create ? 'a short name: lower-case letters, digits and hyphens; part of the redirect URI (required)' : 'the upstream to change (required)' },
  kind: { type: 'string', value: 'oidc|google|github', help: create ? 'oidc: any OpenID Provider (the default); google or github: a preset' : 'cannot change; give the same kind or leave it out' },
  'client-id': { type: 'string', value: 'C', help: create ? 'the client id the provider gave Tessera (required)' : 'the client id the provider gave Tessera' },
  'client-secret-stdin': { type: 'boolean', help: create ? 'read the client secret from standard input (required)' : 'read a new client secret from standard input (replaces the old one)' },
  issuer: { type: 'string', value: 'URL', help: 'oidc: the provider\'s issuer (https; discovery is read from it)' },
  'display-name': { type: 'string', value: 'N', help: 'the button text: "Continue with N" (default: the id)' },
  scope: { type: 'string', value: '"s1 s2"', help: 'scopes asked of the provider (default: the preset\'s, openid email profile for oidc)' },
  map: { type: 'string', value: 'field=claim', multiple: true, help: 'which claim fills a local field (username, email, name) of accounts made just in time' },
  provisioning: { type: 'string', value: 'jit|link', help: 'jit: a new account on first sign-in (default); link: only accounts linked by their password' },
  'default-role': { type: 'string', value: 'R', multiple: true, help: 'a role given to accounts made just in time' },
  enable: { type: 'boolean', help: create ? 'offer it on the sign-in page (the default)' : 'offer it on the sign-in page again' },
  disable: { type: 'boolean', help: 'keep it off the sign-in page' },
});

export const upstreamCommands: CommandSpec[] = [
  {
    name: 'upstream create',
    synopsis:
      '--id ID [--kind oidc|google|github] --client-id C --client-secret-stdin [--issuer URL] [--display-name N] [--scope "s1 s2"] ' +
      '[--map field=claim]... [--provisioning jit|link] [--default-role R]... [--enable | --disable]',
    summary: 'Add an upstream identity provider people can sign in with; prints the redirect URI to register at the provider.',
    flags: upstreamFlags(true),
    example: 'printf %s "$SECRET" | tessera upstream create --id corp --kind oidc --issuer https://login.corp.example --client-id tessera --client-secret-stdin',
    run: upstreamCreate,
  },
  { name: 'upstream list', synopsis: '', summary: 'List every upstream (never their secrets).', flags: {}, example: 'tessera upstream list --json', run: upstreamList },
  {
    name: 'upstream update',
    synopsis:
      '--id ID [--kind K] [--client-id C] [--client-secret-stdin] [--issuer URL] [--display-name N] [--scope "s1 s2"] ' +
      '[--map field=claim]... [--provisioning jit|link] [--default-role R]... [--enable | --disable]',
    summary: 'Change an upstream; only the flags given change.',
    flags: upstreamFlags(false),
    example: 'tessera upstream update --id corp --display-name "Corp SSO" --disable',
    run: upstreamUpdate,
  },
  {
    name: 'upstream delete',
    synopsis: '--id ID',
    summary: 'Remove an upstream: identities linked through it are unlinked, the accounts stay.',
    flags: { id: { type: 'string', value: 'ID', help: 'the upstream to delete (required)' } },
    example: 'tessera upstream delete --id corp',
    run: upstreamDelete,
  },
];
