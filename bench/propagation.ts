// npm run bench:propagation [-- --trials 1000 --key-trials 5 --wait-quiet <s> --no-write]
//
// How fast does a change made through one Tessera process reach another one on the same PostgreSQL database?
// Two Tessera processes (A, then B once A has migrated; same secret, same issuer) on a fresh tessera_bench_*
// database (DATABASE_URL required; dropped afterwards):
//   - Revocation, --trials times: a client_credentials JWT access token from A, introspected at B (active),
//     revoked at A (POST /token/revocation → 200), then introspected at B back to back until B answers
//     active:false. Measured: from A's revocation response arriving to B's first active:false arriving.
//     Issue 15's target: inactive within 100 ms at p99 over 1,000 trials.
//   - Key rotation, --key-trials times: `tessera keys rotate --purpose signing` (the CLI, a separate process,
//     straight on the database) stages a new signing key; A's and B's /jwks are polled back to back until each
//     lists the new kid. Then `tessera keys retire --kid <it> --immediately` removes it again, and the same is
//     measured for its disappearance. Measured from the change being visible in the `keys` table (polled back
//     to back on a connection of our own: the commit) and from the CLI process's exit. Target: ≤ 1 s.
// Writes bench/results/propagation.md. Figures are reported, never asserted.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import pg from 'pg';
import { killLiveChildren, startChild, type RunningChild } from './lib/child.ts';
import { createBenchDatabase, type BenchDatabase } from './lib/database.ts';
import { cpuBusy, machineDescription, numberFlag, parseFlags, ROOT, waitForQuiet, writeResult } from './lib/environment.ts';
import { basicAuth, FORM, type ClientCredentials } from './lib/oauth.ts';

const USAGE = `usage: npm run bench:propagation -- [--trials <n>=1000] [--key-trials <n>=5] [--wait-quiet <s>=0] [--no-write]
  Needs PostgreSQL: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres (a fresh database is created and dropped).`;

let flags;
let trials: number, keyTrials: number, waitQuiet: number;
try {
  flags = parseFlags(process.argv.slice(2), ['no-write', 'help'], ['trials', 'key-trials', 'wait-quiet']);
  if (flags.help) {
    console.log(USAGE);
    process.exit(0);
  }
  trials = numberFlag(flags, 'trials', 1000, { min: 1, integer: true });
  keyTrials = numberFlag(flags, 'key-trials', 5, { min: 0, integer: true });
  waitQuiet = numberFlag(flags, 'wait-quiet', 0, { min: 0 });
} catch (error) {
  console.error(`${(error as Error).message}\n${USAGE}`);
  process.exit(2);
}

const databaseUrl = process.env.DATABASE_URL || undefined;
if (!databaseUrl) {
  console.log('bench:propagation skipped: two processes share a database only on PostgreSQL. Set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres); a fresh database is created and dropped.');
  process.exit(0);
}

const log = (line = '') => process.stdout.write(`${line}\n`);
const now = () => performance.now();
const ms = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '–' : v < 10 ? v.toFixed(2) : v.toFixed(1));

let database: BenchDatabase | undefined;
let a: RunningChild | undefined;
let b: RunningChild | undefined;
let sql: pg.Client | undefined;
async function cleanUp() {
  await sql?.end().catch(() => undefined);
  await Promise.all([a?.stop(), b?.stop()]).catch(() => killLiveChildren());
  await database?.drop().catch((error) => console.error(`could not drop ${database?.name}: ${(error as Error).message}`));
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping the servers and dropping the benchmark database…`);
    killLiveChildren();
    void cleanUp().finally(() => process.exit(130));
  });
}

async function post(url: string, fields: Record<string, string>, client: ClientCredentials): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': FORM, authorization: basicAuth(client), accept: 'application/json' },
    body: new URLSearchParams(fields).toString(),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // left empty: the caller checks the fields it needs
  }
  return { status: res.status, json };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

interface RevocationTrial {
  ms: number;
  polls: number;
  /** B's revocation memory was current (answering from memory, not the database fallback) right after. */
  bCurrent: boolean;
}

interface KeyTrial {
  change: 'added' | 'removed';
  kid: string;
  cliMs: number;
  /** The change committed (seen in the keys table), relative to the CLI's spawn. */
  committedAt: number;
  /** Each process's /jwks showing the change, relative to the CLI's spawn. */
  seenAt: [number, number];
  exitAt: number;
}

type Status = { current: boolean; lastEventId: string; entries: number; listenerPid: number | undefined };

async function untilCurrent(child: RunningChild, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await child.ask<Status>('revocations')).current) {
    if (Date.now() > deadline) throw new Error(`the revocation listener of ${child.url} never became current`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs the tessera CLI (a fresh process, straight on the database) and returns its JSON answer and timings. */
function cli(args: string[], env: Record<string, string>): Promise<{ out: Record<string, unknown>; spawnedAt: number; exitAt: number }> {
  return new Promise((resolve, reject) => {
    const spawnedAt = now();
    const child = spawn(process.execPath, [join(ROOT, 'bin/tessera.js'), ...args, '--json'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', reject);
    child.on('exit', (code) => {
      const exitAt = now();
      if (code !== 0) return reject(new Error(`tessera ${args.join(' ')} exited ${code}: ${stderr.slice(0, 500)}`));
      try {
        resolve({ out: JSON.parse(stdout) as Record<string, unknown>, spawnedAt, exitAt });
      } catch {
        reject(new Error(`tessera ${args.join(' ')} printed no JSON: ${stdout.slice(0, 300)}`));
      }
    });
  });
}

const jwksKids = async (url: string) => ((await (await fetch(`${url}/jwks`)).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);

/**
 * Polls `probe` until it returns true (or the deadline passes); resolves with the time it did. Back to back,
 * or with `pauseMs` between probes (key polling: 1 ms is plenty against a 1 s target, and leaves the CPU to
 * the CLI and the servers on a small machine).
 */
async function until(probe: () => Promise<boolean>, deadline: number, pauseMs = 0): Promise<number> {
  for (;;) {
    if (await probe()) return now();
    if (now() > deadline) return Number.NaN;
    if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
  }
}

const revocation: RevocationTrial[] = [];
const keys: KeyTrial[] = [];
let introspectionRoundTrip = Number.NaN;
let busyBefore = 0;
log(`Tessera propagation benchmark: ${trials} revocation trials, ${keyTrials} key-rotation trials`);
for (const line of machineDescription()) log(`  ${line}`);
const busyAtStart = await cpuBusy(1000);
if (busyAtStart > 0.3) log(`  warning: the machine is busy (cores ${(busyAtStart * 100).toFixed(0)}% busy before starting); figures will be noisy`);

const secret = randomBytes(36).toString('base64url');
try {
  database = await createBenchDatabase(databaseUrl);
  log(`Database: PostgreSQL ${database.serverVersion}, fresh database ${database.name} (dropped afterwards)`);
  const env = { HOST: '127.0.0.1', TESSERA_SECRET: secret, TESSERA_DATA_DIR: ':memory:', LOG_LEVEL: 'silent', DATABASE_URL: database.url };
  a = await startChild('tessera', { env });
  b = await startChild('tessera', { env: { ...env, BENCH_SIBLING: '1', ISSUER: a.url } });
  log(`A: ${a.url} (pid ${a.pid}), B: ${b.url} (pid ${b.pid}); issuer ${a.url} for both`);
  await untilCurrent(a);
  await untilCurrent(b);
  sql = new pg.Client({ connectionString: database.url });
  await sql.connect();

  const f = a.fixtures as { service: ClientCredentials; scope: string };
  const tokenFromA = async () => {
    const res = await post(`${a!.url}/token`, { grant_type: 'client_credentials', scope: f.scope }, f.service);
    if (res.status !== 200 || typeof res.json.access_token !== 'string') throw new Error(`POST /token at A answered ${res.status}: ${JSON.stringify(res.json).slice(0, 200)}`);
    return res.json.access_token;
  };
  const activeAtB = async (token: string) => {
    const res = await post(`${b!.url}/token/introspection`, { token }, f.service);
    if (res.status !== 200 || typeof res.json.active !== 'boolean') throw new Error(`introspection at B answered ${res.status}: ${JSON.stringify(res.json).slice(0, 200)}`);
    return res.json.active;
  };

  // Warm both processes up (JIT, pools, key caches) and learn one introspection's round trip at B.
  {
    const token = await tokenFromA();
    const times: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = now();
      if (!(await activeAtB(token))) throw new Error('a fresh token is not active at B');
      times.push(now() - t0);
    }
    times.sort((x, y) => x - y);
    introspectionRoundTrip = percentile(times, 50);
  }

  log();
  busyBefore = await waitForQuiet(waitQuiet, 0.2, log);
  log(`Revocation: ${trials} trials (before: cores ${(busyBefore * 100).toFixed(0)}% busy with anything, load ${loadavg()[0]!.toFixed(2)}; one introspection at B takes ${ms(introspectionRoundTrip)} ms, median)`);
  for (let i = 0; i < trials; i++) {
    const token = await tokenFromA();
    if (!(await activeAtB(token))) throw new Error(`trial ${i}: the token is not active at B before its revocation`);
    const revoked = await post(`${a.url}/token/revocation`, { token }, f.service);
    if (revoked.status !== 200) throw new Error(`trial ${i}: revocation at A answered ${revoked.status}`);
    const t0 = now();
    let polls = 0;
    const deadline = t0 + 10_000;
    const seen = await until(async () => {
      polls++;
      return !(await activeAtB(token));
    }, deadline);
    if (!Number.isFinite(seen)) throw new Error(`trial ${i}: B still answered active:true 10 s after the revocation`);
    const status = await b.ask<Status>('revocations');
    revocation.push({ ms: seen - t0, polls, bCurrent: status.current });
    if ((i + 1) % 100 === 0) {
      const sorted = revocation.map((r) => r.ms).sort((x, y) => x - y);
      log(`  ${String(i + 1).padStart(5)} trials: p50 ${ms(percentile(sorted, 50))} ms, p99 ${ms(percentile(sorted, 99))} ms, max ${ms(sorted.at(-1))} ms`);
    }
  }

  if (keyTrials > 0) {
    log();
    log(`Key rotation: ${keyTrials} trials of \`tessera keys rotate --purpose signing\` then \`keys retire --kid … --immediately\` (the CLI straight on PostgreSQL)`);
    const cliEnv: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      DATABASE_URL: database.url,
      TESSERA_SECRET: secret,
      TESSERA_DATA_DIR: ':memory:',
      LOG_LEVEL: 'warn',
      ISSUER: a.url,
    };
    const dbKids = async () => ((await sql!.query("select kid from keys where purpose = 'signing'")).rows as Array<{ kid: string }>).map((r) => r.kid);
    for (let i = 0; i < keyTrials; i++) {
      for (const change of ['added', 'removed'] as const) {
        const before = new Set(await dbKids());
        const changed = (kids: string[]) => (change === 'added' ? kids.some((k) => !before.has(k)) : [...before].some((k) => !kids.includes(k)));
        const changedIn = (kids: string[], kid: string) => (change === 'added' ? kids.includes(kid) : !kids.includes(kid));
        const jwksBefore = [new Set(await jwksKids(a.url)), new Set(await jwksKids(b.url))];
        // Pollers start before the CLI, so a change seen before it exits is timed too.
        let stop = false;
        const deadline = now() + 30_000;
        let committedKid: string | undefined;
        const committed = until(async () => {
          const kids = await dbKids();
          if (!changed(kids)) return stop;
          committedKid = change === 'added' ? kids.find((k) => !before.has(k)) : [...before].find((k) => !kids.includes(k));
          return true;
        }, deadline, 1);
        const seen = [a.url, b.url].map((url, p) =>
          until(async () => {
            const kids = await jwksKids(url);
            if (committedKid === undefined) return stop || (change === 'added' ? kids.some((k) => !jwksBefore[p]!.has(k)) : [...jwksBefore[p]!].some((k) => !kids.includes(k)));
            return stop || changedIn(kids, committedKid);
          }, deadline, 1),
        );
        const lastAdded = keys.filter((k) => k.change === 'added').at(-1)?.kid;
        const run = await cli(change === 'added' ? ['keys', 'rotate', '--purpose', 'signing'] : ['keys', 'retire', '--kid', lastAdded!, '--immediately'], cliEnv);
        const committedAt = await committed;
        const seenAt = (await Promise.all(seen)) as [number, number];
        stop = true;
        const trial: KeyTrial = {
          change,
          kid: committedKid ?? '?',
          cliMs: run.exitAt - run.spawnedAt,
          committedAt: committedAt - run.spawnedAt,
          seenAt: [seenAt[0] - run.spawnedAt, seenAt[1] - run.spawnedAt],
          exitAt: run.exitAt - run.spawnedAt,
        };
        keys.push(trial);
        log(
          `  ${i + 1}. ${change === 'added' ? 'new key' : 'key removed'} ${trial.kid}: committed ${ms(trial.committedAt)} ms after spawn, CLI exited at ${ms(trial.exitAt)} ms; ` +
            `A's /jwks +${ms(trial.seenAt[0] - trial.committedAt)} ms, B's +${ms(trial.seenAt[1] - trial.committedAt)} ms after the commit`,
        );
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }
} catch (error) {
  console.error(`benchmark aborted: ${(error as Error).stack ?? error}`);
  await cleanUp();
  process.exit(1);
}
await cleanUp();

const sorted = revocation.map((r) => r.ms).sort((x, y) => x - y);
const within = (limit: number) => sorted.filter((v) => v <= limit).length;
const share = (n: number) => `${((n / Math.max(1, sorted.length)) * 100).toFixed(1)}%`;
const p99 = percentile(sorted, 99);
const buckets: Array<[string, number]> = [
  ['≤ 1 ms', within(1)],
  ['1–2 ms', within(2) - within(1)],
  ['2–5 ms', within(5) - within(2)],
  ['5–10 ms', within(10) - within(5)],
  ['10–20 ms', within(20) - within(10)],
  ['20–50 ms', within(50) - within(20)],
  ['50–100 ms', within(100) - within(50)],
  ['> 100 ms', sorted.length - within(100)],
];
const keyRows = keys.map((k) => {
  const worst = Math.max(k.seenAt[0], k.seenAt[1]);
  return `| ${k.change === 'added' ? '`keys rotate` (new key published)' : '`keys retire --immediately` (key gone)'} | \`${k.kid}\` | ${ms(k.cliMs)} | ${ms(k.committedAt)} | ${ms(k.seenAt[0] - k.committedAt)} | ${ms(k.seenAt[1] - k.committedAt)} | ${ms(worst - k.exitAt)} | ${worst - k.committedAt <= 1000 ? 'yes' : 'no'} |`;
});
const keyWorst = keys.length ? Math.max(...keys.map((k) => Math.max(k.seenAt[0], k.seenAt[1]) - k.committedAt)) : Number.NaN;
const report = [
  '# Tessera: propagation between two processes',
  '',
  `- Date: ${new Date().toISOString()}`,
  ...machineDescription().map((l) => `- ${l}`),
  `- Two Tessera processes (A, then B once A had migrated; same TESSERA_SECRET and ISSUER) on one fresh PostgreSQL ${database?.serverVersion ?? ''} database, LOG_LEVEL=silent; the harness (this process) polls over HTTP on loopback`,
  `- Before the revocation trials: cores ${(busyBefore * 100).toFixed(0)}% busy with anything; one introspection at B takes ${ms(introspectionRoundTrip)} ms (median, the resolution of the revocation figure); 1-min load average at the end ${loadavg()[0]!.toFixed(2)}`,
  '',
  '## Revocation: revoked at A, inactive at B',
  '',
  'Each trial: a client_credentials JWT access token from A, introspected at B (active), revoked at A (`POST /token/revocation` → 200), then introspected at B back to back (one request at a time) until B answers `active:false`. Time: from A\'s revocation response arriving to B\'s first `active:false` arriving (so it includes up to one introspection round trip).',
  '',
  '| trials | p50 ms | p90 ms | p99 ms | max ms | mean | within 100 ms | introspections at B until inactive (mean / max) | B answering from memory afterwards |',
  '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  `| ${sorted.length} | ${ms(percentile(sorted, 50))} | ${ms(percentile(sorted, 90))} | ${ms(p99)} | ${ms(sorted.at(-1))} | ${ms(sorted.reduce((s, v) => s + v, 0) / Math.max(1, sorted.length))} | ${share(within(100))} (${within(100)}) | ${(revocation.reduce((s, r) => s + r.polls, 0) / Math.max(1, revocation.length)).toFixed(2)} / ${Math.max(0, ...revocation.map((r) => r.polls))} | ${revocation.filter((r) => r.bCurrent).length} of ${revocation.length} |`,
  '',
  `Target (issue 15): inactive within 100 ms at p99 over 1,000 trials — ${sorted.length >= 1000 ? (p99 <= 100 ? '**met**' : '**missed**') : `${sorted.length} trials run (fewer than 1,000)`} (p99 ${ms(p99)} ms).`,
  '',
  '| time to inactive at B | trials | share |',
  '| --- | ---: | ---: |',
  ...buckets.map(([label, n]) => `| ${label} | ${n} | ${share(n)} |`),
  ...(keys.length
    ? [
        '',
        '## Key rotation: the CLI on PostgreSQL, /jwks of both processes',
        '',
        'Each trial: `tessera keys rotate --purpose signing --json` (a fresh CLI process, straight on the database; stages a new signing key, which is published at once), then `tessera keys retire --kid <that key> --immediately --json` (removes it again). While the CLI runs, the `keys` table (on a connection of the harness) and both processes\' `/jwks` are polled with 1 ms between polls; "committed" is when the change first shows in the table. Target (issue 15): every process\'s `/jwks` shows it within 1 s.',
        '',
        '| change | kid | CLI wall ms | committed, ms after spawn | A /jwks, ms after commit | B /jwks, ms after commit | later of A/B, ms after CLI exit | ≤ 1 s |',
        '| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |',
        ...keyRows,
        '',
        `Worst of ${keys.length} changes × 2 processes: ${ms(keyWorst)} ms after the commit — target ≤ 1 s ${keyWorst <= 1000 ? '**met**' : '**missed**'}.`,
      ]
    : []),
].join('\n');
log();
log(report);
if (flags['no-write'] !== true) {
  const path = writeResult('propagation.md', report);
  log();
  log(`Written to ${path.replace(`${ROOT}/`, '')}`);
}
process.exit(0);
