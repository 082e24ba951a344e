// npm run bench:growth [-- --duration 5 --warmup 1 --connections 32 --sizes 10000,100000,1000000]
//
// Does Tessera slow down as the `tokens` table grows? Against Tessera on PostgreSQL (DATABASE_URL required; a
// fresh tessera_bench_* database is created and dropped), measures opaque-token introspection and refresh
// rotation with the table holding the fixtures only, then 10 thousand, 100 thousand and 1 million rows.
// Filler rows come from one INSERT … SELECT generate_series per step (random SHA-256-shaped id_hash,
// AccessToken/RefreshToken, random grant_id, '{}' payload, valid for an hour), then VACUUM ANALYZE and a
// CHECKPOINT so the measurement does not pay for the bulk load. Writes bench/results/growth.md.
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import pg from 'pg';
import { killLiveChildren, startChild, type RunningChild } from './lib/child.ts';
import { createBenchDatabase, type BenchDatabase } from './lib/database.ts';
import { cpuBusy, machineDescription, numberFlag, parseFlags, ROOT, waitForQuiet, writeResult } from './lib/environment.ts';
import { runLoad, type Measurement } from './lib/load.ts';
import { ServerSession } from './lib/workloads.ts';

const USAGE = 'usage: npm run bench:growth -- [--duration <s>=5] [--warmup <s>=1] [--connections <n>=32] [--sizes 10000,100000,1000000] [--wait-quiet <s>=0] [--no-write]';

let flags;
let duration: number, warmup: number, connections: number, sizes: number[], waitQuiet: number;
try {
  flags = parseFlags(process.argv.slice(2), ['no-write', 'help'], ['duration', 'warmup', 'connections', 'sizes', 'wait-quiet']);
  if (flags.help) {
    console.log(USAGE);
    process.exit(0);
  }
  duration = numberFlag(flags, 'duration', 5, { min: 1 });
  warmup = numberFlag(flags, 'warmup', 1, { min: 0 });
  connections = numberFlag(flags, 'connections', 32, { min: 1, integer: true });
  waitQuiet = numberFlag(flags, 'wait-quiet', 0, { min: 0 });
  sizes = typeof flags.sizes === 'string' ? flags.sizes.split(',').map((s) => Number(s.trim())) : [10_000, 100_000, 1_000_000];
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
const FILL = `
INSERT INTO tokens (id_hash, model, grant_id, payload, expires_at)
SELECT translate(rtrim(encode(sha256(convert_to(gen_random_uuid()::text || g::text, 'UTF8')), 'base64'), '='), '+/', '-_'),
       CASE WHEN g % 2 = 0 THEN 'AccessToken' ELSE 'RefreshToken' END,
       substr(md5(random()::text || g::text), 1, 21),
       '{}'::jsonb,
       now() + interval '1 hour'
FROM generate_series(1, $1::int) AS g`;

interface Step {
  label: string;
  rows: number;
  size: string;
  fillSeconds: number;
  busy: number;
  introspection?: Measurement;
  introspectionError?: string;
  refresh?: Measurement;
  refreshError?: string;
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
    env: { HOST: '127.0.0.1', TESSERA_SECRET: randomBytes(36).toString('base64url'), TESSERA_DATA_DIR: ':memory:', LOG_LEVEL: 'silent', DATABASE_URL: database.url },
  });
  log(`Tessera at ${child.url} (pid ${child.pid})`);
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

  const count = async () => Number((await sql!.query('SELECT count(*)::bigint AS n FROM tokens')).rows[0].n);
  const size = async () => String((await sql!.query("SELECT pg_size_pretty(pg_total_relation_size('tokens')) AS s")).rows[0].s);

  for (const target of [0, ...sizes]) {
    const step: Step = { label: target === 0 ? 'fixtures only' : target.toLocaleString('en-US'), rows: 0, size: '', fillSeconds: 0, busy: 0 };
    // Fresh sign-ins per step: new refresh-token chains (a stopped run may leave a chain's last rotation
    // unseen) and a fresh access token (they live ACCESS_TOKEN_TTL = 10 minutes).
    const session = new ServerSession(child, connections);
    await session.tokenSets();
    const before = await count();
    if (target > before) {
      const t0 = performance.now();
      await sql.query(FILL, [target - before]);
      await sql.query('VACUUM (ANALYZE) tokens');
      await sql.query('CHECKPOINT');
      step.fillSeconds = (performance.now() - t0) / 1000;
    }
    step.rows = await count();
    step.size = await size();
    log();
    step.busy = await waitForQuiet(waitQuiet, 0.2, log);
    log(`tokens: ${step.rows.toLocaleString('en-US')} rows, ${step.size}${step.fillSeconds ? ` (filled in ${step.fillSeconds.toFixed(1)} s)` : ''}; before measuring: cores ${(step.busy * 100).toFixed(0)}% busy (anything: other sessions, PostgreSQL background work), load average ${loadavg()[0]!.toFixed(2)}`);

    const introspection = await session.prepare('introspection_opaque');
    if (introspection.status === 'ready') {
      step.introspection = await runLoad(introspection.load, { url: child.url, connections, durationSeconds: duration, warmupSeconds: warmup });
      const m = step.introspection;
      log(`  introspection (opaque)  ${m.requestsPerSecond.toFixed(0).padStart(6)} req/s  p50 ${fmt(m.p50).padStart(7)} ms  p99 ${fmt(m.p99).padStart(7)} ms  errors ${m.errors}`);
    } else {
      step.introspectionError = introspection.reason;
      log(`  introspection (opaque)  ${introspection.status}: ${introspection.reason}`);
    }
    const refresh = await session.prepare('refresh');
    if (refresh.status === 'ready') {
      step.refresh = await runLoad(refresh.load, { url: child.url, connections, durationSeconds: duration, warmupSeconds: warmup });
      const m = step.refresh;
      log(`  refresh rotation        ${m.requestsPerSecond.toFixed(0).padStart(6)} req/s  p50 ${fmt(m.p50).padStart(7)} ms  p99 ${fmt(m.p99).padStart(7)} ms  errors ${m.errors}`);
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
const first = steps[0];
const report = [
  '# Tessera: latency as the tokens table grows',
  '',
  `- Date: ${new Date().toISOString()}`,
  ...machineDescription().map((l) => `- ${l}`),
  `- Tessera on PostgreSQL ${database?.serverVersion ?? ''} (fresh database), LOG_LEVEL=silent; autocannon ${connections} connections, ${warmup} s warm-up + ${duration} s measured per workload`,
  "- Filler rows: one `INSERT … SELECT generate_series` per step (random base64url SHA-256 id_hash, half AccessToken / half RefreshToken, random grant_id, `'{}'` payload, expiring in 1 h; no grants rows), then `VACUUM (ANALYZE) tokens` and `CHECKPOINT`",
  '- The server is warmed up once (3 s of each workload, unmeasured) before the first step',
  '- Row counts are taken just before measuring; the refresh runs add rows as they go (a new refresh token and access token per request)',
  '- Opaque introspection sends no token_type_hint; refresh uses one refresh-token chain per connection (fresh sign-ins per step)',
  '',
  '| tokens rows | table + indexes | introspection req/s | p50 ms | p99 ms | errors | refresh req/s | p50 ms | p99 ms | errors | cores busy before (anything) |',
  '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...steps.map((s) => `| ${s.rows.toLocaleString('en-US')} (${s.label}) | ${s.size} | ${cell(s.introspection, s.introspectionError)} | ${cell(s.refresh, s.refreshError)} | ${(s.busy * 100).toFixed(0)}% busy |`),
  '',
  ...(first?.introspection && first.refresh
    ? [
        'Relative to the first row (p50 / p99):',
        '',
        '| tokens rows | introspection p50 | introspection p99 | refresh p50 | refresh p99 |',
        '| ---: | ---: | ---: | ---: | ---: |',
        ...steps.map((s) => {
          const r = (a: number | undefined, b: number) => (a !== undefined && b > 0 ? `${(a / b).toFixed(2)}×` : '–');
          return `| ${s.rows.toLocaleString('en-US')} | ${r(s.introspection?.p50, first.introspection!.p50)} | ${r(s.introspection?.p99, first.introspection!.p99)} | ${r(s.refresh?.p50, first.refresh!.p50)} | ${r(s.refresh?.p99, first.refresh!.p99)} |`;
        }),
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
