// npm run bench [-- --duration 10 --connections 32 --warmup 2 --servers koa,engine,tessera,tessera2
//                  --workloads client_credentials,introspection_jwt,introspection_opaque,refresh --cpu-prof --no-write]
//
// One run, one machine, autocannon in this process, each server in its own child process, one at a time:
//   raw Koa (the HTTP ceiling) → bare oidc-provider (memory adapter, Tessera's token settings) → Tessera
//   (PostgreSQL in a fresh tessera_bench_* database when DATABASE_URL is set, else in-memory PGlite) → two
//   Tessera processes on one fresh PostgreSQL database, half the connections to each (PostgreSQL only).
// Prints requests/s, p50/p99 and errors per (server, workload), Tessera's ratios to the bare engine and to the
// ceiling, the targets as pass/MISS (the run never fails on them), and writes bench/results/latest.md.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { killLiveChildren, startChild, type RunningChild, type ServerKind } from './lib/child.ts';
import { createBenchDatabase, type BenchDatabase } from './lib/database.ts';
import { cpuBusy, machineDescription, numberFlag, parseFlags, ROOT, waitForQuiet, writeResult } from './lib/environment.ts';
import { runLoad } from './lib/load.ts';
import { cpuAccounting, cpuSince, cpuSnapshot, type CpuSnapshot } from './lib/cpu.ts';
import { formatProfile, summariseProfile } from './lib/profile.ts';
import { cpuTable, dbTable, ratioTable, resultsTable, scaleOutTable, SERVER_LABELS, targets, targetTable, type Row } from './lib/report.ts';
import type { StatementStats } from './servers/query-stats.ts';
import { ServerSession, WORKLOAD_ORDER, WORKLOADS, type WorkloadId } from './lib/workloads.ts';

const USAGE = `usage: npm run bench -- [--duration <s>=10] [--connections <n>=32] [--warmup <s>=2]
                       [--servers koa,engine,tessera,tessera2] [--workloads ${WORKLOAD_ORDER.join(',')}]
                       [--wait-quiet <s>=0] [--tessera-env KEY=VALUE,…] [--cpu-prof] [--no-write]
  DATABASE_URL set → Tessera on a fresh PostgreSQL database (created and dropped); unset → in-memory PGlite.
  tessera2         two Tessera processes on one fresh PostgreSQL database, the connections split between them
                   (needs DATABASE_URL; skipped with a note on PGlite).
  --wait-quiet <s> before each server, wait up to <s> seconds for other work on the machine to finish
                   (cores < 20% busy); the busy share seen is reported either way.
  --tessera-env    extra Tessera settings, e.g. DATABASE_POOL_MAX=20 (recorded in the report)
  --cpu-prof       run each server under node --cpu-prof and summarise self time per measured workload
                   (profiling slows the server, so the figures are not written to latest.md).`;

const ALL_SERVERS: ServerKind[] = ['koa', 'engine', 'tessera', 'tessera2'];
const isTessera = (server: ServerKind) => server === 'tessera' || server === 'tessera2';

function listFlag<T extends string>(value: string | boolean | undefined, allowed: readonly T[], name: string): T[] {
  if (value === undefined || typeof value === 'boolean') return [...allowed];
  const list = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const item of list) if (!allowed.includes(item as T)) throw new Error(`--${name}: unknown "${item}" (use ${allowed.join(', ')})`);
  return list as T[];
}

let flags;
try {
  flags = parseFlags(process.argv.slice(2), ['cpu-prof', 'no-write', 'help'], ['duration', 'connections', 'warmup', 'servers', 'workloads', 'wait-quiet', 'tessera-env']);
} catch (error) {
  console.error(`${(error as Error).message}\n${USAGE}`);
  process.exit(2);
}
if (flags.help) {
  console.log(USAGE);
  process.exit(0);
}
let duration: number, connections: number, warmup: number, waitQuiet: number, servers: ServerKind[], workloads: WorkloadId[];
try {
  duration = numberFlag(flags, 'duration', 10, { min: 1 });
  connections = numberFlag(flags, 'connections', 32, { min: 1, integer: true });
  warmup = numberFlag(flags, 'warmup', 2, { min: 0 });
  waitQuiet = numberFlag(flags, 'wait-quiet', 0, { min: 0 });
  servers = listFlag(flags.servers, ALL_SERVERS, 'servers');
  workloads = listFlag(flags.workloads, WORKLOAD_ORDER, 'workloads');
} catch (error) {
  console.error(`${(error as Error).message}\n${USAGE}`);
  process.exit(2);
}
const cpuProf = flags['cpu-prof'] === true;
const tesseraExtraEnv: Record<string, string> = {};
if (typeof flags['tessera-env'] === 'string') {
  for (const pair of flags['tessera-env'].split(',').filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      console.error(`--tessera-env: "${pair}" is not KEY=VALUE\n${USAGE}`);
      process.exit(2);
    }
    tesseraExtraEnv[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
}
const write = flags['no-write'] !== true && !cpuProf;
const databaseUrl = process.env.DATABASE_URL || undefined;

let database: BenchDatabase | undefined;
let current: RunningChild[] = [];
let interrupted = false;
async function cleanUp() {
  await Promise.all(current.map((c) => c.stop())).catch(() => killLiveChildren());
  await database?.drop().catch((error) => console.error(`could not drop ${database?.name}: ${(error as Error).message}`));
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    console.error(`\n${signal}: stopping the server and dropping the benchmark database…`);
    killLiveChildren();
    void cleanUp().finally(() => process.exit(130));
  });
}

const rows: Row[] = [];
const tesseraLabelFor = () => (tesseraBackend.startsWith('PostgreSQL') ? 'Tessera (PostgreSQL)' : 'Tessera (PGlite)');
const profiles: string[] = [];
let tesseraBackend = 'not run';
const loads: string[] = [];
const notes: string[] = [];
const load1 = () => loadavg()[0]!.toFixed(2);

const log = (line = '') => process.stdout.write(`${line}\n`);

/** Statement counts of several processes, added up per statement text. */
function mergeStatements(perProcess: StatementStats[][]): StatementStats[] {
  const merged = new Map<string, StatementStats>();
  for (const list of perProcess) {
    for (const st of list) {
      const entry = merged.get(st.sql) ?? { sql: st.sql, count: 0, ms: 0 };
      entry.count += st.count;
      entry.ms += st.ms;
      merged.set(st.sql, entry);
    }
  }
  return [...merged.values()].sort((a, b) => b.count - a.count);
}
const fmtMs = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '–');

log(`Tessera benchmark: ${connections} connections, ${warmup} s warm-up + ${duration} s measured per workload`);
for (const line of machineDescription()) log(`  ${line}`);
const busyAtStart = await cpuBusy(1000);
if (busyAtStart > 0.3) log(`  warning: the machine is busy (cores ${(busyAtStart * 100).toFixed(0)}% busy before starting); figures will be noisy`);

try {
  for (const server of servers) {
    const mine = workloads.filter((w) => WORKLOADS[w].servers.includes(server));
    if (mine.length === 0) continue;
    log();
    let env: Record<string, string | undefined> = {};
    let execArgv: string[] = [];
    let profDir: string | undefined;
    if (server === 'tessera2' && !databaseUrl) {
      const note = 'Tessera, two processes: skipped (two processes share a database only on PostgreSQL; set DATABASE_URL)';
      log(note);
      notes.push(note);
      continue;
    }
    if (isTessera(server)) {
      if (databaseUrl) {
        database = await createBenchDatabase(databaseUrl);
        tesseraBackend = `PostgreSQL ${database.serverVersion} (fresh database ${database.name}, dropped afterwards)`;
      } else {
        tesseraBackend = 'embedded PGlite (TESSERA_DATA_DIR=:memory:)';
      }
      log(`Tessera database: ${tesseraBackend}${server === 'tessera2' ? ' — two processes' : ''}`);
      env = {
        HOST: '127.0.0.1',
        TESSERA_SECRET: randomBytes(36).toString('base64url'),
        TESSERA_DATA_DIR: ':memory:',
        LOG_LEVEL: 'silent',
        DATABASE_URL: database?.url,
        ...tesseraExtraEnv,
      };
    }
    if (cpuProf) {
      profDir = mkdtempSync(join(tmpdir(), `${server}-prof-`));
      execArgv = ['--cpu-prof', `--cpu-prof-dir=${profDir}`];
    }
    const busy = await waitForQuiet(waitQuiet, 0.2, log);
    loads.push(`${server}: ${(busy * 100).toFixed(0)}% busy, load ${load1()}`);
    log(`Starting ${SERVER_LABELS[server]}… (before start: cores ${(busy * 100).toFixed(0)}% busy with anything else, 1-min load average ${load1()})`);
    let child: RunningChild;
    // tessera2: the second process starts once the first is ready (migrated, keys made, fixtures created),
    // with the same settings and the first one's issuer, as a second replica behind a load balancer would.
    let sibling: RunningChild | undefined;
    try {
      child = await startChild(server, { env, execArgv });
      current = [child];
      if (server === 'tessera2') {
        sibling = await startChild(server, { env: { ...env, BENCH_SIBLING: '1', ISSUER: child.url }, execArgv });
        current.push(sibling);
      }
    } catch (error) {
      await Promise.all(current.map((c) => c.stop()));
      current = [];
      // Keep going (the other servers' figures are still worth having); the report shows the failure.
      const message = (error as Error).message;
      log(`  FAILED to start:\n${message.split('\n').map((l) => `    ${l}`).join('\n')}`);
      for (const workload of mine) rows.push({ server, workload, status: 'failed', reason: `server failed to start: ${message.split('\n')[0]}` });
      if (isTessera(server)) await database?.drop();
      continue;
    }
    const processes = current;
    const pids = processes.map((c) => c.pid);
    const urls = processes.map((c) => c.url);
    const tesseraLabel = isTessera(server) ? `Tessera (${child.fixtures.database === 'postgresql' ? 'PostgreSQL' : 'PGlite'})` : '';
    log(`  ${processes.map((c) => `${c.url} (pid ${c.pid})`).join(' and ')}${tesseraLabel ? `, ${tesseraLabel}` : ''}${sibling ? ', the connections split between them' : ''}`);
    const session = new ServerSession(child, connections);
    const windows: Array<{ workload: WorkloadId; window: [number, number] }> = [];
    try {
      for (const workload of mine) {
        if (interrupted) break;
        const prepared = await session.prepare(workload);
        const label = `  ${WORKLOADS[workload].label}`.padEnd(48);
        if (prepared.status !== 'ready') {
          rows.push({ server, workload, status: prepared.status, reason: prepared.reason });
          log(`${label} ${prepared.status === 'unsupported' ? 'not supported yet' : 'FAILED'}: ${prepared.reason}`);
          continue;
        }
        const counting = isTessera(server);
        if (counting) await Promise.all(processes.map((c) => c.ask('query-stats-reset')));
        const dbName = isTessera(server) ? database?.name : undefined;
        let cpuStart: CpuSnapshot | undefined;
        const m = await runLoad(prepared.load, {
          url: child.url,
          urls,
          connections,
          durationSeconds: duration,
          warmupSeconds: warmup,
          onWindowStart: () => {
            if (cpuAccounting) cpuStart = cpuSnapshot(pids, dbName);
          },
        });
        const cpu = cpuStart ? cpuSince(cpuStart, pids, dbName) : undefined;
        let db: Row['db'];
        if (counting) {
          const statements = mergeStatements(await Promise.all(processes.map((c) => c.ask<StatementStats[]>('query-stats'))));
          const n = Math.max(1, m.totalResponses);
          db = {
            statementsPerRequest: statements.reduce((a, st) => a + st.count, 0) / n,
            msPerRequest: statements.reduce((a, st) => a + st.ms, 0) / n,
            top: statements.slice(0, 8).map((st) => ({ sql: st.sql, perRequest: st.count / n, msPerRequest: st.ms / n })),
          };
        }
        rows.push({ server, workload, status: 'measured', measurement: m, note: prepared.note, db, cpu });
        windows.push({ workload, window: m.windowMicros });
        const errorKinds = m.errors ? `  (${Object.entries(m.statusCodes).filter(([k]) => !k.startsWith('2')).map(([k, v]) => `${k}: ${v}`).join(', ')})` : '';
        log(`${label} ${m.requestsPerSecond.toFixed(0).padStart(7)} req/s  p50 ${fmtMs(m.p50).padStart(7)} ms  p99 ${fmtMs(m.p99).padStart(7)} ms  errors ${m.errors}${errorKinds}`);
        const served = Math.max(1, m.successes + m.errors);
        const extra = [
          cpu ? `CPU: server ${(cpu.serverCores * 100).toFixed(0)}%${dbName ? `, PostgreSQL ${(cpu.databaseCores * 100).toFixed(0)}%` : ''}, load generator ${(cpu.generatorCores * 100).toFixed(0)}% of a core; ${((cpu.serverMs + cpu.databaseMs) / served).toFixed(2)} ms server${dbName ? '+DB' : ''} CPU/request` : '',
          db ? `${db.statementsPerRequest.toFixed(1)} SQL statements/request, ${db.msPerRequest.toFixed(1)} ms waiting on them/request` : '',
        ].filter(Boolean);
        extra.push(`per second: ${m.perSecond.join(' ')}`);
        if (urls.length > 1) extra.push(`2xx per process: ${m.perTarget.map((n, i) => `${urls[i]} ${(n / m.seconds).toFixed(0)}/s`).join(', ')}`);
        for (const line of extra) log(`${''.padEnd(48)} ${line}`);
      }
    } finally {
      await Promise.all(processes.map((c) => c.stop()));
      current = [];
      if (isTessera(server)) {
        await database?.drop();
      }
    }
    if (profDir) {
      // tessera2 writes one profile per process; the summary is of the first.
      const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
      if (files.length === 0) {
        log('  (no .cpuprofile was written)');
      } else {
        for (const { workload, window } of windows) {
          const summary = summariseProfile(join(profDir, files[0]!), ROOT, window, 20);
          const text = formatProfile(summary, `${isTessera(server) ? `${tesseraLabelFor()}${server === 'tessera2' ? ', one of two processes' : ''}` : SERVER_LABELS[server]} CPU profile — ${WORKLOADS[workload].label}`);
          profiles.push(text);
        }
        log(`  CPU profile: ${join(profDir, files[0]!)}`);
      }
    }
  }
} catch (error) {
  console.error(`benchmark aborted: ${(error as Error).stack ?? error}`);
  await cleanUp();
  process.exit(1);
}

const tesseraLabel = tesseraBackend.startsWith('PostgreSQL') ? 'Tessera (PostgreSQL)' : tesseraBackend.startsWith('embedded') ? 'Tessera (PGlite)' : 'Tessera';
const targetResults = targets(rows);
const report = [
  '# Tessera benchmark',
  '',
  `- Date: ${new Date().toISOString()}`,
  ...machineDescription().map((l) => `- ${l}`),
  `- autocannon in the parent process, ${connections} connections, ${warmup} s warm-up + ${duration} s measured per workload; each server in its own child process, one at a time`,
  `- Tessera database: ${tesseraBackend}; LOG_LEVEL=silent${Object.keys(tesseraExtraEnv).length ? `; extra settings: ${Object.entries(tesseraExtraEnv).map(([k, v]) => `${k}=${v}`).join(', ')}` : ''}`,
  `- Other work on the machine just before each server started (skews the figures): ${loads.join('; ')}; 1-min load average at the end ${load1()}`,
  '- req/s counts successful responses only (HTTP 2xx with the expected body: an access token, `"active":true`, a new refresh token); latencies are of 2xx responses',
  ...(rows.some((r) => r.server === 'tessera2')
    ? ['- Tessera, two processes: both on one fresh PostgreSQL database (the second started after the first had migrated, same secret and issuer), each with its own pool; one autocannon instance per process with half the connections each, run in parallel; req/s is the sum of both, p50/p99 are of all 2xx latencies of both merged (not the worse of the two); CPU and SQL statements are both processes summed']
    : []),
  ...notes.map((n) => `- ${n}`),
  '',
  '## Results',
  '',
  resultsTable(rows, tesseraLabel),
  '',
  '## Tessera relative to the bare engine and the ceiling',
  '',
  'JWT introspection is compared with the bare engine\'s opaque introspection (the engine cannot introspect its JWTs).',
  '',
  ratioTable(rows),
  ...(rows.some((r) => r.server === 'tessera2')
    ? ['', '## Scale-out: two Tessera processes on one database', '', 'Load generator, both processes and PostgreSQL share the same cores, so this shows what a second process costs and gains here, not what a second machine would.', '', scaleOutTable(rows)]
    : []),
  '',
  '## Targets (reported, never enforced)',
  '',
  targetTable(targetResults),
  ...(rows.some((r) => r.cpu)
    ? [
        '',
        '## CPU during the measured window',
        '',
        'From /proc: the server process (all threads), the PostgreSQL backends of the benchmark database (PGlite runs inside the server process), and the load generator; 100% = one core. The machine has ' +
          `${availableParallelism()} cores, shared by all three.`,
        '',
        cpuTable(rows, tesseraLabel),
      ]
    : []),
  ...(rows.some((r) => r.db)
    ? [
        '',
        '## Where Tessera waits on the database',
        '',
        'SQL statements per request counted in the server (knex query events, warm-up included), and the time from sending each statement to handling its answer; concurrent requests overlap, so this is waiting, not CPU.',
        '',
        dbTable(rows),
      ]
    : []),
  ...(profiles.length ? ['', '## CPU profiles (servers run under --cpu-prof; their figures above are slowed by profiling)', '', ...profiles.flatMap((p) => [p, ''])] : []),
].join('\n');

log();
log(report);
if (write) {
  const path = writeResult('latest.md', report);
  const backend = tesseraBackend.startsWith('PostgreSQL') ? 'postgresql' : tesseraBackend.startsWith('embedded') ? 'pglite' : undefined;
  if (backend && servers.length === ALL_SERVERS.length && workloads.length === WORKLOAD_ORDER.length) writeResult(`latest-${backend}.md`, report);
  log();
  log(`Written to ${path.replace(`${ROOT}/`, '')}${backend ? ` (and bench/results/latest-${backend}.md)` : ''}`);
} else if (profiles.length && flags['no-write'] !== true) {
  const path = writeResult('profile.md', report);
  log();
  log(`Profile report written to ${path.replace(`${ROOT}/`, '')} (latest.md left untouched)`);
}
process.exit(0);
