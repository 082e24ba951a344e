// startServer: config → runtime → keys → provider → app → listen, plus the expired-row clean-up loop.
// Used by `tessera serve` and by the tests (which start the real server on a random port).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Provider from 'oidc-provider';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import { openRuntime, type Runtime } from './runtime.ts';
import { ensureKeys, loadCookieKeys, loadSigningKeys } from './domain/keys.ts';
import { createProvider } from './oidc/provider.ts';
import { enginePages } from './http/engine-pages.ts';
import { createApp } from './app.ts';
import { deleteExpired } from './store/cleanup.ts';
import { assertDataDirFree, controlSocketPath, startControlSocket } from './cli/control-socket.ts';
import type { OperationContext } from './cli/operations.ts';
import { sendBackchannelLogouts } from './oidc/backchannel.ts';
import { ensureAccountClient } from './domain/clients.ts';
import { createAccessTokenVerifier, type AccessTokenVerifier } from './domain/access-token-verifier.ts';

export interface RunningServer {
  url: string;
  provider: Provider;
  runtime: Runtime;
  /** What CLI operations run against inside this process (control socket, tests). */
  operations: OperationContext;
  close(): Promise<void>;
}

export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  const embeddedOnDisk = !config.databaseUrl && config.dataDir !== ':memory:';
  if (embeddedOnDisk) await assertDataDirFree(controlSocketPath(config.dataDir));
  const runtime = await openRuntime(config, logger);
  let control: Server | undefined;
  try {
    const { created } = await ensureKeys(runtime.db, runtime.box);
    if (created.length) logger.info({ created }, 'generated keys');
    await ensureAccountClient(runtime.db, config.issuer);
    const { provider, cookieKeys, verifier } = await buildProvider(config, logger, runtime);
    const operations: OperationContext = {
      runtime,
      config,
      notifyLogout: (ended) => sendBackchannelLogouts(provider, logger, ended),
      provider: async () => provider,
    };
    control = embeddedOnDisk ? await startControlSocket(controlSocketPath(config.dataDir), operations, logger) : undefined;
    return await serveWith(config, logger, { runtime, provider, cookieKeys, verifier, operations }, control);
  } catch (error) {
    control?.close();
    await runtime.close();
    throw error;
  }
}

async function buildProvider(config: Config, logger: Logger, runtime: Runtime) {
  const { db, box } = runtime;
  const cookieKeys = await loadCookieKeys(db, box);
  const verifier = createAccessTokenVerifier(db, config.issuer);
  const provider = createProvider(config, { db, box, verifier, logger, signingKeys: await loadSigningKeys(db, box), cookieKeys, pages: enginePages });
  return { provider, cookieKeys, verifier };
}

/** The engine without an HTTP server, for CLI work that must sign (back-channel logout tokens). */
export async function createStandaloneProvider(config: Config, logger: Logger, runtime: Runtime): Promise<Provider> {
  await ensureKeys(runtime.db, runtime.box);
  return (await buildProvider(config, logger, runtime)).provider;
}

interface Engine {
  runtime: Runtime;
  provider: Provider;
  cookieKeys: string[];
  verifier: AccessTokenVerifier;
  operations: OperationContext;
}

async function serveWith(config: Config, logger: Logger, engine: Engine, control: Server | undefined): Promise<RunningServer> {
  const { runtime, provider, cookieKeys, verifier } = engine;
  const shutdown = new AbortController();
  const app = createApp({ config, logger, db: runtime.db, provider, hasher: runtime.hasher, cookieKeys, verifier, shutdown: shutdown.signal });

  const server: Server = createServer(app.callback());
  server.requestTimeout = 30_000;
  server.headersTimeout = 15_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  const cleanup = startCleanupLoop(runtime, config.cleanupIntervalSeconds, logger);
  logger.info({ issuer: config.issuer, port, database: config.databaseUrl ? 'postgresql' : 'embedded (PGlite)' }, 'tessera listening');

  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    provider,
    runtime,
    operations: engine.operations,
    close() {
      closing ??= (async () => {
        shutdown.abort();
        clearInterval(cleanup);
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        });
        await new Promise<void>((resolve) => (control ? control.close(() => resolve()) : resolve()));
        await runtime.close();
      })();
      return closing;
    },
  };
}

function startCleanupLoop(runtime: Runtime, intervalSeconds: number, logger: Logger): NodeJS.Timeout {
  let running = false;
  const timer = setInterval(async () => {
    if (running) return;
    running = true;
    try {
      const deleted = await deleteExpired(runtime.db);
      if (Object.values(deleted).some((n) => n > 0)) logger.debug({ deleted }, 'expired rows deleted');
    } catch (error) {
      logger.warn({ err: { message: (error as Error).message } }, 'expired-row clean-up failed; will retry');
    } finally {
      running = false;
    }
  }, intervalSeconds * 1000);
  timer.unref();
  return timer;
}
