// startServer: config → runtime → keys → provider → app → listen, plus the expired-row clean-up loop and the
// key watch (scheduled rotation, reload after a rotation anywhere).
// Used by `tessera serve` and by the tests (which start the real server on a random port).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Provider from 'oidc-provider';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import type { Clock } from './clock.ts';
import { openRuntime, type Runtime } from './runtime.ts';
import { ensureKeys, loadCookieKeys, loadSigningKeys } from './domain/keys.ts';
import { createProvider } from './oidc/provider.ts';
import { enginePages } from './http/engine-pages.ts';
import { createApp } from './app.ts';
import { deleteExpired } from './store/cleanup.ts';
import { assertDataDirFree, controlSocketPath, startControlSocket } from './control-socket.ts';
import type { ServiceContext } from './services/operations.ts';
import { createServiceContext } from './service-context.ts';
import { ensureAccountClient } from './domain/clients.ts';
import { createAccessTokenVerifier, type AccessTokenVerifier } from './domain/access-token-verifier.ts';
import { createLiveProvider, type LiveProvider } from './oidc/live-provider.ts';
import { startKeyWatch, type KeyWatch } from './key-watch.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { createMetricsServer } from './http/metrics.ts';
import { createAuditBuffer, type AuditBuffer } from './domain/audit-buffer.ts';
import { deleteAuditEventsBefore } from './store/audit.ts';
import { createUpstreamClient } from './upstream/client.ts';
import { createEngineCaches, type EngineCaches } from './oidc/engine-caches.ts';
import { startRevocationWatch, type RevocationWatch } from './revocation-watch.ts';
import { onChangeNoticed, type ChangeNotice } from './store/change-notices.ts';

export interface RunningServer {
  url: string;
  /** The engine serving right now (a key rotation swaps in a new one). */
  readonly provider: Provider;
  runtime: Runtime;
  /** Where Prometheus metrics are served when METRICS_PORT is set. */
  metricsUrl?: string;
  /** What CLI operations run against inside this process (control socket, tests). */
  operations: ServiceContext;
  /** One key poll now (scheduled rotation, reload), as the KEY_POLL_INTERVAL timer runs it. */
  pollKeys(): Promise<void>;
  /** The revocations this process answers introspection from (revocation-watch.ts). */
  revocations: RevocationWatch;
  close(): Promise<void>;
}

export interface ServerOptions {
  /** What scheduled work takes as now (default: the system clock); tests move their own. */
  clock?: Clock;
  /** TESSERA_DATA_DIR=:memory: only: start from this database image (store/db.ts). */
  memoryImage?: Blob;
  /** Embedded on disk: where a new data directory's pre-built image is looked for (default: the checkout's). */
  imageDir?: string;
}

export async function startServer(config: Config, logger: Logger, options: ServerOptions = {}): Promise<RunningServer> {
  const embeddedOnDisk = !config.databaseUrl && config.dataDir !== ':memory:';
  if (embeddedOnDisk) await assertDataDirFree(controlSocketPath(config.dataDir));
  const runtime = await openRuntime(config, logger, options);
  let control: Server | undefined;
  let keyWatch: KeyWatch | undefined;
  let revocations: RevocationWatch | undefined;
  let audit: AuditBuffer | undefined;
  try {
    const { created } = await ensureKeys(runtime.db, runtime.box);
    if (created.length) logger.info({ created }, 'generated keys');
    await ensureAccountClient(runtime.db, config.issuer);
    const verifier = createAccessTokenVerifier(runtime.db, config.issuer);
    const metrics = createMetrics();
    metrics.observeDatabase(runtime.db);
    audit = createAuditBuffer(runtime.db, logger);
    const caches = createEngineCaches();
    // Changes made by other processes, noticed at once (store/change-notices.ts); keyWatch is set below.
    const dropCached = (notice: ChangeNotice) => {
      if (notice.kind === 'client') caches.clients.delete(notice.id);
      else if (notice.kind === 'grant') caches.grants.delete(notice.id);
      else if (notice.kind === 'account') caches.accounts.delete(notice.id);
      else if (notice.kind === 'resource') {
        caches.resourceServers.delete(notice.id);
        caches.resourceScopes.delete('all');
      }
    };
    // This process's own changes, at once (before they commit; the notice after commit drops again).
    onChangeNoticed(runtime.db, dropCached);
    revocations = await startRevocationWatch(runtime, config, logger, (notice) => {
      if (notice.kind === 'keys') void keyWatch?.check();
      else dropCached(notice);
    });
    const observers = { metrics, audit, caches, revocations };
    const live = createLiveProvider(await buildProvider(config, logger, runtime, verifier, observers));
    // A rotation (here or in another process) builds a fresh engine with the new key set and swaps it in;
    // the host's cookie keys follow (app.ts reads them from the engine).
    keyWatch = await startKeyWatch(runtime, config, logger, async () => {
      live.replace(await buildProvider(config, logger, runtime, verifier, observers));
      verifier.invalidate();
    });
    const operations = createServiceContext(runtime, config, logger, {
      provider: async () => live.current,
      keysChanged: keyWatch.check,
      changed: (kind, id) => {
        if (kind === 'client') return caches.clients.delete(id);
        caches.resourceServers.delete(id);
        caches.resourceScopes.delete('all');
      },
    });
    control = embeddedOnDisk ? await startControlSocket(controlSocketPath(config.dataDir), operations, logger) : undefined;
    return await serveWith(config, logger, { runtime, live, verifier, operations, keyWatch, revocations, metrics, audit }, control);
  } catch (error) {
    keyWatch?.stop();
    await revocations?.stop();
    await audit?.stop();
    control?.close();
    await runtime.close();
    throw error;
  }
}

async function buildProvider(
  config: Config,
  logger: Logger,
  runtime: Runtime,
  verifier: AccessTokenVerifier,
  observers: { metrics?: Metrics; audit?: AuditBuffer; caches?: EngineCaches; revocations?: RevocationWatch } = {},
) {
  const { db, box } = runtime;
  const cookieKeys = await loadCookieKeys(db, box);
  const signingKeys = await loadSigningKeys(db, box);
  const { caches = createEngineCaches(), ...rest } = observers;
  return createProvider(config, { db, box, verifier, logger, signingKeys, cookieKeys, pages: enginePages, caches, ...rest });
}

/** The engine without an HTTP server, for CLI work that must sign (back-channel logout tokens). */
export async function createStandaloneProvider(config: Config, logger: Logger, runtime: Runtime): Promise<Provider> {
  await ensureKeys(runtime.db, runtime.box);
  return buildProvider(config, logger, runtime, createAccessTokenVerifier(runtime.db, config.issuer));
}

interface Engine {
  runtime: Runtime;
  live: LiveProvider;
  verifier: AccessTokenVerifier;
  operations: ServiceContext;
  keyWatch: KeyWatch;
  revocations: RevocationWatch;
  metrics: Metrics;
  audit: AuditBuffer;
}

async function serveWith(config: Config, logger: Logger, engine: Engine, control: Server | undefined): Promise<RunningServer> {
  const { runtime, live, verifier } = engine;
  const shutdown = new AbortController();
  const app = createApp({
    config,
    logger,
    db: runtime.db,
    live,
    hasher: runtime.hasher,
    verifier,
    operations: engine.operations,
    shutdown: shutdown.signal,
    metrics: engine.metrics,
    upstreamClient: createUpstreamClient({
      box: runtime.box,
      callbackUrl: (id) => `${config.issuer}/upstream/${id}/callback`,
      allowHttp: config.upstreamAllowHttp,
      timeoutSeconds: config.upstreamTimeoutSeconds,
    }),
  });

  const server: Server = createServer(app.callback());
  server.requestTimeout = 30_000;
  server.headersTimeout = 15_000;
  server.keepAliveTimeout = 5_000;
  const port = await listen(server, config.port, config.host);
  const metricsServer = config.metrics.port === undefined ? undefined : createMetricsServer(engine.metrics.registry);
  const metricsPort = metricsServer ? await listen(metricsServer, config.metrics.port!, config.metrics.host) : undefined;

  const cleanup = startCleanupLoop(runtime, config, logger);
  logger.info({ issuer: config.issuer, port, database: config.databaseUrl ? 'postgresql' : 'embedded (PGlite)' }, 'tessera listening');
  if (engine.operations.mailer?.mode === 'off' && config.databaseUrl) {
    logger.warn('email is off (SMTP_URL and MAIL_OUTBOX_DIR are unset): no password reset, email verification or account notices');
  } else if (engine.operations.mailer?.mode === 'outbox') {
    logger.warn({ outbox: config.mail.outboxDir }, 'SMTP_URL is not set: emails are written to the outbox directory, not sent');
  }

  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    ...(metricsPort !== undefined ? { metricsUrl: `http://${config.metrics.host === '0.0.0.0' ? '127.0.0.1' : config.metrics.host}:${metricsPort}/metrics` } : {}),
    get provider() {
      return live.current;
    },
    runtime,
    operations: engine.operations,
    pollKeys: engine.keyWatch.poll,
    revocations: engine.revocations,
    close() {
      closing ??= (async () => {
        shutdown.abort();
        // Draining: /readyz answers 503 so load balancers stop routing here, while everything they still
        // send is served (SHUTDOWN_DELAY; on Kubernetes a preStop sleep does the same).
        if (config.shutdownDelaySeconds > 0) await new Promise((r) => setTimeout(r, config.shutdownDelaySeconds * 1000));
        clearInterval(cleanup);
        engine.keyWatch.stop();
        await engine.revocations.stop();
        // Stop accepting; requests in flight finish (their connections close after the response), up to
        // SHUTDOWN_TIMEOUT, after which the remaining connections are cut.
        await new Promise<void>((resolve) => {
          const force = setTimeout(() => server.closeAllConnections(), config.shutdownTimeoutSeconds * 1000);
          // Node's close() also cuts every connection without a request in progress — including one just
          // accepted whose request is still on its way, which the client would see as a reset. So close()
          // only stops listening; connections idle a second later (kept-alive ones) are closed then, and
          // every response from now on carries Connection: close.
          const closeIdle = server.closeIdleConnections.bind(server);
          server.closeIdleConnections = () => {};
          const idle = setTimeout(closeIdle, 1000);
          server.close(() => {
            clearTimeout(force);
            clearTimeout(idle);
            resolve();
          });
        });
        await new Promise<void>((resolve) => (control ? control.close(() => resolve()) : resolve()));
        await new Promise<void>((resolve) => (metricsServer ? metricsServer.close(() => resolve()) : resolve()));
        // Emails still queued or being made (bounded: a stuck mail server does not hold shutdown).
        await engine.operations.mailer?.idle(10_000);
        await engine.audit.stop();
        await runtime.close();
      })();
      return closing;
    },
  };
}

/** Listens and answers the port actually bound (port 0: a free one). */
async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

function startCleanupLoop(runtime: Runtime, config: Config, logger: Logger): NodeJS.Timeout {
  let running = false;
  const timer = setInterval(async () => {
    if (running) return;
    running = true;
    try {
      const deleted = await deleteExpired(runtime.db);
      // AUDIT_RETENTION_DAYS: older audit events go (0 keeps them forever).
      if (config.auditRetentionDays > 0) {
        deleted.audit_events = await deleteAuditEventsBefore(runtime.db, new Date(Date.now() - config.auditRetentionDays * 86_400_000));
      }
      if (Object.values(deleted).some((n) => n > 0)) logger.debug({ deleted }, 'expired rows deleted');
    } catch (error) {
      logger.warn({ err: { message: (error as Error).message } }, 'expired-row clean-up failed; will retry');
    } finally {
      running = false;
    }
  }, config.cleanupIntervalSeconds * 1000);
  timer.unref();
  return timer;
}
