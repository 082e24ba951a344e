// Runs a script of test/interop/python/ with Debian's Python (/usr/bin/python3, which has python3-authlib;
// a `python3` earlier on PATH may not) as a child process that prints one JSON object per line. The test
// reads those lines as they come and may answer on the script's stdin; every wait is bounded, and the
// process is killed by its PID at the end whatever happened.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const PYTHON = '/usr/bin/python3';

export function pythonScript(name: string): string {
  return fileURLToPath(new URL(`../python/${name}`, import.meta.url));
}

export interface PythonProcess {
  /** The next JSON line the script prints, or an error with its stderr if it exits or takes too long first. */
  next(timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Writes one line to the script's stdin. */
  send(line: string): void;
  /** Resolves with the exit code (bounded). */
  exited(timeoutMs?: number): Promise<number | null>;
  stderr(): string;
  kill(): void;
}

export function startPython(script: string, args: string[], env: Record<string, string> = {}): PythonProcess {
  const child: ChildProcessWithoutNullStreams = spawn(PYTHON, [pythonScript(script), ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8', PYTHONDONTWRITEBYTECODE: '1', ...env },
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  let ended = false;
  const wake = () => waiters.splice(0).forEach((w) => w());
  createInterface({ input: child.stdout })
    .on('line', (line) => {
      lines.push(line);
      wake();
    })
    .on('close', () => {
      ended = true;
      wake();
    });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  return {
    async next(timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (!lines.length) {
        if (ended) throw new Error(`${script} ended without another line (stderr: ${stderr.trim() || 'empty'})`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`${script} printed nothing for ${timeoutMs} ms (stderr: ${stderr.trim() || 'empty'})`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      const line = lines.shift()!;
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`${script} printed a line that is not JSON: ${line} (stderr: ${stderr.trim()})`);
      }
    },
    send(line: string) {
      child.stdin.write(`${line}\n`);
    },
    async exited(timeoutMs = 15_000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${script} still running after ${timeoutMs} ms (stderr: ${stderr.trim()})`)), timeoutMs);
      });
      try {
        return await Promise.race([exit, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    stderr: () => stderr,
    kill() {
      if (child.exitCode === null && child.signalCode === null && child.pid) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    },
  };
}

/** Runs the script to its end and returns its one JSON line and its exit code. */
export async function runPython(script: string, args: string[]): Promise<{ result: Record<string, unknown>; code: number | null; stderr: string }> {
  const proc = startPython(script, args);
  try {
    const result = await proc.next();
    const code = await proc.exited();
    return { result, code, stderr: proc.stderr() };
  } finally {
    proc.kill();
  }
}
