// npm run bench:startup [-- --runs 7 --root [label=]<checkout>[,…] --wait-quiet <s> --no-write]
//
// Wall time of `tessera` processes as an operator sees them, each a fresh `node bin/tessera.js …` child:
//   - the CLI: --version, and `user list`, `keys list`, `client create` answered by a running embedded server
//     through its control socket, directly on PostgreSQL (DATABASE_URL set; a migrated database), and on the
//     embedded database with no server running (the command opens PGlite itself);
//   - `serve` on the embedded database: from spawn to the first `GET /readyz` → 200, on a new empty data
//     directory (first start: initdb, migrations, keys) and again on the same directory (second start).
// Medians, minimum and maximum of --runs runs; written to bench/results/startup.md. --root names the checkouts
// to measure (default: this one), comma-separated, e.g. an older commit (`git archive <commit> | tar -x -C
// /tmp/before` plus a node_modules link) and this one: their runs alternate, for before/after figures taken
// under the same conditions. No timing is asserted anywhere: this reports, docs/benchmarks.md records.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../test/helpers/free-port.ts';
import { CONFIG_VARIABLES } from '../src/config.ts';
import { createBenchDatabase, type BenchDatabase } from './lib/database.ts';
import { cpuBusy, machineDescription, numberFlag, parseFlags, ROOT, waitForQuiet, writeResult } from './lib/environment.ts';

const USAGE = `usage: npm run bench:startup -- [--runs <n>=7] [--root [label=]<checkout>[,…]=this one] [--wait-quiet <s>=0] [--no-write]
  --root      the checkouts to measure, their runs alternating (before/after under the same conditions),
              each named by its path or by the label given (before=/tmp/before,after=.)
  DATABASE_URL set → also the CLI directly on PostgreSQL (fresh tessera_bench_* databases, dropped afterwards).`;

const SECRET = 'bench-secret-bench-secret-bench-secret-0123456789';

interface Sample {
  label: string;
  /** Which checkout (--root) it was measured on. */
  checkout: string;
  ms: number[];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of CONFIG_VARIABLES) delete env[name];
  delete env.NODE_COMPILE_CACHE;
  delete env.NODE_OPTIONS;
  return { ...env, LOG_LEVEL: 'warn', ...extra };
}


/** Runs `tessera <args>` to its exit; the wall time in ms. Fails on a non-zero exit. */
function timeCommand(root: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolveRun, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [join(root, 'bin/tessera.js'), ...args], { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => {
      const ms = performance.now() - started;
      if (code === 0) resolveRun(ms);
      else reject(new Error(`tessera ${args.join(' ')} exited ${code}: ${stderr.trim().split('\n').pop()}`));
    });
  });
}

interface Serving {
  readyMs: number;
  stop(): Promise<void>;
}

/** Spawns `tessera serve` and polls /readyz every 10 ms; readyMs is spawn → first 200. */
async function startServe(root: string, env: NodeJS.ProcessEnv): Promise<Serving> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [join(root, 'bin/tessera.js'), 'serve'], { cwd: root, env: { ...env, PORT: String(port), HOST: '127.0.0.1' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolveExit) => child.once('close', resolveExit));
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));
  for (;;) {
    if (exitCode !== undefined) throw new Error(`tessera serve exited ${exitCode} before it was ready: ${stderr.trim().split('\n').pop()}`);
    try {
      const response = await fetch(`http://127.0.0.1:${port}/readyz`);
      await response.arrayBuffer();
      if (response.status === 200) break;
    } catch {
      // not listening yet
    }
    if (performance.now() - started > 120_000) {
      child.kill('SIGKILL');
      throw new Error('tessera serve was not ready within 120 s');
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const readyMs = performance.now() - started;
  return {
    readyMs,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

const fmt = (ms: number) => (ms / 1000).toFixed(2);
const summary = (ms: number[]) => `${fmt(median(ms))} (${fmt(Math.min(...ms))}–${fmt(Math.max(...ms))})`;

interface Checkout {
  root: string;
  label: string;
}

/**
 * One measurement on every checkout, run after run, alternating between them (so a machine that gets busier
 * or quieter meanwhile weighs on each alike). `once(checkout, run)` gives the milliseconds of one run.
 */
async function measure(label: string, checkouts: Checkout[], runs: number, once: (c: Checkout, run: number) => Promise<number>, log: (line: string) => void): Promise<Sample[]> {
  const samples = checkouts.map((c) => ({ label, checkout: c.label, ms: [] as number[] }));
  for (let run = 0; run < runs; run++) for (const [i, c] of checkouts.entries()) samples[i]!.ms.push(await once(c, run));
  log(`  ${label}: ${samples.map((s) => `${s.checkout} ${summary(s.ms)} s`).join('; ')}`);
  return samples;
}

async function main(): Promise<void> {
  let flags;
  try {
    flags = parseFlags(process.argv.slice(2), ['no-write', 'help'], ['runs', 'root', 'wait-quiet']);
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  const runs = numberFlag(flags, 'runs', 7, { min: 1, integer: true });
  const waitQuiet = numberFlag(flags, 'wait-quiet', 0);
  // `path` or `label=path`, comma-separated.
  const checkouts: Checkout[] = (typeof flags.root === 'string' ? flags.root.split(',') : [ROOT]).map((entry) => {
    const eq = entry.indexOf('=');
    const root = resolve(eq > 0 ? entry.slice(eq + 1).trim() : entry.trim());
    return { root, label: eq > 0 ? entry.slice(0, eq).trim() : root === ROOT ? 'this checkout' : root };
  });
  const log = (text: string) => console.log(text);
  const work = mkdtempSync(join(tmpdir(), 'tessera-startup-'));
  const samples: Sample[] = [];
  const databases: BenchDatabase[] = [];
  const servers: Serving[] = [];
  try {
    log(`${checkouts.map((c) => c.label).join(' vs ')}; ${runs} runs each`);
    if (waitQuiet > 0) await waitForQuiet(waitQuiet, 0.2, log);
    const busy = await cpuBusy(1000);
    const dir = (c: Checkout, name: string) => join(work, `${checkouts.indexOf(c)}-${name}`);
    const embedded = (c: Checkout) => cleanEnv({ TESSERA_DATA_DIR: dir(c, 'data') });

    log('CLI');
    samples.push(...(await measure('tessera --version', checkouts, runs, (c) => timeCommand(c.root, ['--version'], cleanEnv({})), log)));

    // Embedded: a data directory per checkout made by a first start (migrated, keys made), then commands
    // with its server running, then with none.
    for (const c of checkouts) await (await startServe(c.root, embedded(c))).stop();
    for (const c of checkouts) servers.push(await startServe(c.root, embedded(c)));
    for (const args of [['user', 'list'], ['keys', 'list'], ['client', 'create', '--name', 'bench', '--json']]) {
      const label = `tessera ${args.slice(0, 2).join(' ')} (embedded, answered by the running server)`;
      samples.push(...(await measure(label, checkouts, runs, (c) => timeCommand(c.root, args, embedded(c)), log)));
    }
    for (const server of servers.splice(0)) await server.stop();
    samples.push(...(await measure('tessera user list (embedded, no server running: opens PGlite itself)', checkouts, runs, (c) => timeCommand(c.root, ['user', 'list'], embedded(c)), log)));

    if (process.env.DATABASE_URL) {
      const pgEnv = new Map<Checkout, NodeJS.ProcessEnv>();
      for (const c of checkouts) {
        const database = await createBenchDatabase(process.env.DATABASE_URL);
        databases.push(database);
        pgEnv.set(c, cleanEnv({ DATABASE_URL: database.url, TESSERA_SECRET: SECRET, TESSERA_DATA_DIR: dir(c, 'unused') }));
        await timeCommand(c.root, ['migrate'], pgEnv.get(c)!);
      }
      for (const args of [['user', 'list'], ['keys', 'list'], ['client', 'create', '--name', 'bench', '--json']]) {
        const label = `tessera ${args.slice(0, 2).join(' ')} (PostgreSQL, migrated)`;
        samples.push(...(await measure(label, checkouts, runs, (c) => timeCommand(c.root, args, pgEnv.get(c)!), log)));
      }
    } else {
      log('  (DATABASE_URL not set: the PostgreSQL commands are skipped)');
    }

    log('serve (embedded), spawn → GET /readyz 200');
    const starts = async (c: Checkout, run: number) => {
      const env = cleanEnv({ TESSERA_DATA_DIR: dir(c, `start-${run}`) });
      const first = await startServe(c.root, env);
      await first.stop();
      const second = await startServe(c.root, env);
      await second.stop();
      return [first.readyMs, second.readyMs] as const;
    };
    const firsts = checkouts.map((c) => ({ label: 'tessera serve, first start (new empty data directory)', checkout: c.label, ms: [] as number[] }));
    const seconds = checkouts.map((c) => ({ label: 'tessera serve, second start (same data directory)', checkout: c.label, ms: [] as number[] }));
    for (let run = 0; run < runs; run++) {
      for (const [i, c] of checkouts.entries()) {
        const [a, b] = await starts(c, run);
        firsts[i]!.ms.push(a);
        seconds[i]!.ms.push(b);
      }
    }
    for (const group of [firsts, seconds]) {
      samples.push(...group);
      log(`  ${group[0]!.label}: ${group.map((s) => `${s.checkout} ${summary(s.ms)} s`).join('; ')}`);
    }

    const labels = [...new Set(samples.map((s) => s.label))];
    const report = [
      '# CLI and start-up latency (`npm run bench:startup`)',
      '',
      ...machineDescription().map((l) => `- ${l}`),
      `- ${runs} runs each, alternating between checkouts; cores ${(busy * 100).toFixed(0)}% busy before the run. Seconds: median (min–max)`,
      '',
      `| What | ${checkouts.map((c) => c.label).join(' | ')} |`,
      `| --- | ${checkouts.map(() => '---:').join(' | ')} |`,
      ...labels.map((label) => `| ${label} | ${checkouts.map((c) => summary(samples.find((s) => s.label === label && s.checkout === c.label)!.ms)).join(' | ')} |`),
    ].join('\n');
    if (!flags['no-write']) log(`\nwritten to ${writeResult('startup.md', report)}`);
    else log(`\n${report}`);
  } finally {
    for (const server of servers) await server.stop();
    for (const database of databases) await database.drop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
