// Summary of a V8 .cpuprofile (node --cpu-prof): self time per function and per package, optionally only
// for the samples inside a time window (process.hrtime microseconds; V8's profiler uses the same
// monotonic clock on Linux), so set-up work (migrations, sign-ins) does not blur the picture.
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  windowed: boolean;
  totalMs: number;
  busyMs: number;
  topFunctions: Array<{ name: string; where: string; selfMs: number; percentOfBusy: number }>;
  topPackages: Array<{ name: string; selfMs: number; percentOfBusy: number }>;
}

function shortUrl(url: string, root: string): string {
  if (!url) return '';
  let u = url.replace(/^file:\/\//, '');
  if (u.startsWith(root)) u = u.slice(root.length + 1);
  return u;
}

function packageOf(url: string, root: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native / V8 builtins)';
  const u = shortUrl(url, root);
  if (u.startsWith('node:')) return 'node: core';
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = u.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const parts = u.split('/');
  if (parts[0] === 'src') return parts.length > 2 ? `tessera ${parts[0]}/${parts[1]}` : `tessera ${u}`;
  return parts.slice(0, 2).join('/');
}

export function summariseProfile(file: string, root: string, window?: [number, number], top = 20): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfMicros = new Map<number, number>();

  const collect = (filter: boolean) => {
    selfMicros.clear();
    let t = profile.startTime;
    let counted = 0;
    for (let i = 0; i < profile.samples.length; i++) {
      const delta = profile.timeDeltas[i] ?? 0;
      t += delta;
      if (filter && window && (t < window[0] || t > window[1])) continue;
      // Attribute to each sample the interval until the next sample.
      const interval = profile.timeDeltas[i + 1] ?? delta;
      const id = profile.samples[i]!;
      selfMicros.set(id, (selfMicros.get(id) ?? 0) + interval);
      counted++;
    }
    return counted;
  };
  let windowed = Boolean(window);
  if (window && collect(true) < 50) windowed = false;
  if (!windowed) collect(false);

  const fnTotals = new Map<string, { name: string; where: string; micros: number }>();
  const pkgTotals = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, micros] of selfMicros) {
    const node = byId.get(id)!;
    const { functionName, url, lineNumber } = node.callFrame;
    total += micros;
    if (functionName === '(idle)') {
      idle += micros;
      continue;
    }
    const name = functionName || '(anonymous)';
    const where = url ? `${shortUrl(url, root)}:${lineNumber + 1}` : '';
    const key = `${name}@${where}`;
    const entry = fnTotals.get(key) ?? { name, where, micros: 0 };
    entry.micros += micros;
    fnTotals.set(key, entry);
    const pkg = packageOf(url, root, functionName);
    pkgTotals.set(pkg, (pkgTotals.get(pkg) ?? 0) + micros);
  }
  const busy = total - idle;
  const pct = (m: number) => (busy > 0 ? (100 * m) / busy : 0);
  return {
    windowed,
    totalMs: total / 1000,
    busyMs: busy / 1000,
    topFunctions: [...fnTotals.values()]
      .sort((a, b) => b.micros - a.micros)
      .slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, selfMs: f.micros / 1000, percentOfBusy: pct(f.micros) })),
    topPackages: [...pkgTotals.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, micros]) => ({ name, selfMs: micros / 1000, percentOfBusy: pct(micros) })),
  };
}

export function formatProfile(summary: ProfileSummary, title: string): string {
  const lines = [
    `### ${title}`,
    '',
    `${summary.windowed ? 'Samples inside the measured window only' : 'Whole process lifetime (window filter found no samples)'}: ` +
      `${summary.totalMs.toFixed(0)} ms sampled, ${summary.busyMs.toFixed(0)} ms busy (not idle) on the server's main thread.`,
    '',
    '| self ms | % of busy | function | where |',
    '| ---: | ---: | --- | --- |',
    ...summary.topFunctions.map((f) => `| ${f.selfMs.toFixed(0)} | ${f.percentOfBusy.toFixed(1)} | \`${f.name}\` | ${f.where} |`),
    '',
    '| self ms | % of busy | package / area |',
    '| ---: | ---: | --- |',
    ...summary.topPackages.map((p) => `| ${p.selfMs.toFixed(0)} | ${p.percentOfBusy.toFixed(1)} | ${p.name} |`),
  ];
  return lines.join('\n');
}
