// Where a command's operation runs: in the embedded server through its control socket when one is running
// (PGlite allows one process per data directory), otherwise on a connection of the command's own — which
// in embedded mode must not quietly create a second, empty database (see requireDataDir).
// Only what the control socket path needs is imported up front: the database, the services and (for the
// few operations that sign) the engine are imported when a command runs on a connection of its own, so a
// command answered by the serving process loads none of them (docs/benchmarks.md, "CLI and start-up").
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type Provider from 'oidc-provider';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import type { Runtime } from '../runtime.ts';
import type { OperationInput, OperationName, OperationResult } from '../services/operations.ts';
import type { CommandContext } from './command.ts';

/** Embedded PostgreSQL with its files on disk (not PostgreSQL, not in memory). */
export function embeddedOnDisk(config: Config): boolean {
  return !config.databaseUrl && config.dataDir !== ':memory:';
}

/**
 * The embedded data directory when it does not exist (`undefined` when it does, or the database is not
 * embedded on disk), resolved, with how TESSERA_DATA_DIR named it. Run from another working directory, the
 * default `./.data` names a directory the server never sees: creating it would give the operator a second,
 * empty database and a success message.
 */
export function missingDataDir(ctx: Pick<CommandContext, 'config' | 'io'>): { dir: string; setting: string } | undefined {
  const { config } = ctx;
  if (!embeddedOnDisk(config)) return undefined;
  const dir = resolve(config.dataDir);
  if (existsSync(dir)) return undefined;
  return { dir, setting: ctx.io.env.TESSERA_DATA_DIR ? `TESSERA_DATA_DIR is ${config.dataDir}` : `TESSERA_DATA_DIR is not set: default ${config.dataDir}` };
}

/** Commands other than `serve` create a missing embedded data directory only when asked (--init). */
function requireDataDir(ctx: CommandContext): void {
  const missing = ctx.init ? undefined : missingDataDir(ctx);
  if (missing) {
    throw new AppError(
      400,
      'data_dir_missing',
      `the data directory ${missing.dir} does not exist (${missing.setting}): set TESSERA_DATA_DIR to the server's data directory, or pass --init to create a new, empty database there`,
      true,
    );
  }
}

/** Runs the operation in this process (no server here): the services, with an engine built only if asked. */
async function runHere<N extends OperationName>(ctx: CommandContext, runtime: Runtime, name: N, input: OperationInput<N>): Promise<OperationResult<N>> {
  const { config, logger } = ctx;
  const [{ createServiceContext }, { runOperation: runLocally }] = await Promise.all([import('../service-context.ts'), import('../services/operations.ts')]);
  // Signing (logout tokens) and issuing (initial access tokens) need the engine and its keys: build one
  // when asked (it does not listen). Only then is the engine (oidc-provider and the server) loaded.
  let engine: Promise<Provider> | undefined;
  const provider = () => (engine ??= import('../server.ts').then(({ createStandaloneProvider }) => createStandaloneProvider(config, logger, runtime)));
  const services = createServiceContext(runtime, config, logger, { provider });
  try {
    return await runLocally(services, name, input);
  } finally {
    // A notice the operation queued (services/account-notices.ts) goes out before the connection closes.
    await services.mailer?.idle(30_000);
  }
}

/**
 * Runs an operation: through a running embedded server's control socket when there is one, otherwise on a
 * direct database connection opened for this command (or on `ctx.runtime` when the caller holds one open).
 */
export async function runOperation<N extends OperationName>(ctx: CommandContext, name: N, given: OperationInput<N>): Promise<OperationResult<N>> {
  const { config } = ctx;
  const [{ parseOperationInput }, { callControlSocket, controlSocketPath }] = await Promise.all([import('../services/operation-inputs.ts'), import('../control-socket.ts')]);
  // What the flags made is checked against the operation's schema here, as the control socket checks it on
  // arrival: a command and the serving process agree on every input, whichever way it travels.
  const input = parseOperationInput(name, given);
  if (ctx.runtime) return runHere(ctx, ctx.runtime, name, input);
  if (embeddedOnDisk(config)) {
    const reply = await callControlSocket(controlSocketPath(config.dataDir), name, input);
    if (reply?.ok) return reply.result as OperationResult<N>;
    if (reply) throw new AppError(reply.status, 'code' in reply && typeof reply.code === 'string' ? reply.code : 'operation_failed', reply.error, true);
    requireDataDir(ctx);
  }
  // `migrate` must see (and report) the pending migrations, so it opens the database unmigrated.
  const { openRuntime } = await import('../runtime.ts');
  const runtime = await openRuntime(config, ctx.logger, { migrate: name !== 'migrate', signIns: false });
  try {
    return await runHere(ctx, runtime, name, input);
  } finally {
    await runtime.close();
  }
}

/** Every item of a paginated operation: the CLI lists print all, page after page. */
export async function allPages<P extends { next_cursor: string | null }, T>(fetchPage: (cursor: string | undefined) => Promise<P>, items: (page: P) => T[]): Promise<T[]> {
  const all: T[] = [];
  let cursor: string | undefined;
  do {
    const page = await fetchPage(cursor);
    all.push(...items(page));
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return all;
}
