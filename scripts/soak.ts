// `npm run soak`: a bounded mixed workload against two `tessera serve` processes sharing one (private)
// PostgreSQL, for a fixed time; prints totals, errors by kind, p50/p99 per operation, RSS per process at
// start and end. Exit code 1 on any failed operation, any server exit, or any error-level server log line.
// With --embedded: the same against one process on an embedded database (PGlite) in a fresh data directory.
//
//   npm run soak                                   5 minutes, 4 workers paced to 100 operations/s
//   npm run soak -- --duration 60 --connections 4
//   SOAK_DURATION=60 SOAK_CONNECTIONS=4 npm run soak
//   npm run soak -- --embedded --duration 150
//   Flags: --embedded, --duration S, --connections N, --rate OPS_PER_S (0 = closed loop), --users N, --progress S,
//          --tessera-env KEY=VALUE,…  (extra settings for the servers and the CLI), --keep-logs
import { machineDescription, numberFlag, parseFlags } from '../bench/lib/environment.ts';
import { exitOnSignals, startEnvironment } from './workload/environment.ts';
import { Workload, OPERATIONS } from './workload/operations.ts';
import { describeWorkload, logSummary, rssReport } from './workload/report.ts';
import { progress, sampleRss, startWorkers } from './workload/runner.ts';
import { wallNow } from './workload/routing.ts';
import { Recorder, errorTable, kindTotals, operationTable } from './workload/stats.ts';
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const log = (line = '') => process.stdout.write(`${line}\n`);

const flags = parseFlags(process.argv.slice(2), ['keep-logs', 'embedded'], ['duration', 'connections', 'rate', 'users', 'progress', 'tessera-env']);
for (const [name, key] of [['duration', 'SOAK_DURATION'], ['connections', 'SOAK_CONNECTIONS'], ['rate', 'SOAK_RATE']] as const) {
  if (flags[name] === undefined && process.env[key]) flags[name] = process.env[key];
}
const duration = numberFlag(flags, 'duration', 300, { min: 5 });
const connections = numberFlag(flags, 'connections', 4, { min: 1, integer: true });
const rate = numberFlag(flags, 'rate', 100, { min: 0 });
const users = numberFlag(flags, 'users', 4, { min: 1, integer: true });
const progressSeconds = numberFlag(flags, 'progress', 30, { min: 1 });
const tesseraEnv = Object.fromEntries(
  String(flags['tessera-env'] ?? '')
    .split(',')
    .filter(Boolean)
    .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
);

exitOnSignals();
log(`Tessera soak — ${new Date().toISOString()}`);
for (const line of machineDescription()) log(line);
const embedded = flags.embedded === true;
log(`Duration ${duration} s${embedded ? '; embedded database (PGlite), one process' : ''}${Object.keys(tesseraEnv).length ? `; extra settings ${JSON.stringify(tesseraEnv)}` : ''}`);
log();

const unexpectedExits: string[] = [];
const environment = await startEnvironment({
  users,
  embedded,
  tesseraEnv,
  log,
  onUnexpectedExit: (s, e) => {
    const line = `server ${s.name} exited unexpectedly (code ${e.code}, signal ${e.signal})`;
    unexpectedExits.push(line);
    log(`  !! ${line}`);
  },
});
const { servers } = environment;
let exitCode = 0;
try {
  const recorder = new Recorder();
  const workload = new Workload(environment.fixtures, environment.balancer, recorder);
  await workload.init();
  for (const line of describeWorkload(workload, connections, rate, servers.length)) log(line);
  log();

  const rss = sampleRss(servers, 5000);
  const started = wallNow();
  recorder.startedAt = started;
  log(`Running for ${duration} s (a line every ${progressSeconds} s):`);
  const ticker = progress(workload, servers, progressSeconds, log);
  const workers = startWorkers(workload, { connections, rate });
  await sleep(duration * 1000);
  await workers.stop();
  ticker.stop();
  rss.stop();
  const seconds = (wallNow() - started) / 1000;
  const records = recorder.records;

  log();
  log(`== Results: ${records.length} operations in ${seconds.toFixed(1)} s (${(records.length / seconds).toFixed(1)}/s), ${records.filter((r) => !r.ok).length} failed`);
  log(operationTable(records, seconds, [...OPERATIONS]));
  log(`(latency: whole operation as the client sees it, successful ones; a sign-in is 7 HTTP requests)`);
  log(`Chains: ${workload.chains.size} held at the end; ${workload.retiredChains + workload.refused.length} retired after a failure; ${workload.revoked.length} revoked tokens checked by introspect:revoked`);
  log();
  log('== Errors by kind');
  const kinds = kindTotals(records);
  log(kinds.length ? kinds.map(([k, n]) => `  ${k}: ${n}`).join('\n') : '  (none)');
  if (kinds.length) {
    log('By operation:');
    log(errorTable(records));
  }
  log();
  log('== Memory (VmRSS from /proc/PID/status), start = when the workload began');
  for (const line of rssReport(servers, rss.samples, started, started + Math.min(60, duration / 5) * 1000)) log(line);
  log();
  log('== Server logs (warn and above)');
  const logs = logSummary(servers);
  log(logs.text.length ? logs.text.join('\n') : '  (none)');
  log(`  full logs: ${servers.map((s) => s.logFile).join(', ')} (deleted after a PASS unless --keep-logs)`);
  log();

  const problems: string[] = [];
  if (records.some((r) => !r.ok)) problems.push(`${records.filter((r) => !r.ok).length} operations failed`);
  problems.push(...unexpectedExits);
  const errorLines = logs.lines.filter((l) => l.level >= 50).length;
  if (errorLines) problems.push(`${errorLines} server log lines at level error or above`);
  if (problems.length) {
    exitCode = 1;
    log(`Result: FAIL — ${problems.join('; ')}`);
  } else {
    log('Result: PASS — no failed operation, no server exit, no error in the server logs');
  }
} catch (error) {
  exitCode = 1;
  log(`Soak aborted: ${(error as Error).stack ?? String(error)}`);
} finally {
  await environment.teardown();
  // Server logs are kept when something went wrong (or with --keep-logs).
  if (exitCode === 0 && flags['keep-logs'] !== true) rmSync(environment.logDir, { recursive: true, force: true });
  else log(`Server logs kept in ${environment.logDir}`);
}
process.exit(exitCode);
