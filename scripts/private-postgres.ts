// A throw-away PostgreSQL 15 cluster of our own: initdb into a fresh temporary directory, trust
// authentication, listening on 127.0.0.1 on a free port (never 5432: the shared server others test against
// stays untouched), its Unix socket inside that directory. Used by `npm run soak` / `npm run chaos`, and
// importable from tests that need to stop, crash or restart "the database" without disturbing anyone.
//
//   const pg = await startPrivatePostgres();
//   pg.url                       postgres://postgres@127.0.0.1:<port>/postgres
//   await pg.restart()           pg_ctl restart -m fast (or { mode: 'immediate', downtimeMs } to stay down a while)
//   await pg.kill(); await pg.start()   immediate shutdown (a crash: no checkpoint, recovery from WAL on start)
//   await pg.stop()              stop for good and delete the directory
//
// Clean-up: stop() removes the cluster; a process 'exit' hook does it if the owner forgets or fails; and a
// small detached watchdog shell does it if the owner dies without running exit hooks (SIGKILL, OOM).
// The server runs as the `postgres` OS user when we are root (initdb refuses root), through runuser.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../test/helpers/free-port.ts';

export interface PrivatePostgresOptions {
  /** Directory holding initdb, pg_ctl and postgres. Default: $PG_BIN or /usr/lib/postgresql/15/bin. */
  binDir?: string;
  /** Extra postgresql.conf settings (name → value). */
  settings?: Record<string, string | number>;
  /** Where the temporary directory is made (default: the OS temp directory). */
  parentDir?: string;
  /** Progress lines (commands run), for scripts that narrate. */
  log?: (line: string) => void;
}

export interface RestartOptions {
  /** fast (default): clean shutdown with a checkpoint; immediate: a crash, recovery from WAL on start. */
  mode?: 'fast' | 'immediate';
  /** Stay down this long between stopping and starting (default 0). */
  downtimeMs?: number;
}

export interface PrivatePostgres {
  /** postgres://postgres@127.0.0.1:PORT/postgres (trust auth, no password). */
  url: string;
  port: number;
  /** The temporary directory: data/ (the cluster), the socket, postgres.log. */
  dir: string;
  /** PID of the postmaster while it runs. */
  pid(): number | undefined;
  /** Stops for good (fast, then immediate if that fails) and deletes the directory. Idempotent. */
  stop(): Promise<void>;
  /** Stops and starts again on the same port and data. */
  restart(options?: RestartOptions): Promise<void>;
  /** Immediate shutdown (pg_ctl stop -m immediate): simulates a crash. The cluster stays; start() revives it. */
  kill(): Promise<void>;
  /** Starts the cluster after kill() or a stopped restart. */
  start(): Promise<void>;
  /** Last lines of the server's log (empty once stop() removed it). */
  logTail(lines?: number): string;
}

const DEFAULT_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const SHARED_PORT = 5432;

interface OsUser {
  uid: number;
  gid: number;
}

function lookupUser(name: string): OsUser | undefined {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[0] === name) return { uid: Number(f[2]), gid: Number(f[3]) };
    }
  } catch {
    // no /etc/passwd
  }
  return undefined;
}

/** Runs a PostgreSQL binary: as `postgres` through runuser when we are root, directly otherwise. */
function command(binDir: string, program: string, args: string[]): [string, string[]] {
  const path = join(binDir, program);
  if (process.getuid?.() === 0) return ['runuser', ['-u', 'postgres', '--', path, ...args]];
  return [path, args];
}

function run(binDir: string, program: string, args: string[], timeoutMs = 120_000): Promise<string> {
  const [file, argv] = command(binDir, program, args);
  return new Promise((resolve, reject) => {
    // cwd: the postgres user may not be allowed into the caller's working directory.
    execFile(file, argv, { timeout: timeoutMs, cwd: '/', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' } }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${program} ${args.join(' ')} failed: ${error.message}\n${stdout}${stderr}`.trim()));
      else resolve(`${stdout}${stderr}`);
    });
  });
}

function runSync(binDir: string, program: string, args: string[]): void {
  const [file, argv] = command(binDir, program, args);
  spawnSync(file, argv, { stdio: 'ignore', timeout: 30_000, cwd: '/' });
}

export async function startPrivatePostgres(options: PrivatePostgresOptions = {}): Promise<PrivatePostgres> {
  const binDir = options.binDir ?? DEFAULT_BIN;
  const log = options.log ?? (() => {});
  for (const program of ['initdb', 'pg_ctl', 'postgres']) {
    if (!existsSync(join(binDir, program))) throw new Error(`PostgreSQL binaries not found: ${join(binDir, program)} (set PG_BIN)`);
  }
  const root = process.getuid?.() === 0;
  const owner = root ? lookupUser('postgres') : undefined;
  if (root && !owner) throw new Error('running as root needs a `postgres` OS user to own the cluster');

  const dir = mkdtempSync(join(options.parentDir ?? tmpdir(), 'tessera-pg-'));
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');

  let removed = false;
  let watchdog: number | undefined;
  const removeSync = () => {
    if (removed) return;
    removed = true;
    if (existsSync(join(dataDir, 'postmaster.pid'))) runSync(binDir, 'pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', '-t', '20', 'stop']);
    rmSync(dir, { recursive: true, force: true });
    if (watchdog) {
      try {
        process.kill(watchdog, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  };
  process.on('exit', removeSync);

  try {
    log(`initdb ${dataDir}`);
    await run(binDir, 'initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions']);
    const settings: Record<string, string | number> = {
      listen_addresses: "'127.0.0.1'",
      unix_socket_directories: `'${dir}'`,
      max_connections: 100,
      shared_buffers: "'64MB'",
      // Durable like production: a crash (immediate shutdown) may lose nothing that was acknowledged.
      fsync: 'on',
      synchronous_commit: 'on',
      log_min_messages: 'warning',
      ...options.settings,
    };
    appendFileSync(join(dataDir, 'postgresql.conf'), `\n# tessera private-postgres\n${Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`);

    // The watchdog: when the owner process disappears without its exit hook (SIGKILL), stop and delete.
    const [stopFile, stopArgs] = command(binDir, 'pg_ctl', ['-D', dataDir, '-m', 'immediate', 'stop']);
    const script = 'while kill -0 "$1" 2>/dev/null; do sleep 2; done; shift; dir="$1"; shift; "$@" >/dev/null 2>&1; rm -rf "$dir"';
    const dog = spawn('sh', ['-c', script, 'sh', String(process.pid), dir, stopFile, ...stopArgs], { detached: true, stdio: 'ignore', cwd: '/' });
    dog.unref();
    watchdog = dog.pid;

    let port = 0;
    let started = false;
    for (let attempt = 1; attempt <= 5 && !started; attempt++) {
      port = await freePort();
      if (port === SHARED_PORT) continue;
      try {
        log(`pg_ctl start (port ${port})`);
        await run(binDir, 'pg_ctl', ['-D', dataDir, '-l', logFile, '-o', `-p ${port} -k ${dir}`, '-w', '-t', '60', 'start']);
        started = true;
      } catch (error) {
        if (attempt === 5) throw error;
        // Someone took the port between freePort() and the bind: try another.
      }
    }
    if (!started) throw new Error('could not start a private PostgreSQL');

    const startArgs = ['-D', dataDir, '-l', logFile, '-o', `-p ${port} -k ${dir}`, '-w', '-t', '60'];
    const pid = () => {
      try {
        return Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]) || undefined;
      } catch {
        return undefined;
      }
    };
    const halt = async (mode: 'fast' | 'immediate') => {
      log(`pg_ctl stop -m ${mode}`);
      await run(binDir, 'pg_ctl', ['-D', dataDir, '-m', mode, '-w', '-t', '60', 'stop']);
    };
    const start = async () => {
      log('pg_ctl start');
      await run(binDir, 'pg_ctl', [...startArgs, 'start']);
    };
    let stopping: Promise<void> | undefined;
    return {
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      port,
      dir,
      pid,
      stop() {
        stopping ??= (async () => {
          if (pid() !== undefined) {
            try {
              await halt('fast');
            } catch {
              await halt('immediate').catch(() => {});
            }
          }
          removeSync();
          process.off('exit', removeSync);
        })();
        return stopping;
      },
      async restart({ mode = 'fast', downtimeMs = 0 } = {}) {
        if (mode === 'fast' && downtimeMs === 0) {
          log('pg_ctl restart -m fast');
          await run(binDir, 'pg_ctl', ['-D', dataDir, '-l', logFile, '-o', `-p ${port} -k ${dir}`, '-m', 'fast', '-w', '-t', '60', 'restart']);
          return;
        }
        await halt(mode);
        if (downtimeMs > 0) await sleep(downtimeMs);
        await start();
      },
      kill: () => halt('immediate'),
      start,
      logTail(lines = 30) {
        try {
          return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
        } catch {
          return '';
        }
      },
    };
  } catch (error) {
    removeSync();
    process.off('exit', removeSync);
    throw error;
  }
}

// `node scripts/private-postgres.ts`: start one, print its URL, keep it until Ctrl-C (handy for poking at it).
if (import.meta.main) {
  const pg = await startPrivatePostgres({ log: (l) => process.stderr.write(`private-postgres: ${l}\n`) });
  process.stdout.write(`${pg.url}\n(pid ${pg.pid()}, directory ${pg.dir}; Ctrl-C stops and deletes it)\n`);
  const done = () => void pg.stop().finally(() => process.exit(0));
  process.once('SIGINT', done);
  process.once('SIGTERM', done);
  setInterval(() => {}, 1 << 30);
}
