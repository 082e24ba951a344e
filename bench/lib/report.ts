// Tables: raw figures per (server, workload), Tessera's ratios to the bare engine and the ceiling, targets.
import type { ServerKind } from './child.ts';
import type { Measurement } from './load.ts';
import type { CpuUsage } from './cpu.ts';
import { WORKLOADS, type WorkloadId } from './workloads.ts';

export interface Row {
  server: ServerKind;
  workload: WorkloadId;
  status: 'measured' | 'unsupported' | 'failed';
  measurement?: Measurement;
  reason?: string;
  note?: string;
  /** Tessera only: SQL statements per request, and the time spent waiting on them. */
  cpu?: CpuUsage;
  db?: { statementsPerRequest: number; msPerRequest: number; top: Array<{ sql: string; perRequest: number; msPerRequest: number }> };
}

export const SERVER_LABELS: Record<ServerKind, string> = {
  koa: 'raw Koa (ceiling)',
  engine: 'bare oidc-provider (memory adapter)',
  tessera: 'Tessera',
  tessera2: 'Tessera, two processes',
};

/** The label of a Tessera row: its backend, and "two processes" for the scale-out row. */
const labelOf = (server: ServerKind, tesseraLabel: string) =>
  server === 'tessera' ? tesseraLabel : server === 'tessera2' ? `${tesseraLabel}, two processes` : SERVER_LABELS[server];

const num = (v: number, digits = 0) => (Number.isFinite(v) ? v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '–');
const ms = (v: number) => (Number.isFinite(v) ? (v < 10 ? v.toFixed(2) : v.toFixed(1)) : '–');
const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b > 0 && Number.isFinite(a) ? `${(a / b).toFixed(2)}×` : '–');

export function find(rows: Row[], server: ServerKind, workload: WorkloadId): Row | undefined {
  return rows.find((r) => r.server === server && r.workload === workload);
}

export function resultsTable(rows: Row[], tesseraLabel: string): string {
  const lines = ['| Server | Workload | req/s | p50 ms | p99 ms | errors | notes |', '| --- | --- | ---: | ---: | ---: | ---: | --- |'];
  for (const row of rows) {
    const label = labelOf(row.server, tesseraLabel);
    const m = row.measurement;
    if (row.status === 'measured' && m) {
      const codes = m.errors ? ` errors by kind: ${Object.entries(m.statusCodes).filter(([k]) => !k.startsWith('2')).map(([k, v]) => `${k}: ${v}`).join(', ')}` : '';
      lines.push(`| ${label} | ${WORKLOADS[row.workload].label} | ${num(m.requestsPerSecond)} | ${ms(m.p50)} | ${ms(m.p99)} | ${m.errors} | ${[row.note, codes].filter(Boolean).join(';')} |`);
    } else {
      const what = row.status === 'unsupported' ? 'not supported yet' : 'FAILED';
      lines.push(`| ${label} | ${WORKLOADS[row.workload].label} | ${what} | – | – | – | ${(row.reason ?? '').replaceAll('|', '\\|')} |`);
    }
  }
  return lines.join('\n');
}

/** Which bare-engine workload each Tessera workload is compared with. */
const BASELINE: Partial<Record<WorkloadId, WorkloadId>> = {
  client_credentials: 'client_credentials',
  introspection_jwt: 'introspection_opaque',
  introspection_opaque: 'introspection_opaque',
  refresh: 'refresh',
};

export function ratioTable(rows: Row[]): string {
  const ceiling = find(rows, 'koa', 'ceiling')?.measurement;
  const lines = [
    '| Tessera workload | compared with bare engine | req/s × bare | req/s × ceiling | p50 × bare | p99 × bare | p50 × ceiling | p99 × ceiling |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const row of [...rows.filter((r) => r.server === 'tessera'), ...rows.filter((r) => r.server === 'tessera2')]) {
    const baseId = BASELINE[row.workload];
    const base = baseId ? find(rows, 'engine', baseId)?.measurement : undefined;
    const m = row.measurement;
    const against = baseId ? WORKLOADS[baseId].label : '–';
    const name = `${WORKLOADS[row.workload].label}${row.server === 'tessera2' ? ' — **two processes**' : ''}`;
    if (!m) {
      lines.push(`| ${name} | ${against} | ${row.status === 'unsupported' ? 'not supported yet' : 'failed'} | – | – | – | – | – |`);
      continue;
    }
    lines.push(
      `| ${name} | ${against} | ${ratio(m.requestsPerSecond, base?.requestsPerSecond)} | ${ratio(m.requestsPerSecond, ceiling?.requestsPerSecond)} | ` +
        `${ratio(m.p50, base?.p50)} | ${ratio(m.p99, base?.p99)} | ${ratio(m.p50, ceiling?.p50)} | ${ratio(m.p99, ceiling?.p99)} |`,
    );
  }
  return lines.join('\n');
}

/** Two processes against one, per workload: summed req/s, merged p50/p99. */
export function scaleOutTable(rows: Row[]): string {
  const lines = [
    '| Workload | one process req/s | two processes req/s | × one | one p50 / p99 ms | two p50 / p99 ms | two: errors |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const row of rows.filter((r) => r.server === 'tessera2')) {
    const one = find(rows, 'tessera', row.workload)?.measurement;
    const two = row.measurement;
    if (!two) {
      lines.push(`| ${WORKLOADS[row.workload].label} | ${one ? num(one.requestsPerSecond) : '–'} | ${row.status === 'unsupported' ? 'not supported yet' : 'failed'} | – | – | – | – |`);
      continue;
    }
    lines.push(
      `| ${WORKLOADS[row.workload].label} | ${one ? num(one.requestsPerSecond) : '–'} | ${num(two.requestsPerSecond)} | ${ratio(two.requestsPerSecond, one?.requestsPerSecond)} | ` +
        `${one ? `${ms(one.p50)} / ${ms(one.p99)}` : '–'} | ${ms(two.p50)} / ${ms(two.p99)} | ${two.errors} |`,
    );
  }
  return lines.join('\n');
}

export interface TargetResult {
  target: string;
  measured: string;
  verdict: 'pass' | 'MISS' | 'n/a';
}

export function targets(rows: Row[]): TargetResult[] {
  const out: TargetResult[] = [];
  const rpsTarget = (workload: WorkloadId, baseline: WorkloadId, factor: number, text: string) => {
    const t = find(rows, 'tessera', workload);
    const b = find(rows, 'engine', baseline);
    if (!t) return out.push({ target: text, measured: 'not run', verdict: 'n/a' });
    if (t.status === 'unsupported') return out.push({ target: text, measured: 'not supported yet', verdict: 'MISS' });
    if (!t.measurement) return out.push({ target: text, measured: `Tessera failed: ${t.reason ?? ''}`, verdict: 'MISS' });
    if (!b?.measurement) return out.push({ target: text, measured: 'no bare-engine figure', verdict: 'n/a' });
    const r = t.measurement.requestsPerSecond / b.measurement.requestsPerSecond;
    return out.push({
      target: text,
      measured: `${r.toFixed(2)}× (${num(t.measurement.requestsPerSecond)} vs ${num(b.measurement.requestsPerSecond)} req/s)`,
      verdict: r >= factor ? 'pass' : 'MISS',
    });
  };
  // Issue 15's targets.
  rpsTarget('client_credentials', 'client_credentials', 1.0, 'client_credentials req/s ≥ 1.0× bare engine');
  rpsTarget('introspection_jwt', 'introspection_opaque', 1.0, "JWT introspection req/s ≥ 1.0× bare engine's opaque introspection");
  rpsTarget('introspection_opaque', 'introspection_opaque', 0.9, 'opaque introspection req/s ≥ 0.9× bare engine');
  rpsTarget('refresh', 'refresh', 0.7, 'refresh rotation req/s ≥ 0.7× bare engine');
  for (const row of rows.filter((r) => r.server === 'tessera')) {
    const label = WORKLOADS[row.workload].label;
    if (!row.measurement) {
      out.push({ target: `p99 < 50 ms — ${label}`, measured: row.status === 'unsupported' ? 'not supported yet' : 'failed', verdict: row.status === 'unsupported' ? 'n/a' : 'MISS' });
      continue;
    }
    const m = row.measurement;
    out.push({ target: `p99 < 50 ms — ${label}`, measured: `${ms(m.p99)} ms`, verdict: m.p99 < 50 ? 'pass' : 'MISS' });
    out.push({ target: `zero errors — ${label}`, measured: String(m.errors), verdict: m.errors === 0 ? 'pass' : 'MISS' });
  }
  return out;
}

export function targetTable(results: TargetResult[]): string {
  return ['| Target | Measured | Result |', '| --- | --- | --- |', ...results.map((t) => `| ${t.target} | ${t.measured} | ${t.verdict} |`)].join('\n');
}

export function dbTable(rows: Row[]): string {
  const lines = ['| Workload | statements/request | ms waiting/request | statement | per request | ms/request |', '| --- | ---: | ---: | --- | ---: | ---: |'];
  for (const row of rows.filter((r) => r.db)) {
    const db = row.db!;
    db.top.forEach((st, i) => {
      const head = i === 0 ? `| ${WORKLOADS[row.workload].label}${row.server === 'tessera2' ? ' (two processes)' : ''} | ${db.statementsPerRequest.toFixed(2)} | ${db.msPerRequest.toFixed(2)} ` : '| | | ';
      lines.push(`${head}| \`${st.sql.replaceAll('|', '\\|').replaceAll('`', "'")}\` | ${st.perRequest.toFixed(2)} | ${st.msPerRequest.toFixed(2)} |`);
    });
  }
  return lines.join('\n');
}

export function cpuTable(rows: Row[], tesseraLabel: string): string {
  const pct = (v: number) => `${(v * 100).toFixed(0)}%`;
  const lines = [
    '| Server | Workload | server process | PostgreSQL backends | load generator | server + DB CPU ms/request |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
  ];
  for (const row of rows.filter((r) => r.cpu && r.measurement)) {
    const c = row.cpu!;
    const m = row.measurement!;
    const served = Math.max(1, m.successes + m.errors);
    const label = labelOf(row.server, tesseraLabel);
    const dbCell = row.server !== 'koa' && row.server !== 'engine' && c.databaseMs > 0 ? pct(c.databaseCores) : '–';
    lines.push(`| ${label} | ${WORKLOADS[row.workload].label} | ${pct(c.serverCores)} | ${dbCell} | ${pct(c.generatorCores)} | ${((c.serverMs + c.databaseMs) / served).toFixed(3)} |`);
  }
  return lines.join('\n');
}
