// `npm run chaos`: the soak workload (scripts/workload/) against two `tessera serve` processes on a private
// PostgreSQL, while the script
//   1. restarts PostgreSQL once (default: an immediate shutdown — a crash, recovery from WAL — then down for
//      --pg-down seconds, then started again), and
//   2. kill -9s one server process once and starts it again after --kill-down seconds.
// It prints what failed inside each fault window (by operation, error kind/status and process), and
// afterwards checks, with the workload stopped:
//   - every refresh token set aside just before each fault (half of the chains the client holds; the other
//     half keeps being rotated through the fault) still works (each used once, after the faults), and the
//     access tokens and browser sessions that came with them still work too;
//   - every refresh token whose rotation or revocation was refused during a fault (503, or connection refused)
//     was left as it was: used once after the faults, it works (a connection lost mid-request, as at kill -9,
//     leaves the state unknown: not checked);
//   - every token whose revocation was acknowledged (before the faults, and since) is still revoked.
// Expected: failures only inside the fault windows (an operation overlapping a window counts as inside),
// none after recovery; every check above passes. Exit code 1 otherwise, or when a server exits by itself.
//
//   npm run chaos
//   npm run chaos -- --warmup 20 --steady 20 --pg-down 5 --pg-mode immediate|fast --kill-down 3 [--set-aside 0.5] [--kill A|B]
//   Also: --connections N (4), --rate OPS_PER_S (100; 0 = closed loop), --users N, --tessera-env K=V,…, --keep-logs
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { machineDescription, numberFlag, parseFlags } from '../bench/lib/environment.ts';
import { exitOnSignals, startEnvironment } from './workload/environment.ts';
import { OPERATIONS, Workload, type Chain } from './workload/operations.ts';
import { describeWorkload, logSummary, rssReport } from './workload/report.ts';
import { progress, sampleRss, startWorkers } from './workload/runner.ts';
import { wallNow } from './workload/routing.ts';
import { waitReady, type ServerProcess } from './workload/servers.ts';
import { Recorder, errorTable, kindTotals, operationTable, type OpRecord } from './workload/stats.ts';

const log = (line = '') => process.stdout.write(`${line}\n`);

const flags = parseFlags(process.argv.slice(2), ['keep-logs'], ['warmup', 'steady', 'pg-down', 'pg-mode', 'kill-down', 'set-aside', 'connections', 'rate', 'users', 'progress', 'tessera-env', 'kill']);
const warmup = numberFlag(flags, 'warmup', 20, { min: 5 });
const steady = numberFlag(flags, 'steady', 20, { min: 5 });
const pgDown = numberFlag(flags, 'pg-down', 5, { min: 0 });
const killDown = numberFlag(flags, 'kill-down', 3, { min: 0 });
// The share of the refresh-token chains held at a fault that is set aside (not used again until the checks);
// the rest go on being rotated, introspected and revoked through the fault.
const setAside = numberFlag(flags, 'set-aside', 0.5, { min: 0.01 });
if (setAside > 1) throw new Error('--set-aside is a share between 0.01 and 1');
const connections = numberFlag(flags, 'connections', 4, { min: 1, integer: true });
const rate = numberFlag(flags, 'rate', 100, { min: 0 });
const users = numberFlag(flags, 'users', 4, { min: 1, integer: true });
const progressSeconds = numberFlag(flags, 'progress', 5, { min: 1 });
const pgMode = String(flags['pg-mode'] ?? 'immediate');
if (pgMode !== 'immediate' && pgMode !== 'fast') throw new Error('--pg-mode must be immediate or fast');
const tesseraEnv = Object.fromEntries(
  String(flags['tessera-env'] ?? '')
    .split(',')
    .filter(Boolean)
    .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
);

interface Window {
  name: string;
  start: number;
  end: number;
  timeline: string[];
  /** /readyz answers seen while the window was open: server → [time, status or error]. */
  probes: Map<string, Array<[number, string]>>;
}

exitOnSignals();
log(`Tessera chaos — ${new Date().toISOString()}`);
for (const line of machineDescription()) log(line);
log(`Plan: warm-up ${warmup} s → set aside refresh tokens → PostgreSQL ${pgMode === 'immediate' ? 'crash (immediate shutdown)' : 'fast shutdown'}, down ${pgDown} s, start → ${steady} s → set aside refresh tokens → kill -9 one server, down ${killDown} s, start → ${steady} s → stop the workload → checks`);
log();

const unexpectedExits: string[] = [];
const recorder = new Recorder();
const environment = await startEnvironment({
  users,
  tesseraEnv,
  log,
  onUnexpectedExit: (s, e) => {
    const line = `server ${s.name} exited by itself at ${recorder.rel(e.at)} (code ${e.code}, signal ${e.signal})`;
    unexpectedExits.push(line);
    log(`  !! ${line}`);
  },
});
const { servers } = environment;
const pg = environment.pg!; // startEnvironment without `embedded` starts PostgreSQL
const windows: Window[] = [];
let exitCode = 0;

/** Polls every server's /readyz while a window is open. */
function probeReadiness(window: Window): () => void {
  let open = true;
  const loops = servers.map(async (s) => {
    const seen: Array<[number, string]> = [];
    window.probes.set(s.name, seen);
    while (open) {
      const at = wallNow();
      let outcome: string;
      try {
        const res = await fetch(`${s.origin}/readyz`, { signal: AbortSignal.timeout(3000) });
        await res.arrayBuffer();
        outcome = String(res.status);
      } catch (error) {
        const cause = (error as { cause?: { code?: string } }).cause?.code;
        outcome = (error as Error).name === 'TimeoutError' ? 'no answer in 3 s' : (cause ?? (error as Error).message);
      }
      if (seen.at(-1)?.[1] !== outcome) seen.push([at, outcome]);
      await sleep(250);
    }
  });
  return () => {
    open = false;
    void Promise.all(loops);
    // waitReady() saw 200 from every server just now.
    for (const seen of window.probes.values()) if (seen.at(-1)?.[1] !== '200') seen.push([window.end, '200']);
  };
}

/** After a fault: any server that is down (crashed by itself) is started again, and noted. */
async function restartCrashed(window: Window): Promise<void> {
  for (const s of servers) {
    if (!s.running()) {
      window.timeline.push(`${recorder.rel(wallNow())} server ${s.name} was not running (exited by itself): starting it again`);
      s.mark('restarted by chaos after exiting by itself');
      await s.start();
    }
  }
}

const note = (w: Window, text: string) => {
  w.timeline.push(`${recorder.rel(wallNow())} ${text}`);
  log(`  ${recorder.rel(wallNow()).padStart(7)}  ${text}`);
};

try {
  const workload = new Workload(environment.fixtures, environment.balancer, recorder);
  await workload.init();
  for (const line of describeWorkload(workload, connections, rate)) log(line);
  log();

  const rss = sampleRss(servers, 2000);
  const started = wallNow();
  recorder.startedAt = started;
  log(`Running (a line every ${progressSeconds} s):`);
  const ticker = progress(workload, servers, progressSeconds, log);
  const workers = startWorkers(workload, { connections, rate });
  await sleep(warmup * 1000);

  // ---- fault 1: PostgreSQL ----------------------------------------------------------------------------
  const reserved1 = workload.reserve('before the PostgreSQL restart', setAside);
  const revokedBefore1 = workload.revoked.length;
  const w1: Window = { name: `PostgreSQL ${pgMode === 'immediate' ? 'crash + restart' : 'restart'}`, start: wallNow(), end: 0, timeline: [], probes: new Map() };
  windows.push(w1);
  note(w1, `set aside ${reserved1.length} refresh-token chains (${workload.chains.size} more stay in the workload); ${revokedBefore1} revoked tokens so far`);
  const stopProbe1 = probeReadiness(w1);
  note(w1, `PostgreSQL: pg_ctl stop -m ${pgMode} (postmaster ${pg.pid()})`);
  await pg.restart({ mode: pgMode, downtimeMs: pgDown * 1000 });
  note(w1, `PostgreSQL: started again after ${pgDown} s down (postmaster ${pg.pid()})`);
  await restartCrashed(w1);
  await Promise.all(servers.map((s) => waitReady(s.origin, 120_000)));
  w1.end = wallNow();
  stopProbe1();
  note(w1, `every server's /readyz answers 200: window closed (${((w1.end - w1.start) / 1000).toFixed(1)} s)`);

  await sleep(steady * 1000);

  // ---- fault 2: kill -9 of one server -------------------------------------------------------------------
  const victim: ServerProcess = servers.find((s) => s.name === String(flags.kill ?? 'B')) ?? servers.at(-1)!;
  const reserved2 = workload.reserve('before kill -9', setAside);
  const revokedBefore2 = workload.revoked.length;
  const w2: Window = { name: `kill -9 of server ${victim.name}`, start: wallNow(), end: 0, timeline: [], probes: new Map() };
  windows.push(w2);
  note(w2, `set aside ${reserved2.length} refresh-token chains (${workload.chains.size} more stay in the workload); ${revokedBefore2} revoked tokens so far`);
  const stopProbe2 = probeReadiness(w2);
  const victimPid = victim.pid();
  await victim.kill9();
  note(w2, `server ${victim.name}: kill -9 ${victimPid}`);
  await sleep(killDown * 1000);
  victim.mark('started again by chaos after kill -9');
  await victim.start();
  note(w2, `server ${victim.name}: started again (pid ${victim.pid()}), /readyz 200`);
  await restartCrashed(w2);
  await Promise.all(servers.map((s) => waitReady(s.origin, 120_000)));
  w2.end = wallNow();
  stopProbe2();
  note(w2, `window closed (${((w2.end - w2.start) / 1000).toFixed(1)} s)`);

  await sleep(steady * 1000);
  await workers.stop();
  ticker.stop();
  rss.stop();
  const ended = wallNow();
  log(`  ${recorder.rel(ended).padStart(7)}  workload stopped`);

  // ---- checks, with the workload stopped ------------------------------------------------------------------
  const verify = new Recorder();
  const reservedAll: Array<[string, Chain[]]> = [...workload.reserved];
  const checkChain = async (chain: Chain, label: string) => {
    if (chain.accessExpiresAt - wallNow() > 5000) {
      await workload.execute(`access token still active (${label})`, 'fixed', () => workload.introspectChain(chain, 'access'), verify);
    }
    await workload.execute(`browser session still signed in (${label})`, 'hop', () => workload.sso(chain), verify);
    await workload.execute(`refresh token works (${label})`, 'fixed', () => workload.refresh(chain), verify);
  };
  const queue: Array<() => Promise<unknown>> = [];
  for (const [label, chains] of reservedAll) for (const c of chains) queue.push(() => checkChain(c, label));
  for (const { chain, op, kind, at, server } of workload.refused) {
    queue.push(async () => {
      const label = `refresh token still works after a ${op} refused with ${kind.replace(/^(http 503).*/, '$1')}`;
      const record = await workload.execute(label, 'fixed', () => workload.refresh(chain), verify);
      if (record.ok) return;
      // Explain: when was it refused, and did presenting it again cost the person the whole grant?
      const grant = await workload.accessTokenActive(chain).then(
        (active) => (active ? 'the grant is intact (its access token is still active)' : 'the grant is gone: its access token is now inactive (reuse detection revoked it)'),
        () => 'grant state unknown',
      );
      record.detail = `the ${op} at ${recorder.rel(at)} on ${server} was answered ${kind}; presented again: ${record.kind} "${record.detail}"; ${grant}`;
    });
  }
  workload.revoked.forEach((entry, i) => {
    const label = i < revokedBefore1 ? 'revoked before the PostgreSQL fault' : i < revokedBefore2 ? 'revoked before kill -9' : 'revoked after kill -9';
    queue.push(() => workload.execute(`${entry.what} token still revoked (${label})`, 'fixed', () => workload.introspectRevoked(entry), verify));
  });
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let job = queue.shift(); job; job = queue.shift()) await job();
    }),
  );

  // ---- report --------------------------------------------------------------------------------------------
  const records = recorder.records;
  const inWindow = (r: OpRecord, w: Window) => r.start <= w.end && r.end >= w.start;
  const outside = records.filter((r) => !windows.some((w) => inWindow(r, w)));
  const seconds = (ended - started) / 1000;
  log();
  log(`== Workload: ${records.length} operations in ${seconds.toFixed(1)} s, ${records.filter((r) => !r.ok).length} failed (${outside.filter((r) => !r.ok).length} outside the fault windows)`);
  log(operationTable(records, seconds, [...OPERATIONS]));
  log('Errors by kind (whole run):');
  const kinds = kindTotals(records);
  log(kinds.length ? kinds.map(([k, n]) => `  ${k}: ${n}`).join('\n') : '  (none)');

  const logsAll = logSummary(servers);
  for (const w of windows) {
    const mine = records.filter((r) => inWindow(r, w));
    const failed = mine.filter((r) => !r.ok);
    log();
    log(`== Fault window: ${w.name} — ${recorder.rel(w.start)} to ${recorder.rel(w.end)} (${((w.end - w.start) / 1000).toFixed(1)} s)`);
    for (const t of w.timeline) log(`  ${t}`);
    log('  /readyz seen while open:');
    for (const [name, seen] of w.probes) log(`    ${name}: ${seen.map(([at, outcome]) => `${recorder.rel(at)} ${outcome}`).join(' → ')}`);
    log(`  Operations overlapping the window: ${mine.length}, failed ${failed.length}`);
    log(errorTable(mine, '  '));
    const wlogs = logSummary(servers, (l) => l.time >= w.start && l.time <= w.end + 1000);
    log('  Server log lines (warn and above) in the window:');
    log(wlogs.text.length ? wlogs.text.map((t) => `  ${t}`).join('\n') : '    (none)');
  }

  log();
  log('== Outside the fault windows (before the first, between them, after recovery)');
  log(`  Operations: ${outside.length}, failed ${outside.filter((r) => !r.ok).length}`);
  if (outside.some((r) => !r.ok)) {
    log(errorTable(outside, '  '));
    for (const r of outside.filter((x) => !x.ok).slice(0, 10)) log(`    ${recorder.rel(r.start)} ${r.op} on ${r.server}: ${r.kind} — ${r.detail?.slice(0, 160)}`);
  }
  const logsOutside = logsAll.lines.filter((l) => Number.isNaN(l.time) || !windows.some((w) => l.time >= w.start && l.time <= w.end + 1000));
  const errorLinesOutside = logsOutside.filter((l) => l.level >= 50);
  log(`  Server log lines at warn and above outside the windows: ${logsOutside.length} (error or above: ${errorLinesOutside.length})`);
  for (const l of logsOutside.slice(0, 10)) log(`    ${l.server} ${l.raw.slice(0, 240)}`);

  log();
  log('== Checks after the faults (workload stopped)');
  const groups = new Map<string, { ok: number; failed: OpRecord[] }>();
  for (const r of verify.records) {
    const g = groups.get(r.op) ?? { ok: 0, failed: [] };
    if (r.ok) g.ok++;
    else g.failed.push(r);
    groups.set(r.op, g);
  }
  for (const [op, g] of groups) {
    log(`  ${g.failed.length ? 'FAIL' : 'ok  '} ${op}: ${g.ok}/${g.ok + g.failed.length}`);
    for (const r of g.failed.slice(0, 5)) log(`         ${r.kind} on ${r.server}: ${r.detail?.slice(0, 400)}`);
  }
  log(`  not checked: ${workload.retiredChains} chains whose rotation or revocation lost its connection mid-request: their state is unknown`);
  log();
  log('== Memory (VmRSS)');
  for (const line of rssReport(servers, rss.samples, started, w1.start)) log(line);
  log(`  (${victim.name} is a new process after the kill -9; its series restarts there)`);
  log();

  const problems: string[] = [];
  const outsideFailures = outside.filter((r) => !r.ok).length;
  if (outsideFailures) problems.push(`${outsideFailures} operations failed outside the fault windows`);
  const failedChecks = verify.records.filter((r) => !r.ok).length;
  if (failedChecks) problems.push(`${failedChecks} of ${verify.records.length} checks after the faults failed`);
  if (!reserved1.length || !reserved2.length) problems.push('no refresh tokens were set aside before a fault (warm-up too short?)');
  problems.push(...unexpectedExits);
  if (errorLinesOutside.length) problems.push(`${errorLinesOutside.length} server log lines at error level outside the fault windows`);
  const observations: string[] = [];
  for (const w of windows) {
    const failed = records.filter((r) => inWindow(r, w) && !r.ok);
    const s500 = failed.filter((r) => r.kind?.startsWith('http 5') && !r.kind.startsWith('http 503')).length;
    const slow = failed.filter((r) => r.end - r.start > 10_000).length;
    if (s500) observations.push(`${w.name}: ${s500} failures were 5xx other than 503`);
    if (slow) observations.push(`${w.name}: ${slow} failures took longer than 10 s`);
  }
  if (observations.length) log(`Observations: ${observations.join('; ')}`);
  if (problems.length) {
    exitCode = 1;
    log(`Result: FAIL — ${problems.join('; ')}`);
  } else {
    log(`Result: PASS — failures only inside the fault windows, none after recovery; ${verify.records.length} checks after the faults passed (${reservedAll.reduce((n, [, c]) => n + c.length, 0)} refresh tokens set aside before the faults work, ${workload.refused.length} whose rotation or revocation was refused during a fault work, ${workload.revoked.length} revoked tokens stay revoked)`);
  }
} catch (error) {
  exitCode = 1;
  log(`Chaos aborted: ${(error as Error).stack ?? String(error)}`);
  log(`PostgreSQL log tail:\n${pg.logTail(20)}`);
} finally {
  await environment.teardown();
  if (exitCode === 0 && flags['keep-logs'] !== true) rmSync(environment.logDir, { recursive: true, force: true });
  else log(`Server logs kept in ${environment.logDir}`);
}
process.exit(exitCode);
