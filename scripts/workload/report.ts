// Report sections both scripts print: the workload description, RSS per process, server log problems.
import { DESCRIPTIONS, OPERATIONS, type Workload } from './operations.ts';
import type { RssSample } from './runner.ts';
import { readLog, type LogLine, type ServerProcess } from './servers.ts';
import { table } from './stats.ts';

export function describeWorkload(workload: Workload, connections: number, rate: number, processes = 2): string[] {
  const total = OPERATIONS.reduce((s, op) => s + workload.weights[op], 0);
  return [
    `Workload: ${connections} concurrent workers${rate > 0 ? `, paced to ${rate} operations/s in total` : ', closed loop (each starts its next operation when the last ends)'}; per-request timeout ${workload.timeoutSeconds} s.`,
    processes === 1
      ? 'Routing: one process serves every request.'
      : 'Routing: both processes share one issuer; each operation goes to the next process in turn, every request of a sign-in to a random one (no sticky sessions).',
    'Operations (share of picks):',
    ...OPERATIONS.map((op) => `  ${op.padEnd(19)} ${String(Math.round((workload.weights[op] / total) * 100)).padStart(3)}%  ${DESCRIPTIONS[op]}`),
  ];
}

/**
 * RSS per process: at the start of the workload, after the warm-up (`warmAt`: JIT, connection pools and
 * argon2 buffers fill the first minute), half-way and at the end. "Flat" means no growth over the second
 * half (`end − half`).
 */
export function rssReport(servers: ServerProcess[], samples: RssSample[], startedAt: number, warmAt: number): string[] {
  const endedAt = samples.at(-1)?.at ?? startedAt;
  const halfAt = startedAt + (endedAt - startedAt) / 2;
  const label = (at: number) => `${((at - startedAt) / 1000).toFixed(0)}s`;
  const rows = servers.map((s) => {
    const series = samples.map((x) => ({ at: x.at, v: x.rss[s.name] })).filter((x): x is { at: number; v: number } => x.v !== undefined);
    const first = series[0]?.v;
    const last = series.at(-1)?.v;
    const warm = series.find((x) => x.at >= warmAt)?.v;
    const half = series.find((x) => x.at >= halfAt)?.v;
    const fmt = (v: number | undefined) => (v === undefined ? '–' : v.toFixed(1));
    const growth = (from: number | undefined) => (from && last ? `${last >= from ? '+' : ''}${(last - from).toFixed(1)} (${(((last - from) / from) * 100).toFixed(0)}%)` : '–');
    const values = series.map((x) => x.v);
    return [s.name, String(s.pid() ?? '–'), fmt(first), fmt(warm), fmt(half), fmt(last), fmt(values.length ? Math.max(...values) : undefined), growth(first), growth(warm), growth(half)];
  });
  const header = ['server', 'pid', 'start', `at ${label(warmAt)}`, `at ${label(halfAt)}`, 'end', 'max', 'end − start', `end − ${label(warmAt)}`, `end − ${label(halfAt)}`];
  const lines = ['(MiB)', ...table(header, rows).split('\n')];
  // The series, thinned to ≤ 12 points per process.
  const step = Math.max(1, Math.ceil(samples.length / 12));
  const picked = samples.filter((_, i) => i % step === 0 || i === samples.length - 1);
  lines.push('RSS over time (MiB):');
  for (const s of servers) {
    lines.push(`  ${s.name}: ${picked.map((x) => `${label(x.at)} ${x.rss[s.name]?.toFixed(0) ?? 'down'}`).join(' · ')}`);
  }
  return lines;
}

export interface LogSummary {
  lines: LogLine[];
  text: string[];
}

/** Log lines at warn or above (and lines that are not JSON) from every server, grouped by server, level and message. */
export function logSummary(servers: ServerProcess[], filter: (l: LogLine) => boolean = () => true): LogSummary {
  const lines = servers.flatMap((s) => readLog(s.logFile, s.name, 40)).filter(filter);
  const groups = new Map<string, { n: number; first: LogLine }>();
  for (const l of lines) {
    const key = `${l.server}\u0000${l.level}\u0000${l.msg}`;
    const g = groups.get(key) ?? { n: 0, first: l };
    g.n++;
    groups.set(key, g);
  }
  const level = (l: LogLine) => (l.notJson ? 'text' : l.level >= 60 ? 'fatal' : l.level >= 50 ? 'error' : 'warn');
  const text = [...groups.values()].map(({ n, first }) => `  ${first.server} ${level(first).padEnd(5)} ×${String(n).padEnd(5)} ${first.notJson ? first.msg : `${first.msg}  e.g. ${first.raw.slice(0, 160)}…`}`);
  return { lines, text };
}
