// npm run bench:growth [-- --duration 5 --warmup 1 --connections 32 --sizes 10000,100000,1000000,10000000
//                         --expired-share 0.2 --cleanup-interval 5]
//
// Does Tessera slow down as the `tokens` table grows? Against Tessera on PostgreSQL (DATABASE_URL required; a
// fresh tessera_bench_* database is created and dropped), measures opaque-token introspection and refresh
// rotation with the table holding the fixtures only, then 10 thousand, 100 thousand, 1 million and 10 million
// rows, with the expired-row clean-up running throughout.
// Filler rows are generated inside PostgreSQL (INSERT … SELECT generate_series, never over HTTP): random
// SHA-256-shaped id_hash, AccessToken/RefreshToken, random grant_id, '{}' payload. Per step, first the live
// rows (expiring between 30 minutes and 14 days from now) up to (1 − share) of the size, then VACUUM ANALYZE
// and a CHECKPOINT so the measurement does not pay for the bulk load; then, just before each workload,
// already-expired rows topped up to the rest of the size (and another CHECKPOINT): a backlog the clean-up
// deletes while the workload runs. The clean-up is Tessera's own loop (server.ts → store/cleanup.ts deleteExpired: batches of
// 1,000, at most 50 batches per table per run, FOR UPDATE SKIP LOCKED) at CLEANUP_INTERVAL, which the bench
// server gets as --cleanup-interval (5 s instead of the default 60 s, so it runs in every measured window);
// what it deleted in each window is counted in the server (knex query events) and reported.
// Writes bench/results/growth.md.
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import pg from 'pg';
import { killLiveChildren, startChild, type RunningChild } from './lib/child.ts';
import { createBenchDatabase, type BenchDatabase } from './lib/database.ts';
import { cpuBusy, machineDescription, numberFlag, parseFlags, ROOT, waitForQuiet, writeResult } from './lib/environment.ts';
import { runLoad, type Measurement } from './lib/load.ts';
import { ServerSession } from './lib/workloads.ts';

const USAGE = `usage: npm run bench:growth -- [--duration <s>=5] [--warmup <s>=1] [--connections <n>=32]
                              [--sizes 10000,100000,1000000,10000000] [--expired-share <0-0.9>=0.2]
                              [--cleanup-interval <s>=5] [--wait-quiet <s>=0] [--no-write]`;

let flags;
let duration: number, warmup: number, connections: number, sizes: number[], waitQuiet: number, expiredShare: number, cleanupInterval: number;
try {
  flags = parseFlags(process.argv.slice(2), ['no-write', 'help'], ['duration', 'warmup', 'connections', 'sizes', 'wait-quiet', 'expired-share', 'cleanup-interval']);
  if (flags.help) {
    console.log(USAGE);
    process.exit(0);
  }
  duration = numberFlag(flags, 'duration', 5, { min: 1 });
  warmup = numberFlag(flags, 'warmup', 1, { min: 0 });
  connections = numberFlag(flags, 'connections', 32, { min: 1, integer: true });
  waitQuiet = numberFlag(flags, 'wait-quiet', 0, { min: 0 });
  expiredShare = numberFlag(flags, 'expired-share', 0.2, { min: 0 });
  if (expiredShare > 0.9) throw new Error('--expired-share must be between 0 and 0.9');
  cleanupInterval = numberFlag(flags, 'cleanup-interval', 5, { min: 1, integer: true });
  sizes = typeof flags.sizes === 'string' ? flags.sizes.split(',').map((s) => Number(s.trim())) : [10_000, 100_000, 1_000_000, 10_000_000];
  if (sizes.some((n) => !Number.isInteger(n) || n < 0)) throw new Error('--sizes must be a comma-separated list of row counts');
  sizes.sort((a, b) => a - b);
} catch (error) {
  console.error(`${(error as Error).message}\n${USAGE}`);
  process.exit(2);
}

const databaseUrl = process.env.DATABASE_URL || undefined;
if (!databaseUrl) {
  console.log('bench:growth skipped: it needs PostgreSQL. Set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres); a fresh database is created and dropped.');
  process.exit(0);
}

const log = (line = '') => process.stdout.write(`${line}\n`);
const fmt = (v: number, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : '–');

let database: BenchDatabase | undefined;
let child: RunningChild | undefined;
let sql: pg.Client | undefined;
async function cleanUp() {
  await sql?.end().catch(() => undefined);
  await child?.stop().catch(() => killLiveChildren());
  await database?.drop().catch((error) => console.error(`could not drop ${database?.name}: ${(error as Error).message}`));
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping the server and dropping the benchmark database…`);
    killLiveChildren();
    void cleanUp().finally(() => process.exit(130));
  });
}

// Shaped like Tessera's rows: id_hash is base64url(SHA-256) (store/bearer-hash.ts), grant ids are 21 chars.
// $1 rows; $2 = true: already expired (up to a day ago), else live for 30 minutes to 14 days.
const FILL = `
INSERT INTO tokens (id_hash, model, grant_id, payload, expires_at)
SELECT translate(rtrim(encode(sha256(convert_to(gen_random_uuid()::text || g::text, 'UTF8')), 'base64'), '='), '+/', '-_'),
       CASE WHEN g % 2 = 0 THEN 'AccessToken' ELSE 'RefreshToken' END,
       substr(md5(random()::text || g::text), 1, 21),
       '{}'::jsonb,
       CASE WHEN $2::boolean THEN now() - random() * interval '1 day'
            ELSE now() + interval '30 minutes' + random() * interval '14 days' END
FROM generate_series(1, $1::int) AS g`;

interface CleanupStats {
  statements: number;
  rows: Record<string, number>;
  ms: number;
}

interface Step {
  label: string;
  rows: number;
  expired: number;
  size: string;
  fillSeconds: number;
  busy: number;
  introspection?: Measurement;
  introspectionError?: string;
  introspectionCleanup?: CleanupStats;
  refresh?: Measurement;
  refreshError?: string;
  refreshCleanup?: CleanupStats;
}

const steps: Step[] = [];
log(`Tessera table-growth benchmark: ${connections} connections, ${warmup} s warm-up + ${duration} s measured per workload`);
for (const line of machineDescription()) log(`  ${line}`);
const busyAtStart = await cpuBusy(1000);
if (busyAtStart > 0.3) log(`  warning: the machine is busy (cores ${(busyAtStart * 100).toFixed(0)}% busy before starting); figures will be noisy`);

try {
  database = await createBenchDatabase(databaseUrl);
  log(`Database: PostgreSQL ${database.serverVersion}, fresh database ${database.name} (dropped afterwards)`);
  child = await startChild('tessera', {
    env: {
      HOST: '127.0.0.1',
      TESSERA_SECRET: randomBytes(36).toString('base64url'),
      TESSERA_DATA_DIR: ':memory:',
      LOG_LEVEL: 'silent',
      DATABASE_URL: database.url,
      CLEANUP_INTERVAL: String(cleanupInterval),
    },
  });
  log(`Tessera at ${child.url} (pid ${child.pid}); expired-row clean-up every ${cleanupInterval} s (CLEANUP_INTERVAL)`);
  sql = new pg.Client({ connectionString: database.url });
  await sql.connect();

  // Warm the server up (JIT, connection pool) once, unmeasured, so the first step is not penalised.
  {
    const session = new ServerSession(child, connections);
    for (const id of ['introspection_opaque', 'refresh'] as const) {
      const prepared = await session.prepare(id);
      if (prepared.status === 'ready') await runLoad(prepared.load, { url: child.url, connections, durationSeconds: 3, warmupSeconds: 0 });
    }
  }

  const counts = async () => {
    const row = (await sql!.query('SELECT count(*)::bigint AS n, count(*) FILTER (WHERE expires_at < now())::bigint AS expired FROM tokens')).rows[0];
    return { rows: Number(row.n), expired: Number(row.expired) };
  };
  const size = async () => String((await sql!.query("SELECT pg_size_pretty(pg_total_relation_size('tokens')) AS s")).rows[0].s);
  /** Inserts `n` filler rows in chunks of a million (one statement each), logging progress on big fills. */
  const fill = async (n: number, expired: boolean) => {
    const t0 = performance.now();
    for (let done = 0; done < n; ) {
      const chunk = Math.min(1_000_000, n - done);
      await sql!.query(FILL, [chunk, expired]);
      done += chunk;
      if (n > 1_000_000) log(`  … ${done.toLocaleString('en-US')} of ${n.toLocaleString('en-US')} ${expired ? 'expired' : 'live'} rows (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    }
  };
  /** Brings the expired backlog back to `expiredTarget` rows (the clean-up ate some since). */
  const topUpExpired = async (expiredTarget: number) => {
    const missing = expiredTarget - (await counts()).expired;
    if (missing <= 0) return;
    await fill(missing, true);
    await sql!.query('CHECKPOINT');
  };
  /** Tops the expired backlog up, runs one measured workload, returns what the clean-up did meanwhile. */
  const measuredWithCleanup = async (expiredTarget: number, run: () => Promise<Measurement>) => {
    await topUpExpired(expiredTarget);
    await child!.ask('cleanup-stats-reset');
    const m = await run();
    return { m, cleanup: await child!.ask<CleanupStats>('cleanup-stats') };
  };
  const cleanupText = (c: CleanupStats | undefined) =>
    c ? `clean-up meanwhile: ${c.statements} deletes, ${(c.rows.tokens ?? 0).toLocaleString('en-US')} token rows${Object.entries(c.rows).filter(([t, n]) => t !== 'tokens' && n > 0).map(([t, n]) => `, ${n} ${t}`).join('')}, ${c.ms.toFixed(0)} ms in its statements` : '';

  for (const target of [0, ...sizes]) {
    const step: Step = { label: target === 0 ? 'fixtures only' : target.toLocaleString('en-US'), rows: 0, expired: 0, size: '', fillSeconds: 0, busy: 0 };
    // The live part of the size first (the expired rows of the previous step are gone or going: the
    // clean-up deletes them), then vacuum and checkpoint, then the expired backlog right before measuring.
    const liveTarget = Math.round(target * (1 - expiredShare));
    const expiredTarget = target - liveTarget;
    const before = await counts();
    const t0 = performance.now();
    const liveBefore = before.rows - before.expired;
    if (liveTarget > liveBefore) {
      log();
      log(`filling to ${target.toLocaleString('en-US')} rows: ${(liveTarget - liveBefore).toLocaleString('en-US')} live rows…`);
      await fill(liveTarget - liveBefore, false);
      await sql.query('VACUUM (ANALYZE) tokens');
      await sql.query('CHECKPOINT');
    }
    // Fresh sign-ins per step, after the (possibly long) fill: new refresh-token chains (a stopped run may
    // leave a chain's last rotation unseen) and a fresh access token (they live ACCESS_TOKEN_TTL = 10 minutes).
    const session = new ServerSession(child, connections);
    await session.tokenSets();
    await topUpExpired(expiredTarget);
    if (target > 0) step.fillSeconds = (performance.now() - t0) / 1000;
    ({ rows: step.rows, expired: step.expired } = await counts());
    step.size = await size();
    log();
    step.busy = await waitForQuiet(waitQuiet, 0.2, log);
    log(`tokens: ${step.rows.toLocaleString('en-US')} rows (${step.expired.toLocaleString('en-US')} expired), ${step.size}${step.fillSeconds ? ` (filled in ${step.fillSeconds.toFixed(1)} s)` : ''}; before measuring: cores ${(step.busy * 100).toFixed(0)}% busy (anything: other sessions, PostgreSQL background work), load average ${loadavg()[0]!.toFixed(2)}`);

    const introspection = await session.prepare('introspection_opaque');
    if (introspection.status === 'ready') {
      const { m, cleanup } = await measuredWithCleanup(expiredTarget, () => runLoad(introspection.load, { url: child!.url, connections, durationSeconds: duration, warmupSeconds: warmup }));
      step.introspection = m;
      step.introspectionCleanup = cleanup;
      log(`  introspection (opaque)  ${m.requestsPerSecond.toFixed(0).padStart(6)} req/s  p50 ${fmt(m.p50).padStart(7)} ms  p99 ${fmt(m.p99).padStart(7)} ms  errors ${m.errors}; ${cleanupText(cleanup)}`);
    } else {
      step.introspectionError = introspection.reason;
      log(`  introspection (opaque)  ${introspection.status}: ${introspection.reason}`);
    }
    const refresh = await session.prepare('refresh');
    if (refresh.status === 'ready') {
      const { m, cleanup } = await measuredWithCleanup(expiredTarget, () => runLoad(refresh.load, { url: child!.url, connections, durationSeconds: duration, warmupSeconds: warmup }));
      step.refresh = m;
      step.refreshCleanup = cleanup;
      log(`  refresh rotation        ${m.requestsPerSecond.toFixed(0).padStart(6)} req/s  p50 ${fmt(m.p50).padStart(7)} ms  p99 ${fmt(m.p99).padStart(7)} ms  errors ${m.errors}; ${cleanupText(cleanup)}`);
    } else {
      step.refreshError = refresh.reason;
      log(`  refresh rotation        ${refresh.status}: ${refresh.reason}`);
    }
    steps.push(step);
  }
} catch (error) {
  console.error(`benchmark aborted: ${(error as Error).stack ?? error}`);
  await cleanUp();
  process.exit(1);
}
await cleanUp();

const cell = (m: Measurement | undefined, error: string | undefined) =>
  m ? `${m.requestsPerSecond.toFixed(0)} | ${fmt(m.p50)} | ${fmt(m.p99)} | ${m.errors}` : `${error ? 'failed' : '–'} | – | – | –`;
const deleted = (c: CleanupStats | undefined) => (c ? (c.rows.tokens ?? 0).toLocaleString('en-US') : '–');
// Flatness is judged from the smallest filled size to the largest (the fixtures-only row is shown, not judged).
const sized = steps.filter((s) => s.label !== 'fixtures only');
const base = sized[0];
const r = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b > 0 ? `${(a / b).toFixed(2)}×` : '–');
type Pick = (s: Step) => number | undefined;
const spread = (pick: Pick) => {
  const b = base ? pick(base) : undefined;
  const values = sized.map(pick).filter((v): v is number => v !== undefined && Number.isFinite(v));
  if (b === undefined || !(b > 0) || values.length < 2) return undefined;
  return { min: Math.min(...values) / b, max: Math.max(...values) / b };
};
const verdict = (pick: Pick) => {
  const sp = spread(pick);
  if (!sp) return '–';
  const flat = sp.min >= 0.9 && sp.max <= 1.1;
  return `${sp.min.toFixed(2)}×–${sp.max.toFixed(2)}× → ${flat ? 'flat within ±10%' : '**not** within ±10%'}`;
};
const report = [
  '# Tessera: latency as the tokens table grows',
  '',
  `- Date: ${new Date().toISOString()}`,
  ...machineDescription().map((l) => `- ${l}`),
  `- Tessera on PostgreSQL ${database?.serverVersion ?? ''} (fresh database), LOG_LEVEL=silent; autocannon ${connections} connections, ${warmup} s warm-up + ${duration} s measured per workload`,
  `- Filler rows generated in PostgreSQL (\`INSERT … SELECT generate_series\`, a million rows per statement; no HTTP): random base64url SHA-256 id_hash, half AccessToken / half RefreshToken, random grant_id, \`'{}'\` payload, no grants rows. Per step: the live rows (expiring 30 min – 14 days ahead) up to ${((1 - expiredShare) * 100).toFixed(0)}% of the size, then \`VACUUM (ANALYZE) tokens\` and \`CHECKPOINT\`; then, right before each workload, already-expired rows (up to a day old) topped up to ${(expiredShare * 100).toFixed(0)}% of the size (what the clean-up deleted since is put back), and another \`CHECKPOINT\``,
  `- Clean-up running: Tessera's own expired-row loop (server.ts → store/cleanup.ts: batches of 1,000 rows, at most 50 batches per table per run, \`FOR UPDATE SKIP LOCKED\`) every ${cleanupInterval} s (\`CLEANUP_INTERVAL=${cleanupInterval}\` for the bench server; the default is 60 s), so it runs in every measured window. "deleted" counts the token rows its statements deleted during that workload's run (warm-up included), from knex's query events in the server`,
  '- The server is warmed up once (3 s of each workload, unmeasured) before the first step',
  '- Row counts are taken just before measuring; the refresh runs add rows as they go (a new refresh token and access token per request)',
  '- Opaque introspection sends no token_type_hint; refresh uses one refresh-token chain per connection (fresh sign-ins per step, after the fill)',
  '',
  '| tokens rows | of them expired | table + indexes | introspection req/s | p50 ms | p99 ms | errors | deleted meanwhile | refresh req/s | p50 ms | p99 ms | errors | deleted meanwhile | cores busy before (anything) |',
  '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...steps.map(
    (s) =>
      `| ${s.rows.toLocaleString('en-US')} (${s.label}) | ${s.expired.toLocaleString('en-US')} | ${s.size} | ${cell(s.introspection, s.introspectionError)} | ${deleted(s.introspectionCleanup)} | ${cell(s.refresh, s.refreshError)} | ${deleted(s.refreshCleanup)} | ${(s.busy * 100).toFixed(0)}% busy |`,
  ),
  '',
  ...(base
    ? [
        `Relative to the ${base.label}-row step (p50 / p99):`,
        '',
        '| tokens rows | introspection p50 | introspection p99 | refresh p50 | refresh p99 |',
        '| ---: | ---: | ---: | ---: | ---: |',
        ...steps.map(
          (s) =>
            `| ${s.rows.toLocaleString('en-US')} (${s.label}) | ${r(s.introspection?.p50, base.introspection?.p50)} | ${r(s.introspection?.p99, base.introspection?.p99)} | ${r(s.refresh?.p50, base.refresh?.p50)} | ${r(s.refresh?.p99, base.refresh?.p99)} |`,
        ),
        '',
        `Flat within ±10% from ${base.label} to ${sized.at(-1)!.label} rows (issue 15's target; range of each figure relative to the ${base.label} step):`,
        '',
        `- introspection p50: ${verdict((s) => s.introspection?.p50)}; p99: ${verdict((s) => s.introspection?.p99)}`,
        `- refresh p50: ${verdict((s) => s.refresh?.p50)}; p99: ${verdict((s) => s.refresh?.p99)}`,
      ]
    : []),
].join('\n');
log();
log(report);
if (flags['no-write'] !== true) {
  const path = writeResult('growth.md', report);
  log();
  log(`Written to ${path.replace(`${ROOT}/`, '')}`);
}
process.exit(0);
