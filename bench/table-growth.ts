// npm run bench:growth [-- --duration 5 --warmup 1 --rounds 3 --connections 32 --sizes 10000,100000,1000000,10000000
//                         --expired-share 0.2 --cleanup-interval 5]
//
// Does Tessera slow down as the `tokens` table grows? Against Tessera on PostgreSQL (DATABASE_URL required),
// measures opaque-token introspection and refresh rotation with the table holding the fixtures only, 10
// thousand, 100 thousand, 1 million and 10 million rows, with the expired-row clean-up running throughout.
// Each size has its own fresh tessera_bench_* database (dropped afterwards) and its own Tessera process, all
// filled first; then the sizes are measured in --rounds rounds, one size after another in an order that
// rotates each round, and each size's figures are the medians over the rounds. On a machine shared with other
// work, measuring the sizes one after another in a single pass compares the machine's load, not the sizes
// (a first version did: the 1-million step came out 3× slower than the 10-million one); interleaving spreads
// that load over all sizes alike.
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

const USAGE = `usage: npm run bench:growth -- [--duration <s>=5] [--warmup <s>=1] [--rounds <n>=3] [--connections <n>=32]
                              [--sizes 10000,100000,1000000,10000000] [--expired-share <0-0.9>=0.2]
                              [--cleanup-interval <s>=5] [--wait-quiet <s>=0] [--no-write]`;

let flags;
let duration: number, warmup: number, rounds: number, connections: number, sizes: number[], waitQuiet: number, expiredShare: number, cleanupInterval: number;
try {
  flags = parseFlags(process.argv.slice(2), ['no-write', 'help'], ['duration', 'warmup', 'rounds', 'connections', 'sizes', 'wait-quiet', 'expired-share', 'cleanup-interval']);
  if (flags.help) {
    console.log(USAGE);
    process.exit(0);
  }
  duration = numberFlag(flags, 'duration', 5, { min: 1 });
  warmup = numberFlag(flags, 'warmup', 1, { min: 0 });
  rounds = numberFlag(flags, 'rounds', 3, { min: 1, integer: true });
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
  console.log('bench:growth skipped: it needs PostgreSQL. Set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres); fresh databases are created and dropped.');
  process.exit(0);
}

const log = (line = '') => process.stdout.write(`${line}\n`);
const fmt = (v: number | undefined, d = 2) => (v !== undefined && Number.isFinite(v) ? v.toFixed(d) : '–');

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

/** One size: its own database and Tessera process. */
interface Instance {
  target: number;
  label: string;
  liveTarget: number;
  expiredTarget: number;
  database: BenchDatabase;
  child: RunningChild;
  sql: pg.Client;
  fillSeconds: number;
}

/** One size measured once (one round). */
interface Sample {
  round: number;
  rows: number;
  expired: number;
  busy: number;
  introspection?: Measurement;
  introspectionCleanup?: CleanupStats;
  refresh?: Measurement;
  refreshCleanup?: CleanupStats;
  errors: string[];
}

const instances: Instance[] = [];
const samples = new Map<Instance, Sample[]>();
/** Every database created, dropped at the end (also one whose server failed to start). */
const databases: BenchDatabase[] = [];
async function cleanUp() {
  await Promise.all(instances.map((i) => i.sql.end().catch(() => undefined)));
  await Promise.all(instances.map((i) => i.child.stop())).catch(() => killLiveChildren());
  for (const d of databases) await d.drop().catch((error) => console.error(`could not drop ${d.name}: ${(error as Error).message}`));
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping the servers and dropping the benchmark databases…`);
    killLiveChildren();
    void cleanUp().finally(() => process.exit(130));
  });
}

const counts = async (i: Instance) => {
  const row = (await i.sql.query('SELECT count(*)::bigint AS n, count(*) FILTER (WHERE expires_at < now())::bigint AS expired FROM tokens')).rows[0];
  return { rows: Number(row.n), expired: Number(row.expired) };
};
const size = async (i: Instance) => String((await i.sql.query("SELECT pg_size_pretty(pg_total_relation_size('tokens')) AS s")).rows[0].s);
/** Inserts `n` filler rows in chunks of a million (one statement each), logging progress on big fills. */
async function fill(i: Instance, n: number, expired: boolean) {
  const t0 = performance.now();
  for (let done = 0; done < n; ) {
    const chunk = Math.min(1_000_000, n - done);
    await i.sql.query(FILL, [chunk, expired]);
    done += chunk;
    if (n > 1_000_000) log(`  … ${done.toLocaleString('en-US')} of ${n.toLocaleString('en-US')} ${expired ? 'expired' : 'live'} rows (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
}
/** Brings the expired backlog back to the instance's target (the clean-up ate some since). */
async function topUpExpired(i: Instance) {
  const missing = i.expiredTarget - (await counts(i)).expired;
  if (missing <= 0) return;
  await fill(i, missing, true);
  await i.sql.query('CHECKPOINT');
}
/** Tops the expired backlog up, runs one measured workload, returns what the clean-up did meanwhile. */
async function measuredWithCleanup(i: Instance, run: () => Promise<Measurement>) {
  await topUpExpired(i);
  await i.child.ask('cleanup-stats-reset');
  const m = await run();
  return { m, cleanup: await i.child.ask<CleanupStats>('cleanup-stats') };
}
const cleanupText = (c: CleanupStats | undefined) =>
  c ? `clean-up meanwhile: ${c.statements} deletes, ${(c.rows.tokens ?? 0).toLocaleString('en-US')} token rows${Object.entries(c.rows).filter(([t, n]) => t !== 'tokens' && n > 0).map(([t, n]) => `, ${n} ${t}`).join('')}, ${c.ms.toFixed(0)} ms in its statements` : '';

log(`Tessera table-growth benchmark: ${connections} connections, ${warmup} s warm-up + ${duration} s measured per workload, ${rounds} rounds over the sizes`);
for (const line of machineDescription()) log(`  ${line}`);
const busyAtStart = await cpuBusy(1000);
if (busyAtStart > 0.3) log(`  warning: the machine is busy (cores ${(busyAtStart * 100).toFixed(0)}% busy before starting); figures will be noisy`);
let serverVersion = '';

try {
  // One database and one Tessera process per size, each filled before any measuring.
  for (const target of [0, ...sizes]) {
    const database = await createBenchDatabase(databaseUrl);
    databases.push(database);
    serverVersion = database.serverVersion;
    const child = await startChild('tessera', {
      env: {
        HOST: '127.0.0.1',
        TESSERA_SECRET: randomBytes(36).toString('base64url'),
        TESSERA_DATA_DIR: ':memory:',
        LOG_LEVEL: 'silent',
        DATABASE_URL: database.url,
        CLEANUP_INTERVAL: String(cleanupInterval),
      },
    });
    const sql = new pg.Client({ connectionString: database.url });
    await sql.connect();
    const liveTarget = Math.round(target * (1 - expiredShare));
    const instance: Instance = { target, label: target === 0 ? 'fixtures only' : target.toLocaleString('en-US'), liveTarget, expiredTarget: target - liveTarget, database, child, sql, fillSeconds: 0 };
    instances.push(instance);
    samples.set(instance, []);
    log();
    log(`${instance.label}: database ${database.name}, Tessera at ${child.url} (pid ${child.pid}), clean-up every ${cleanupInterval} s (CLEANUP_INTERVAL)`);
    if (liveTarget > 0) {
      const t0 = performance.now();
      log(`  filling ${liveTarget.toLocaleString('en-US')} live rows…`);
      await fill(instance, liveTarget, false);
      await sql.query('VACUUM (ANALYZE) tokens');
      await sql.query('CHECKPOINT');
      instance.fillSeconds = (performance.now() - t0) / 1000;
      log(`  ${(await counts(instance)).rows.toLocaleString('en-US')} rows, ${await size(instance)} (${instance.fillSeconds.toFixed(1)} s with VACUUM and CHECKPOINT)`);
    }
  }

  // Warm every server up (JIT, connection pool) once, unmeasured.
  for (const i of instances) {
    const session = new ServerSession(i.child, connections);
    for (const id of ['introspection_opaque', 'refresh'] as const) {
      const prepared = await session.prepare(id);
      if (prepared.status === 'ready') await runLoad(prepared.load, { url: i.child.url, connections, durationSeconds: 3, warmupSeconds: 0 });
    }
  }

  for (let round = 0; round < rounds; round++) {
    log();
    log(`Round ${round + 1} of ${rounds}`);
    for (let k = 0; k < instances.length; k++) {
      const i = instances[(k + round) % instances.length]!;
      const sample: Sample = { round: round + 1, rows: 0, expired: 0, busy: 0, errors: [] };
      samples.get(i)!.push(sample);
      // Fresh sign-ins per measurement: new refresh-token chains (a stopped run may leave a chain's last
      // rotation unseen) and a fresh access token (they live ACCESS_TOKEN_TTL = 10 minutes).
      const session = new ServerSession(i.child, connections);
      await session.tokenSets();
      await topUpExpired(i);
      ({ rows: sample.rows, expired: sample.expired } = await counts(i));
      sample.busy = await waitForQuiet(waitQuiet, 0.2, log);
      log(`  ${i.label}: ${sample.rows.toLocaleString('en-US')} rows (${sample.expired.toLocaleString('en-US')} expired); before measuring: cores ${(sample.busy * 100).toFixed(0)}% busy, load average ${loadavg()[0]!.toFixed(2)}`);
      const introspection = await session.prepare('introspection_opaque');
      if (introspection.status === 'ready') {
        const { m, cleanup } = await measuredWithCleanup(i, () => runLoad(introspection.load, { url: i.child.url, connections, durationSeconds: duration, warmupSeconds: warmup }));
        sample.introspection = m;
        sample.introspectionCleanup = cleanup;
        log(`    introspection (opaque)  ${m.requestsPerSecond.toFixed(0).padStart(6)} req/s  p50 ${fmt(m.p50).padStart(7)} ms  p99 ${fmt(m.p99).padStart(7)} ms  errors ${m.errors}; ${cleanupText(cleanup)}`);
      } else {
        sample.errors.push(`introspection: ${introspection.reason}`);
        log(`    introspection (opaque)  ${introspection.status}: ${introspection.reason}`);
      }
      const refresh = await session.prepare('refresh');
      if (refresh.status === 'ready') {
        const { m, cleanup } = await measuredWithCleanup(i, () => runLoad(refresh.load, { url: i.child.url, connections, durationSeconds: duration, warmupSeconds: warmup }));
        sample.refresh = m;
        sample.refreshCleanup = cleanup;
        log(`    refresh rotation        ${m.requestsPerSecond.toFixed(0).padStart(6)} req/s  p50 ${fmt(m.p50).padStart(7)} ms  p99 ${fmt(m.p99).padStart(7)} ms  errors ${m.errors}; ${cleanupText(cleanup)}`);
      } else {
        sample.errors.push(`refresh: ${refresh.reason}`);
        log(`    refresh rotation        ${refresh.status}: ${refresh.reason}`);
      }
    }
  }
  for (const i of instances) (i as Instance & { finalSize?: string }).finalSize = await size(i);
} catch (error) {
  console.error(`benchmark aborted: ${(error as Error).stack ?? error}`);
  await cleanUp();
  process.exit(1);
}
await cleanUp();

const median = (values: Array<number | undefined>) => {
  const v = values.filter((x): x is number => x !== undefined && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  return v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
};
interface WorkloadSummary {
  rps?: number;
  p50?: number;
  p99?: number;
  errors: number;
  deleted: number;
}
interface Summary {
  i: Instance;
  rows: number;
  expired: number;
  size: string;
  intro: WorkloadSummary;
  refresh: WorkloadSummary;
  busy?: number;
}
const summaries: Summary[] = instances.map((i) => {
  const list = samples.get(i)!;
  const sum = (pick: (s: Sample) => number | undefined) => list.reduce((a, s) => a + (pick(s) ?? 0), 0);
  // One workload's medians over the rounds, its errors and the clean-up's deleted token rows summed.
  const workload = (measured: (s: Sample) => Measurement | undefined, cleanup: (s: Sample) => CleanupStats | undefined): WorkloadSummary => ({
    rps: median(list.map((s) => measured(s)?.requestsPerSecond)),
    p50: median(list.map((s) => measured(s)?.p50)),
    p99: median(list.map((s) => measured(s)?.p99)),
    errors: sum((s) => measured(s)?.errors),
    deleted: sum((s) => cleanup(s)?.rows.tokens),
  });
  return {
    i,
    rows: median(list.map((s) => s.rows)) ?? 0,
    expired: median(list.map((s) => s.expired)) ?? 0,
    size: (i as Instance & { finalSize?: string }).finalSize ?? '?',
    intro: workload((s) => s.introspection, (s) => s.introspectionCleanup),
    refresh: workload((s) => s.refresh, (s) => s.refreshCleanup),
    busy: median(list.map((s) => s.busy)),
  };
});
const sized = summaries.filter((s) => s.i.target > 0);
const base = sized[0];
const r = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b > 0 ? `${(a / b).toFixed(2)}×` : '–');
type Pick = (s: Summary) => number | undefined;
const verdict = (pick: Pick) => {
  const b = base ? pick(base) : undefined;
  const values = sized.map(pick).filter((v): v is number => v !== undefined && Number.isFinite(v));
  if (b === undefined || !(b > 0) || values.length < 2) return '–';
  const min = Math.min(...values) / b;
  const max = Math.max(...values) / b;
  return `${min.toFixed(2)}×–${max.toFixed(2)}× → ${min >= 0.9 && max <= 1.1 ? 'flat within ±10%' : '**not** within ±10%'}`;
};
const n = (v: number | undefined) => (v === undefined ? '–' : Math.round(v).toLocaleString('en-US'));
const report = [
  '# Tessera: latency as the tokens table grows',
  '',
  `- Date: ${new Date().toISOString()}`,
  ...machineDescription().map((l) => `- ${l}`),
  `- Tessera on PostgreSQL ${serverVersion}, LOG_LEVEL=silent; one fresh database and one Tessera process per size, all filled first; autocannon ${connections} connections, ${warmup} s warm-up + ${duration} s measured per workload`,
  `- ${rounds} rounds: each round measures every size once (introspection, then refresh), the order of the sizes rotating from round to round; each size's figures below are the **medians over the rounds** (errors and deleted rows: sums). Other work on the machine thus falls on all sizes alike instead of on whichever size happened to run while the machine was busy`,
  `- Filler rows generated in PostgreSQL (\`INSERT … SELECT generate_series\`, a million rows per statement; no HTTP): random base64url SHA-256 id_hash, half AccessToken / half RefreshToken, random grant_id, \`'{}'\` payload, no grants rows. Live rows (expiring 30 min – 14 days ahead) up to ${((1 - expiredShare) * 100).toFixed(0)}% of the size, then \`VACUUM (ANALYZE) tokens\` and \`CHECKPOINT\`; right before each workload, already-expired rows (up to a day old) topped up to ${(expiredShare * 100).toFixed(0)}% of the size (what the clean-up deleted since is put back), and another \`CHECKPOINT\``,
  `- Clean-up running: Tessera's own expired-row loop (server.ts → store/cleanup.ts: batches of 1,000 rows, at most 50 batches per table per run, \`FOR UPDATE SKIP LOCKED\`) every ${cleanupInterval} s in every process (\`CLEANUP_INTERVAL=${cleanupInterval}\` for the bench servers; the default is 60 s), so it runs in every measured window — and, in the idle processes of the other sizes, in the background. "deleted" counts the token rows the measured process's clean-up deleted during that workload's runs (warm-up included), from knex's query events in the server`,
  '- Each server is warmed up once (3 s of each workload, unmeasured); fresh sign-ins before each measurement; the refresh runs add rows as they go',
  '- Opaque introspection sends no token_type_hint; refresh uses one refresh-token chain per connection',
  '',
  '| tokens rows (median over rounds) | of them expired | table + indexes at the end | introspection req/s | p50 ms | p99 ms | errors | deleted meanwhile | refresh req/s | p50 ms | p99 ms | errors | deleted meanwhile | cores busy before (median) |',
  '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...summaries.map(
    (s) =>
      `| ${n(s.rows)} (${s.i.label}) | ${n(s.expired)} | ${s.size} | ${n(s.intro.rps)} | ${fmt(s.intro.p50)} | ${fmt(s.intro.p99)} | ${s.intro.errors} | ${n(s.intro.deleted)} | ${n(s.refresh.rps)} | ${fmt(s.refresh.p50)} | ${fmt(s.refresh.p99)} | ${s.refresh.errors} | ${n(s.refresh.deleted)} | ${s.busy === undefined ? '–' : `${(s.busy * 100).toFixed(0)}%`} |`,
  ),
  '',
  ...(base
    ? [
        `Relative to the ${base.i.label}-row size (medians, p50 / p99):`,
        '',
        '| tokens rows | introspection p50 | introspection p99 | refresh p50 | refresh p99 |',
        '| ---: | ---: | ---: | ---: | ---: |',
        ...summaries.map((s) => `| ${s.i.label} | ${r(s.intro.p50, base.intro.p50)} | ${r(s.intro.p99, base.intro.p99)} | ${r(s.refresh.p50, base.refresh.p50)} | ${r(s.refresh.p99, base.refresh.p99)} |`),
        '',
        `Flat within ±10% from ${base.i.label} to ${sized.at(-1)!.i.label} rows (issue 15's target; range of the medians relative to the ${base.i.label} size):`,
        '',
        `- introspection p50: ${verdict((s) => s.intro.p50)}; p99: ${verdict((s) => s.intro.p99)}`,
        `- refresh p50: ${verdict((s) => s.refresh.p50)}; p99: ${verdict((s) => s.refresh.p99)}`,
      ]
    : []),
  '',
  '## Every measurement',
  '',
  '| round | size | tokens rows | cores busy before | introspection req/s | p50 | p99 | deleted | refresh req/s | p50 | p99 | deleted |',
  '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...instances
    .flatMap((i) => samples.get(i)!.map((s) => ({ i, s })))
    .sort((a, b) => a.s.round - b.s.round || a.i.target - b.i.target)
    .map(
      ({ i, s }) =>
        `| ${s.round} | ${i.label} | ${s.rows.toLocaleString('en-US')} | ${(s.busy * 100).toFixed(0)}% | ${n(s.introspection?.requestsPerSecond)} | ${fmt(s.introspection?.p50)} | ${fmt(s.introspection?.p99)} | ${n(s.introspectionCleanup ? (s.introspectionCleanup.rows.tokens ?? 0) : undefined)} | ${n(s.refresh?.requestsPerSecond)} | ${fmt(s.refresh?.p50)} | ${fmt(s.refresh?.p99)} | ${n(s.refreshCleanup ? (s.refreshCleanup.rows.tokens ?? 0) : undefined)} |`,
    ),
].join('\n');
log();
log(report);
if (flags['no-write'] !== true) {
  const path = writeResult('growth.md', report);
  log();
  log(`Written to ${path.replace(`${ROOT}/`, '')}`);
}
process.exit(0);
