// Tessera server processes for the soak and chaos runs: `node bin/tessera.js serve`, exactly what operators
// run, each with its own PORT and the shared ISSUER and DATABASE_URL, logging JSON lines to a file of its own
// (appended to across restarts, so a kill -9 loses nothing already written). Also: the setup CLI calls,
// /proc readings (RSS) and the readiness probe.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const BIN = join(ROOT, 'bin', 'tessera.js');

/**
 * The environment every Tessera process gets: nothing inherited but PATH and HOME. DATABASE_URL, or
 * TESSERA_DATA_DIR for an embedded database (one process only).
 */
export interface TesseraEnv {
  TESSERA_SECRET: string;
  ISSUER: string;
  [key: string]: string;
}

function baseEnv(env: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env };
}

/** Runs one CLI command (`tessera <args>`) and returns its stdout, parsed as JSON when `--json` is given. */
export function cli(env: TesseraEnv, args: string[], stdin?: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env: baseEnv({ ...env, LOG_LEVEL: 'warn' }), timeout: 120_000 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`tessera ${args.join(' ')} failed: ${error.message}\n${stderr}`.trim()));
      if (!args.includes('--json')) return resolve(stdout);
      try {
        resolve(JSON.parse(stdout));
      } catch {
        reject(new Error(`tessera ${args.join(' ')} printed no JSON: ${stdout.slice(0, 300)}`));
      }
    });
    child.stdin!.end(stdin ?? '');
  });
}

export interface ExitEvent {
  at: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  expected: boolean;
}

export interface ServerProcess {
  name: string;
  port: number;
  /** http://127.0.0.1:PORT — where this process really listens (the issuer is shared). */
  origin: string;
  logFile: string;
  pid(): number | undefined;
  running(): boolean;
  /** Starts (or starts again) and waits until /readyz answers 200. */
  start(): Promise<void>;
  /** SIGKILL, as an OOM killer or a crashed node would. */
  kill9(): Promise<void>;
  /** SIGTERM, then SIGKILL after 15 s. */
  stop(): Promise<void>;
  /** Exits nobody asked for (a crash). */
  exits: ExitEvent[];
  /** Writes a marker line into the log file (e.g. before a restart). */
  mark(text: string): void;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  // Only processes this script started, by their PID.
  for (const child of live) if (child.exitCode === null && child.signalCode === null && child.pid) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

export async function waitReady(origin: string, timeoutMs: number, alive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`process exited before ${origin}/readyz answered 200 (${last})`);
    try {
      const res = await fetch(`${origin}/readyz`, { signal: AbortSignal.timeout(2000) });
      last = `${res.status} ${await res.text()}`;
      if (res.status === 200) return;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`${origin}/readyz did not answer 200 within ${timeoutMs} ms (last: ${last})`);
}

export function createServerProcess(name: string, port: number, env: TesseraEnv, logDir: string, onUnexpectedExit?: (e: ExitEvent) => void): ServerProcess {
  const logFile = join(logDir, `server-${name}.log`);
  let child: ChildProcess | undefined;
  let expectExit = false;
  const exits: ExitEvent[] = [];
  const origin = `http://127.0.0.1:${port}`;

  const server: ServerProcess = {
    name,
    port,
    origin,
    logFile,
    exits,
    pid: () => child?.pid,
    running: () => !!child && child.exitCode === null && child.signalCode === null,
    mark(text) {
      const fd = openSync(logFile, 'a');
      writeSync(fd, `${JSON.stringify({ level: 30, time: new Date().toISOString(), msg: `[${name}] ${text}`, marker: true })}\n`);
      closeSync(fd);
    },
    async start() {
      if (server.running()) throw new Error(`server ${name} already runs`);
      const fd = openSync(logFile, 'a');
      expectExit = false;
      const c = spawn(process.execPath, [BIN, 'serve'], {
        cwd: ROOT,
        env: baseEnv({ ...env, PORT: String(port), HOST: '127.0.0.1' }),
        stdio: ['ignore', fd, fd],
      });
      closeSync(fd);
      child = c;
      live.add(c);
      c.once('exit', (code, signal) => {
        live.delete(c);
        const event = { at: performance.timeOrigin + performance.now(), code, signal, expected: expectExit };
        if (!expectExit) {
          exits.push(event);
          onUnexpectedExit?.(event);
        }
      });
      await waitReady(origin, 90_000, () => c.exitCode === null && c.signalCode === null).catch((error: Error) => {
        throw new Error(`server ${name}: ${error.message}\n${tail(logFile, 15)}`);
      });
    },
    async kill9() {
      const c = child;
      if (!c || !server.running()) return;
      expectExit = true;
      const gone = new Promise((resolve) => c.once('exit', resolve));
      process.kill(c.pid!, 'SIGKILL');
      await gone;
    },
    async stop() {
      const c = child;
      if (!c || !server.running()) return;
      expectExit = true;
      const gone = new Promise((resolve) => c.once('exit', resolve));
      c.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      }, 15_000);
      await gone;
      clearTimeout(timer);
    },
  };
  return server;
}

/** VmRSS of a process in MiB (Linux /proc), undefined when unknown. */
export function rssMiB(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const match = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+)\s+kB/m);
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

export function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export interface LogLine {
  level: number;
  /** Wall-clock ms; for a line that is not JSON, the time of the JSON line before it. */
  time: number;
  msg: string;
  server: string;
  raw: string;
  /** Written around pino (e.g. a library's console output); stack-trace lines are folded into it. */
  notJson: boolean;
}

/**
 * Log lines at `minLevel` or above (pino: 40 warn, 50 error, 60 fatal), plus every line that is not JSON
 * (counted as level 50: nothing but pino should write to a server's output).
 */
export function readLog(file: string, server: string, minLevel = 40): LogLine[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: LogLine[] = [];
  let lastTime = Number.NaN;
  for (const raw of text.split('\n')) {
    if (!raw.trim()) continue;
    let parsed: { level?: number; time?: string | number; msg?: string; marker?: boolean } | undefined;
    try {
      parsed = JSON.parse(raw) as typeof parsed;
    } catch {
      // Stack frames belong to the message line before them.
      if (/^\s+at /.test(raw)) continue;
      out.push({ level: 50, time: lastTime, msg: `(not JSON) ${raw.slice(0, 160)}`, server, raw, notJson: true });
      continue;
    }
    const time = typeof parsed?.time === 'number' ? parsed.time : Date.parse(String(parsed?.time));
    if (Number.isFinite(time)) lastTime = time;
    if (!parsed || parsed.marker || (parsed.level ?? 0) < minLevel) continue;
    // First line only: some messages carry a stack trace.
    out.push({ level: parsed.level ?? 0, time, msg: (parsed.msg ?? '').split('\n')[0]!.slice(0, 200), server, raw, notJson: false });
  }
  return out;
}
