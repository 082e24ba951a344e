// Tessera itself: the same startServer as `tessera serve`, configured from the environment the parent gives
// (PostgreSQL when DATABASE_URL is set, else in-memory PGlite). Creates the fixtures the workloads need —
// one person, one client_credentials client with a resource scope, one web client — through the same
// operations the CLI uses, and reports them to the parent. With BENCH_SIBLING=1 it is a second process of the
// same deployment and makes no fixtures.
import { randomBytes } from 'node:crypto';
import { loadConfigOrExit } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { startServer } from '../../src/server.ts';
import { runOperation } from '../../src/services/operations.ts';
import { announceReady, answer, closeOnStop, reportStartFailure } from './ipc.ts';
import { countCleanup, countQueries } from './query-stats.ts';

const REDIRECT_URI = 'http://127.0.0.1:9/callback';
const RESOURCE_SCOPE = 'bench:read';

try {
  // The parent picks the port; the issuer is the loopback address the load generator uses.
  process.env.ISSUER ??= `http://127.0.0.1:${process.env.PORT}`;
  const config = loadConfigOrExit(process.env);
  const logger = createLogger(config.logLevel);
  const running = await startServer(config, logger);
  closeOnStop(() => running.close());
  const queries = countQueries(running.runtime.db);
  answer('query-stats', () => queries.snapshot());
  answer('query-stats-reset', () => queries.reset());
  answer('revocations', () => running.revocations.status());
  const cleanup = countCleanup(running.runtime.db);
  answer('cleanup-stats', () => cleanup.snapshot());
  answer('cleanup-stats-reset', () => cleanup.reset());

  // A second process of the same deployment (BENCH_SIBLING=1, same DATABASE_URL, TESSERA_SECRET and ISSUER as
  // the first, started once the first has migrated): it serves the fixtures the first one made.
  if (process.env.BENCH_SIBLING === '1') {
    announceReady(running.url, { database: config.databaseUrl ? 'postgresql' : 'pglite', sibling: true, poolMax: config.databasePoolMax });
  } else {
    const password = randomBytes(18).toString('base64url');
    const user = await runOperation(running.operations, 'user.create', {
      username: 'bench',
      password,
      email: 'bench@example.test',
      name: 'Bench User',
    });
    const service = await runOperation(running.operations, 'client.create', {
      name: 'Bench service',
      grantTypes: ['client_credentials'],
      scope: RESOURCE_SCOPE,
    });
    const web = await runOperation(running.operations, 'client.create', {
      name: 'Bench web app',
      redirectUris: [REDIRECT_URI],
      scope: 'openid offline_access',
    });
    // Like for like with the bare engine, which has only an ES256 key: this client's ID tokens (one per
    // refresh) are ES256 too. Tessera's default for clients is RS256 (what every OpenID client supports), whose
    // signing costs several times ES256's; operators have no switch for it, registrants do (RFC 7591), so the
    // bench sets the stored metadata directly.
    await running.runtime
      .db('clients')
      .where('id', web.client_id)
      .update({ metadata: running.runtime.db.raw(`metadata || '{"id_token_signed_response_alg":"ES256"}'::jsonb`) });
    running.operations.changed?.('client', web.client_id);

    announceReady(config.issuer, {
      database: config.databaseUrl ? 'postgresql' : 'pglite',
      service: { id: service.client_id, secret: service.client_secret },
      web: { id: web.client_id, secret: web.client_secret },
      redirectUri: REDIRECT_URI,
      scope: RESOURCE_SCOPE,
      audience: config.defaultAudience,
      login: { username: 'bench', password, accountId: (user as { id?: string }).id },
      poolMax: config.databasePoolMax,
    });
  }
} catch (error) {
  reportStartFailure(error);
}
