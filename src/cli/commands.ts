// The CLI commands. Each parses its flags, calls domain/ (never SQL), and prints JSON with --json.
// These names and flags are an interface: keep them stable.
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { openRuntime, type Runtime } from '../runtime.ts';
import { migrateToLatest } from '../store/db.ts';
import { createAccount } from '../domain/accounts.ts';
import { createClient, type AuthMethod } from '../domain/clients.ts';
import { startServer } from '../server.ts';
import { print, readStdin, UsageError } from './output.ts';

export interface CommandContext {
  config: Config;
  logger: Logger;
}

async function withRuntime<T>(ctx: CommandContext, fn: (runtime: Runtime) => Promise<T>): Promise<T> {
  const runtime = await openRuntime(ctx.config, ctx.logger);
  try {
    return await fn(runtime);
  } finally {
    await runtime.close();
  }
}

type FlagValues = Record<string, string | string[] | boolean | undefined>;

function parse(args: string[], options: ParseArgsOptionsConfig): { values: FlagValues } {
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
  const runtime = await openRuntime(ctx.config, ctx.logger, { migrate: false });
  try {
    const applied = await migrateToLatest(runtime.db);
    print(values.json === true, { applied }, applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
  } finally {
    await runtime.close();
  }
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
  const account = await withRuntime(ctx, (rt) =>
    createAccount(rt.db, rt.hasher, { username: values.username as string, password, email: values.email as string | undefined, name: values.name as string | undefined }),
  );
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
  const metadata = await withRuntime(ctx, (rt) =>
    createClient(rt.db, rt.box, {
      name: values.name as string,
      redirectUris: values['redirect-uri'] as string[] | undefined,
      postLogoutRedirectUris: values['post-logout-redirect-uri'] as string[] | undefined,
      grantTypes: values['grant-type'] as string[] | undefined,
      scope: values.scope as string | undefined,
      authMethod: values['auth-method'] as AuthMethod | undefined,
      jwksUri: values['jwks-uri'] as string | undefined,
      jwks,
    }),
  );
  const human = [`created client ${metadata.client_name} `, `client_id:     ${metadata.client_id}`];
  if (metadata.client_secret) human.push(`client_secret: ${metadata.client_secret}   (shown once; store it now)`);
  print(values.json === true, metadata, human.join('\n'));
}
