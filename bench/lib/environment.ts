// Shared bits of both benchmark scripts: flags, machine description, versions, the results folder.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
export const RESULTS_DIR = join(ROOT, 'bench', 'results');

export type Flags = Record<string, string | boolean>;

/** `--name value`, `--name=value`, or a bare `--flag` (boolean). */
export function parseFlags(argv: string[], booleans: readonly string[], valued: readonly string[]): Flags {
  const flags: Flags = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    if (!booleans.includes(name) && !valued.includes(name)) throw new Error(`unknown flag --${name}`);
    if (booleans.includes(name)) {
      flags[name] = eq > 0 ? arg.slice(eq + 1) !== 'false' : true;
    } else if (eq > 0) {
      flags[name] = arg.slice(eq + 1);
    } else {
      const value = argv[++i];
      if (value === undefined) throw new Error(`--${name} needs a value`);
      flags[name] = value;
    }
  }
  return flags;
}

export function numberFlag(flags: Flags, name: string, fallback: number, { min = 0, integer = false } = {}): number {
  const raw = flags[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) throw new Error(`--${name} must be a number ≥ ${min}${integer ? ' (integer)' : ''}`);
  return value;
}

function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

export function machineDescription(): string[] {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const head = git(['rev-parse', '--short', 'HEAD']) || 'unknown';
  const dirty = git(['status', '--porcelain', '--', 'src', 'migrations']);
  return [
    `Machine: ${cpu}, ${availableParallelism()} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB; load generator, servers and PostgreSQL share these cores`,
    `Node ${process.version}; oidc-provider ${packageVersion('oidc-provider')}; koa ${packageVersion('koa')}; autocannon ${packageVersion('autocannon')}`,
    `Tessera at ${head}${dirty ? ' with uncommitted changes in src/ or migrations/' : ''}`,
  ];
}

export function writeResult(fileName: string, content: string): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, fileName);
  writeFileSync(path, content.endsWith('\n') ? content : `${content}\n`);
  return path;
}

/** Fraction (0–1) of all cores' time spent busy over the next `ms` milliseconds (everything on the machine). */
export async function cpuBusy(ms = 1000): Promise<number> {
  const sample = () => cpus().reduce((acc, c) => ({ idle: acc.idle + c.times.idle, total: acc.total + c.times.user + c.times.nice + c.times.sys + c.times.irq + c.times.idle }), { idle: 0, total: 0 });
  const a = sample();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const b = sample();
  const total = b.total - a.total;
  return total > 0 ? 1 - (b.idle - a.idle) / total : 0;
}

/**
 * On a shared machine: waits (at most `maxSeconds`) until other work leaves the cores mostly idle
 * (< `threshold` busy over 2 s). Returns the last busy fraction seen.
 */
export async function waitForQuiet(maxSeconds: number, threshold = 0.2, log: (line: string) => void = () => {}): Promise<number> {
  const deadline = Date.now() + maxSeconds * 1000;
  let busy = await cpuBusy(2000);
  let told = false;
  while (busy >= threshold && Date.now() < deadline) {
    if (!told) log(`  waiting up to ${maxSeconds} s for the machine to go quiet (cores ${(busy * 100).toFixed(0)}% busy)…`);
    told = true;
    busy = await cpuBusy(2000);
  }
  return busy;
}
