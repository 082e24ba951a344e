// Every operation the workload runs becomes one record; the reports are computed from the records.
import { wallNow } from './routing.ts';

export interface OpRecord {
  op: string;
  /** The process that served the (last) request of the operation. */
  server: string;
  /** Wall-clock milliseconds (sub-millisecond precision). */
  start: number;
  end: number;
  ok: boolean;
  kind?: string;
  detail?: string;
}

export class Recorder {
  readonly records: OpRecord[] = [];
  /** Origin of the relative times in reports: set when the workload starts. */
  startedAt = wallNow();

  add(record: OpRecord): void {
    this.records.push(record);
  }

  /** Seconds since the run started, for timelines. */
  rel(at: number): string {
    return `${((at - this.startedAt) / 1000).toFixed(1)}s`;
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '–');

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** Per operation: count, errors, rate, latency percentiles of the successful ones. */
export function operationTable(records: OpRecord[], seconds: number, order: string[]): string {
  const ops = [...new Set([...order.filter((o) => records.some((r) => r.op === o)), ...records.map((r) => r.op)])];
  const rows = ops.map((op) => {
    const mine = records.filter((r) => r.op === op);
    const ok = mine.filter((r) => r.ok);
    const lat = ok.map((r) => r.end - r.start).sort((a, b) => a - b);
    return [op, String(mine.length), String(mine.length - ok.length), fmt(mine.length / seconds), fmt(percentile(lat, 50)), fmt(percentile(lat, 99)), fmt(lat.at(-1) ?? Number.NaN)];
  });
  const all = records.filter((r) => r.ok).map((r) => r.end - r.start).sort((a, b) => a - b);
  rows.push(['total', String(records.length), String(records.filter((r) => !r.ok).length), fmt(records.length / seconds), fmt(percentile(all, 50)), fmt(percentile(all, 99)), fmt(all.at(-1) ?? Number.NaN)]);
  return table(['operation', 'count', 'errors', 'per s', 'p50 ms', 'p99 ms', 'max ms'], rows);
}

/** Failures grouped by operation and kind, with the processes involved and one example detail. */
export function errorTable(records: OpRecord[], indent = '  '): string {
  const failed = records.filter((r) => !r.ok);
  if (failed.length === 0) return `${indent}(none)`;
  const groups = new Map<string, { count: number; servers: Map<string, number>; example: string; maxMs: number }>();
  for (const r of failed) {
    const key = `${r.op}\u0000${r.kind ?? '?'}`;
    const g = groups.get(key) ?? { count: 0, servers: new Map(), example: r.detail ?? '', maxMs: 0 };
    g.count++;
    g.servers.set(r.server, (g.servers.get(r.server) ?? 0) + 1);
    g.maxMs = Math.max(g.maxMs, r.end - r.start);
    groups.set(key, g);
  }
  const rows = [...groups].sort((a, b) => b[1].count - a[1].count).map(([key, g]) => {
    const [op, kind] = key.split('\u0000');
    const servers = [...g.servers].map(([s, n]) => `${s}:${n}`).join(' ');
    return [op!, kind!, String(g.count), servers, fmt(g.maxMs, 0), g.example.replace(/\s+/g, ' ').slice(0, 90)];
  });
  return table(['operation', 'error kind', 'count', 'served by', 'max ms', 'example'], rows)
    .split('\n')
    .map((l) => indent + l)
    .join('\n');
}

/** Errors by kind over every operation. */
export function kindTotals(records: OpRecord[]): Array<[string, number]> {
  const totals = new Map<string, number>();
  for (const r of records) if (!r.ok) totals.set(r.kind ?? '?', (totals.get(r.kind ?? '?') ?? 0) + 1);
  return [...totals].sort((a, b) => b[1] - a[1]);
}
