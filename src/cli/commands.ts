// The CLI commands. Each parses its flags, calls domain/ (never SQL), and prints JSON with --json.
// These names and flags are an interface: keep them stable.
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import type Provider from 'oidc-provider';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { openRuntime } from '../runtime.ts';
import { AppError } from '../errors.ts';
import type { AuthMethod } from '../domain/clients.ts';
import { startServer } from '../server.ts';
import { print, readStdin, UsageError } from './output.ts';
import { runOperation as runLocally, type OperationInput, type OperationName, type OperationResult } from './operations.ts';
import { MAX_PAGE_SIZE } from './management-operations.ts';
import type { EndedSession } from '../store/access.ts';
import { sendBackchannelLogouts } from '../oidc/backchannel.ts';
import { createStandaloneProvider } from '../server.ts';
import { callControlSocket, controlSocketPath } from './control-socket.ts';

export interface CommandContext {
  config: Config;
  logger: Logger;
}

/**
 * Runs an operation: through a running embedded server's control socket when there is one (PGlite allows
 * one process per data directory), otherwise on a direct database connection.
 */
export async function runOperation<N extends OperationName>(ctx: CommandContext, name: N, input: OperationInput<N>): Promise<OperationResult<N>> {
  const { config } = ctx;
  if (!config.databaseUrl && config.dataDir !== ':memory:') {
    const reply = await callControlSocket(controlSocketPath(config.dataDir), name, input);
    if (reply?.ok) return reply.result as OperationResult<N>;
    if (reply) throw new AppError(reply.status, 'operation_failed', reply.error, true);
  }
  // `migrate` must see (and report) the pending migrations, so it opens the database unmigrated.
  const runtime = await openRuntime(config, ctx.logger, { migrate: name !== 'migrate' });
  try {
    // Signing (logout tokens) and issuing (initial access tokens) need the engine and its keys: build one
    // when asked (it does not listen).
    let engine: Promise<Provider> | undefined;
    const provider = () => (engine ??= createStandaloneProvider(config, ctx.logger, runtime));
    const notifyLogout = async (ended: EndedSession[]) => {
      if (!ended.some((s) => Object.keys(s.sids).length > 0)) return 0;
      return sendBackchannelLogouts(await provider(), ctx.logger, ended);
    };
    return await runLocally({ runtime, config, notifyLogout, provider }, name, input);
  } finally {
    await runtime.close();
  }
}

export type FlagValues = Record<string, string | string[] | boolean | undefined>;

/** Every item of a paginated operation: the CLI lists print all, page after page. */
async function allPages<P extends { next_cursor: string | null }, T>(fetchPage: (cursor: string | undefined) => Promise<P>, items: (page: P) => T[]): Promise<T[]> {
  const all: T[] = [];
  let cursor: string | undefined;
  do {
    const page = await fetchPage(cursor);
    all.push(...items(page));
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return all;
}

export function parse(args: string[], options: ParseArgsOptionsConfig): { values: FlagValues } {
  try {
    const { values } = parseArgs({ args, options: { ...options, json: { type: 'boolean', default: false } }, strict: true, allowPositionals: false });
    return { values: values as FlagValues };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

export async function serve(ctx: CommandContext): Promise<void> {
  const server = await startServer(ctx.config, ctx.logger);
  const stop = async (signal: string) => {
    ctx.logger.info({ signal }, 'shutting down');
    await server.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

export async function migrate(ctx: CommandContext, args: string[]): Promise<void> {
  const { values } = parse(args, {});
  const { applied } = await runOperation(ctx, 'migrate', undefined);
  print(values.json === true, { applied }, applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
}

export async function userCreate(ctx: CommandContext, args: string[]): Promise<void> {
  const { values } = parse(args, {
    username: { type: 'string' },
    email: { type: 'string' },
    name: { type: 'string' },
    'password-stdin': { type: 'boolean', default: false },
  });
  if (!values.username) throw new UsageError('user create needs --username');
  if (!values['password-stdin']) throw new UsageError('user create needs --password-stdin (passwords are never taken as arguments)');
  const password = await readStdin();
  const account = await runOperation(ctx, 'user.create', {
    username: values.username as string,
    password,
    email: values.email as string | undefined,
    name: values.name as string | undefined,
  });
  print(values.json === true, { id: account.id, username: account.username, email: account.email, name: account.name }, `created user ${account.username} (${account.id})`);
}

export async function clientCreate(ctx: CommandContext, args: string[]): Promise<void> {
  const { values } = parse(args, {
    name: { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true },
    'post-logout-redirect-uri': { type: 'string', multiple: true },
    'grant-type': { type: 'string', multiple: true },
    scope: { type: 'string' },
    'auth-method': { type: 'string' },
    'jwks-uri': { type: 'string' },
    jwks: { type: 'string' },
    'backchannel-logout-uri': { type: 'string' },
    'first-party': { type: 'boolean', default: false },
    'logo-uri': { type: 'string' },
    'policy-uri': { type: 'string' },
    'tos-uri': { type: 'string' },
    'client-uri': { type: 'string' },
    'default-resource': { type: 'string' },
  });
  if (!values.name) throw new UsageError('client create needs --name');
  let jwks: { keys: unknown[] } | undefined;
  if (values.jwks) {
    try {
      jwks = JSON.parse(values.jwks as string);
    } catch {
      throw new UsageError('--jwks must be a JSON Web Key Set');
    }
  }
  const metadata = await runOperation(ctx, 'client.create', {
    name: values.name as string,
    redirectUris: values['redirect-uri'] as string[] | undefined,
    postLogoutRedirectUris: values['post-logout-redirect-uri'] as string[] | undefined,
    grantTypes: values['grant-type'] as string[] | undefined,
    scope: values.scope as string | undefined,
    authMethod: values['auth-method'] as AuthMethod | undefined,
    jwksUri: values['jwks-uri'] as string | undefined,
    jwks,
    backchannelLogoutUri: values['backchannel-logout-uri'] as string | undefined,
    firstParty: values['first-party'] === true,
    logoUri: values['logo-uri'] as string | undefined,
    policyUri: values['policy-uri'] as string | undefined,
    tosUri: values['tos-uri'] as string | undefined,
    clientUri: values['client-uri'] as string | undefined,
    defaultResource: values['default-resource'] as string | undefined,
  });
  const human = [`created client ${metadata.client_name}`, `client_id:     ${metadata.client_id}`];
  if (metadata.client_secret) human.push(`client_secret: ${metadata.client_secret}   (shown once; store it now)`);
  print(values.json === true, metadata, human.join('\n'));
}

type Account = OperationResult<'user.show'>;
const describeAccount = (a: Account) =>
  `${a.username} (${a.id})${a.disabled ? ' [disabled]' : ''}${a.email ? ` <${a.email}>` : ''}${a.roles.length ? ` roles: ${a.roles.join(', ')}` : ''}`;

function requireUser(values: FlagValues, command: string): string {
  if (typeof values.username !== 'string' || !values.username) throw new UsageError(`${command} needs --username (a username or user id)`);
  return values.username;
}

export async function userList(ctx: CommandContext, args: string[]): Promise<void> {
  const { values } = parse(args, {});
  const users = await allPages((cursor) => runOperation(ctx, 'user.list', { limit: MAX_PAGE_SIZE, cursor }), (p) => p.users);
  print(values.json === true, { users }, users.length ? users.map(describeAccount).join('\n') : 'no users');
}

export async function userShow(ctx: CommandContext, args: string[]): Promise<void> {
  const { values } = parse(args, { username: { type: 'string' } });
  const account = await runOperation(ctx, 'user.show', { user: requireUser(values, 'user show') });
  print(values.json === true, account, describeAccount(account));
}

export async function userSetDisabled(ctx: CommandContext, args: string[], disabled: boolean): Promise<void> {
  const { values } = parse(args, { username: { type: 'string' } });
  const user = requireUser(values, disabled ? 'user disable' : 'user enable');
  const result = disabled ? await runOperation(ctx, 'user.disable', { user }) : await runOperation(ctx, 'user.enable', { user });
  print(values.json === true, result, `${disabled ? 'disabled' : 'enabled'} ${describeAccount(result)}`);
}

export async function userEndSessions(ctx: CommandContext, args: string[]): Promise<void> {
  const { values } = parse(args, { username: { type: 'string' } });
  const result = await runOperation(ctx, 'user.end-sessions', { user: requireUser(values, 'user end-sessions') });
  print(values.json === true, result, `ended ${result.sessions_ended} session(s) of ${result.username}; ${result.logout_notifications} back-channel logout(s) delivered`);
}

export async function userSetPassword(ctx: CommandContext, args: string[]): Promise<void> {
  const { values } = parse(args, { username: { type: 'string' }, 'password-stdin': { type: 'boolean', default: false } });
  const user = requireUser(values, 'user set-password');
  if (!values['password-stdin']) throw new UsageError('user set-password needs --password-stdin (passwords are never taken as arguments)');
  const result = await runOperation(ctx, 'user.set-password', { user, password: await readStdin() });
  print(values.json === true, result, `password changed for ${result.username}; ${result.sessions_ended} session(s) ended, grants revoked`);
}

export async function userChangeRole(ctx: CommandContext, args: string[], add: boolean): Promise<void> {
  const { values } = parse(args, { username: { type: 'string' }, role: { type: 'string', multiple: true } });
  const user = requireUser(values, add ? 'user add-role' : 'user remove-role');
  const roles = (values.role as string[] | undefined) ?? [];
  if (roles.length === 0) throw new UsageError('give at least one --role');
  const result = await runOperation(ctx, add ? 'user.add-role' : 'user.remove-role', { user, roles });
  print(values.json === true, result, describeAccount(result));
}

function requireClientId(values: FlagValues, command: string): string {
  if (typeof values['client-id'] !== 'string' || !values['client-id']) throw new UsageError(`${command} needs --client-id`);
  return values['client-id'];
}

export async function clientList(ctx: CommandContext, args: string[]): Promise<void> {
  const { values } = parse(args, {});
  const clients = await allPages((cursor) => runOperation(ctx, 'client.list', { limit: MAX_PAGE_SIZE, cursor }), (p) => p.clients);
  const lines = clients.map((c) => `${c.client_id}  ${String(c['client_name'] ?? '')}${c.disabled ? ' [disabled]' : ''}`);
  print(values.json === true, { clients }, lines.length ? lines.join('\n') : 'no clients');
}

export async function clientChange(ctx: CommandContext, args: string[], action: 'disable' | 'enable' | 'delete'): Promise<void> {
  const { values } = parse(args, { 'client-id': { type: 'string' } });
  const clientId = requireClientId(values, `client ${action}`);
  const result = await runOperation(ctx, `client.${action}`, { clientId });
  print(values.json === true, result, `${action}d client ${clientId}${action === 'enable' ? '' : '; its grants and tokens are revoked'}`);
}

/** --scope "read write" plus optional --describe read="Read your invoices" for the consent page. */
function scopeDefinitions(values: FlagValues): Array<{ name: string; description?: string }> | undefined {
  if (typeof values.scope !== 'string') return undefined;
  const descriptions = new Map<string, string>();
  for (const d of (values.describe as string[] | undefined) ?? []) {
    const eq = d.indexOf('=');
    if (eq < 1) throw new UsageError('--describe takes scope=description');
    descriptions.set(d.slice(0, eq), d.slice(eq + 1));
  }
  return values.scope.split(/\s+/).filter(Boolean).map((name) => ({ name, ...(descriptions.has(name) ? { description: descriptions.get(name)! } : {}) }));
}

const RESOURCE_FLAGS = {
  identifier: { type: 'string' },
  name: { type: 'string' },
  scope: { type: 'string' },
  describe: { type: 'string', multiple: true },
  format: { type: 'string' },
  ttl: { type: 'string' },
  alg: { type: 'string' },
} as const satisfies ParseArgsOptionsConfig;

function resourceInput(values: FlagValues, command: string) {
  if (typeof values.identifier !== 'string') throw new UsageError(`${command} needs --identifier URI`);
  const ttl = values.ttl === undefined ? undefined : Number(values.ttl);
  if (ttl !== undefined && !Number.isInteger(ttl)) throw new UsageError('--ttl takes whole seconds');
  return {
    identifier: values.identifier,
    name: values.name as string | undefined,
    scopes: scopeDefinitions(values),
    format: values.format as string | undefined,
    ttl,
    alg: values.alg as string | undefined,
  };
}

export async function resourceCreate(ctx: CommandContext, args: string[]): Promise<void> {
  const { values } = parse(args, RESOURCE_FLAGS);
  const r = await runOperation(ctx, 'resource.create', resourceInput(values, 'resource create'));
  const human = [
    `created resource server ${r.name} (${r.identifier}), ${r.format} access tokens for ${r.ttl}s`,
    `introspection client_id:     ${r.introspection_client.client_id}`,
    `introspection client_secret: ${r.introspection_client.client_secret}   (shown once; store it now)`,
  ];
  print(values.json === true, r, human.join('\n'));
}

export async function resourceList(ctx: CommandContext, args: string[]): Promise<void> {
  const { values } = parse(args, {});
  const resources = await allPages((cursor) => runOperation(ctx, 'resource.list', { limit: MAX_PAGE_SIZE, cursor }), (p) => p.resources);
  const lines = resources.map((r) => `${r.identifier}  ${r.name}  [${r.scopes.map((s) => s.name).join(' ')}] ${r.format} ${r.ttl}s`);
  print(values.json === true, { resources }, lines.length ? lines.join('\n') : 'no resource servers');
}

export async function resourceUpdate(ctx: CommandContext, args: string[]): Promise<void> {
  const { values } = parse(args, RESOURCE_FLAGS);
  const r = await runOperation(ctx, 'resource.update', resourceInput(values, 'resource update'));
  print(values.json === true, r, `updated resource server ${r.identifier}`);
}

export async function resourceDelete(ctx: CommandContext, args: string[]): Promise<void> {
  const { values } = parse(args, { identifier: { type: 'string' } });
  if (typeof values.identifier !== 'string') throw new UsageError('resource delete needs --identifier URI');
  const r = await runOperation(ctx, 'resource.delete', { identifier: values.identifier });
  print(values.json === true, r, `deleted resource server ${r.identifier} and its introspection client`);
}

export async function iatCreate(ctx: CommandContext, args: string[]): Promise<void> {
  const { values } = parse(args, {
    'expires-in': { type: 'string' },
    'max-uses': { type: 'string' },
    scope: { type: 'string' },
    'grant-type': { type: 'string', multiple: true },
  });
  const number = (flag: string) => {
    const v = values[flag];
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(String(v))) throw new UsageError(`--${flag} takes a whole number`);
    return Number(v);
  };
  const result = await runOperation(ctx, 'iat.create', {
    expiresIn: number('expires-in'),
    maxUses: number('max-uses'),
    scopes: typeof values.scope === 'string' ? values.scope.split(/\s+/).filter(Boolean) : undefined,
    grantTypes: values['grant-type'] as string[] | undefined,
  });
  print(values.json === true, result, `initial access token: ${result.initial_access_token}   (shown once)`);
}
