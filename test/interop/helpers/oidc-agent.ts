// Debian's oidc-agent (package oidc-agent-cli) in a temporary directory of the test's own: the agent runs in
// the foreground (--console) on a socket there, HOME points there (so its account configurations land
// there), and every program is started with an explicit environment. Processes are ended by their PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const OIDC_AGENT = '/usr/bin/oidc-agent';
export const OIDC_GEN = '/usr/bin/oidc-gen';
export const OIDC_TOKEN = '/usr/bin/oidc-token';

export interface RunningProgram {
  /** Everything printed so far on stdout and stderr, in arrival order. */
  output(): string;
  /** Resolves once the output matches `pattern` (its match), rejects if the program ends or the time runs out first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited(timeoutMs?: number): Promise<number | null>;
  kill(): void;
}

function run(program: string, args: string[], env: NodeJS.ProcessEnv): RunningProgram {
  const child: ChildProcess = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let output = '';
  let ended = false;
  const waiters: Array<() => void> = [];
  const wake = () => waiters.splice(0).forEach((w) => w());
  const take = (d: Buffer) => {
    output += d.toString('utf8');
    wake();
  };
  child.stdout!.on('data', take);
  child.stderr!.on('data', take);
  const exit = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      ended = true;
      wake();
      resolve(code);
    }),
  );
  const bounded = <T>(promise: Promise<T>, timeoutMs: number, what: string) =>
    Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} (output: ${output.trim() || 'none'})`)), timeoutMs).unref())]);

  return {
    output: () => output,
    async waitFor(pattern, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = output.match(pattern);
        if (match) return match;
        if (ended) throw new Error(`${program} ended before printing ${pattern} (output: ${output.trim() || 'none'})`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`${program} did not print ${pattern} within ${timeoutMs} ms (output: ${output.trim() || 'none'})`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
    exited: (timeoutMs = 30_000) => bounded(exit, timeoutMs, `${program} did not exit within ${timeoutMs} ms`),
    kill() {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
  };
}

export interface OidcAgent {
  dir: string;
  env: NodeJS.ProcessEnv;
  /** Runs oidc-gen (or oidc-token) against this agent. */
  run(program: string, args: string[], extraEnv?: Record<string, string>): RunningProgram;
  stop(): Promise<void>;
}

export async function startOidcAgent(): Promise<OidcAgent> {
  for (const program of [OIDC_AGENT, OIDC_GEN, OIDC_TOKEN]) {
    if (!existsSync(program)) throw new Error(`${program} not found (Debian package oidc-agent-cli)`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'tessera-oidc-agent-'));
  const socket = join(dir, 'agent.sock');
  const env: NodeJS.ProcessEnv = { PATH: '/usr/bin:/bin', HOME: dir, LANG: 'C.UTF-8', TMPDIR: dir, OIDC_SOCK: socket };
  const agent = run(OIDC_AGENT, ['--console', `--socket-path=${socket}`, '--no-autoload', '--log-stderr'], env);
  // The socket appears once the agent listens.
  const deadline = Date.now() + 10_000;
  while (!existsSync(socket)) {
    if (Date.now() > deadline) throw new Error(`oidc-agent did not listen on ${socket} (output: ${agent.output()})`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const started: RunningProgram[] = [];
  return {
    dir,
    env,
    run(program, args, extraEnv = {}) {
      const p = run(program, args, { ...env, ...extraEnv });
      started.push(p);
      return p;
    },
    async stop() {
      for (const p of started) p.kill();
      agent.kill();
      await agent.exited(10_000).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
