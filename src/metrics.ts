// Prometheus metrics (prom-client), one registry per server (no module-level singleton: every test builds
// its own). HTTP traffic is measured by http/middleware/metrics.ts; the engine's outcomes by
// oidc/observe.ts; the database by the knex query events below; keys and the pool on each scrape.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Db } from './store/db.ts';
import { listKeys } from './store/keys.ts';

export interface Metrics {
  registry: Registry;
  httpRequests: Histogram<'method' | 'route' | 'status'>;
  tokensIssued: Counter<'grant_type'>;
  introspections: Counter<'active'>;
  revocations: Counter<'outcome'>;
  logins: Counter<'result'>;
  /** Starts database measurements (pool usage, query latency, key age) for this database handle. */
  observeDatabase(db: Db): void;
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createMetrics(): Metrics {
  const registry = new Registry();
  // Process metrics, including nodejs_eventloop_lag_seconds and resident memory.
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const metrics: Metrics = {
    registry,
    httpRequests: new Histogram({
      name: 'tessera_http_request_duration_seconds',
      help: 'HTTP requests by method, route (a pattern, never a raw path) and status',
      labelNames: ['method', 'route', 'status'],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    tokensIssued: new Counter({ name: 'tessera_tokens_issued_total', help: 'Successful token endpoint responses by grant type', labelNames: ['grant_type'], registers }),
    introspections: new Counter({ name: 'tessera_introspections_total', help: 'Introspection responses by whether the token was active', labelNames: ['active'], registers }),
    revocations: new Counter({ name: 'tessera_revocations_total', help: 'Revocation endpoint requests by outcome', labelNames: ['outcome'], registers }),
    logins: new Counter({ name: 'tessera_logins_total', help: 'Password sign-ins by result (success, failure, locked)', labelNames: ['result'], registers }),
    observeDatabase(db) {
      const queryDuration = new Histogram({
        name: 'tessera_db_query_duration_seconds',
        help: 'Database query latency by outcome',
        labelNames: ['outcome'],
        buckets: LATENCY_BUCKETS,
        registers,
      });
      const started = new Map<string, number>();
      const finish = (outcome: string) => (_: unknown, query: { __knexQueryUid?: string }) => {
        const uid = query?.__knexQueryUid;
        const at = uid ? started.get(uid) : undefined;
        if (uid === undefined || at === undefined) return;
        started.delete(uid);
        queryDuration.observe({ outcome }, (performance.now() - at) / 1000);
      };
      db.on('query', (query: { __knexQueryUid?: string }) => {
        if (query.__knexQueryUid && started.size < 10_000) started.set(query.__knexQueryUid, performance.now());
      });
      db.on('query-response', finish('ok'));
      db.on('query-error', (error: unknown, query: { __knexQueryUid?: string }) => finish('error')(error, query));

      const pool = (db.client as { pool?: { numUsed(): number; numFree(): number; numPendingAcquires(): number; max: number } }).pool;
      new Gauge({
        name: 'tessera_db_pool_connections',
        help: 'Database pool connections by state (used, free, pending acquisitions, max)',
        labelNames: ['state'],
        registers,
        collect() {
          if (!pool) return;
          this.set({ state: 'used' }, pool.numUsed());
          this.set({ state: 'free' }, pool.numFree());
          this.set({ state: 'pending' }, pool.numPendingAcquires());
          this.set({ state: 'max' }, pool.max);
        },
      });
      new Gauge({
        name: 'tessera_key_age_seconds',
        help: 'Age of each current signing or cookie key since it started signing',
        labelNames: ['purpose', 'alg'],
        registers,
        async collect() {
          this.reset();
          try {
            for (const key of await listKeys(db)) {
              if (key.state !== 'current') continue;
              const since = (key.activatedAt ?? key.createdAt).getTime();
              this.set({ purpose: key.purpose, alg: key.alg ?? 'none' }, Math.round((Date.now() - since) / 1000));
            }
          } catch {
            // The database is down: the scrape still answers, without key ages.
          }
        },
      });
    },
  };
  return metrics;
}
