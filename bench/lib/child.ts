// Parent side of the server processes: each server under test runs in its own child process (its own event
// loop), talks to the parent over the IPC channel, and is stopped before the next one starts.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../test/helpers/free-port.ts';

/** `tessera2`: two Tessera processes on one PostgreSQL database, the load spread over both (run.ts). */
export type ServerKind = 'koa' | 'engine' | 'tessera' | 'tessera2';

/** What a child reports once it listens. `fixtures` is server-specific (clients, users, …). */
export interface ReadyMessage {
  type: 'ready';
  url: string;
  pid: number;
  fixtures: Record<string, unknown>;
}

export interface RunningChild {
  kind: ServerKind;
  url: string;
  pid: number;
  fixtures: Record<string, unknown>;
  /** Asks the child to close its server and exit; kills it (this child only) if it does not within 15 s. */
  stop(): Promise<void>;
  /** Last lines the child wrote to stdout/stderr (for error reports). */
  output(): string;
  /** Asks the child a question it registered with answer() (servers/ipc.ts); rejects after 10 s. */
  ask<T>(question: string): Promise<T>;
}

const SCRIPTS: Record<ServerKind, string> = {
  koa: fileURLToPath(new URL('../servers/koa.ts', import.meta.url)),
  engine: fileURLToPath(new URL('../servers/engine.ts', import.meta.url)),
  tessera: fileURLToPath(new URL('../servers/tessera.ts', import.meta.url)),
  tessera2: fileURLToPath(new URL('../servers/tessera.ts', import.meta.url)),
};

export { freePort };

const live = new Set<ChildProcess>();

/** Kills children still running when the parent is interrupted (only the ones this process started). */
export function killLiveChildren(): void {
  for (const child of live) {
    if (child.exitCode === null && child.pid) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

export interface StartOptions {
  /** Extra environment for the child; the child gets only PATH, HOME and these. */
  env?: Record<string, string | undefined>;
  /** Node flags for the child, e.g. ['--cpu-prof', '--cpu-prof-dir=…']. */
  execArgv?: string[];
  startTimeoutMs?: number;
}

export async function startChild(kind: ServerKind, options: StartOptions = {}): Promise<RunningChild> {
  const port = await freePort();
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', PORT: String(port) };
  for (const [k, v] of Object.entries(options.env ?? {})) if (v !== undefined) env[k] = v;

  const child = fork(SCRIPTS[kind], [], {
    env,
    execArgv: options.execArgv ?? [],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  live.add(child);
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    if (lines.length > 200) lines.splice(0, lines.length - 200);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const output = () => lines.slice(-40).join('\n');
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => {
    live.delete(child);
    resolve(code);
  }));

  const ready = await new Promise<ReadyMessage>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${kind} server did not start within ${options.startTimeoutMs ?? 120_000} ms\n${output()}`)), options.startTimeoutMs ?? 120_000);
    child.on('message', (message: { type?: string; error?: string }) => {
      if (message?.type === 'ready') {
        clearTimeout(timer);
        resolve(message as ReadyMessage);
      } else if (message?.type === 'failed') {
        clearTimeout(timer);
        reject(new Error(`${kind} server failed to start: ${message.error}\n${output()}`));
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${kind} server exited (code ${code}) before it was ready\n${output()}`));
    });
  }).catch(async (error) => {
    if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
    await exited;
    throw error;
  });

  let stopping: Promise<void> | undefined;
  let nextQuestion = 1;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  child.on('message', (message: { type?: string; id?: number; data?: unknown; error?: string }) => {
    if (message?.type !== 'answer' || message.id === undefined) return;
    const w = waiting.get(message.id);
    waiting.delete(message.id);
    if (message.error) w?.reject(new Error(message.error));
    else w?.resolve(message.data);
  });
  return {
    ask<T>(question: string): Promise<T> {
      const id = nextQuestion++;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`${kind} server did not answer "${question}"`));
        }, 10_000);
        waiting.set(id, {
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v as T);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        child.send({ type: 'ask', id, question });
      });
    },
    kind,
    url: ready.url,
    pid: ready.pid,
    fixtures: ready.fixtures,
    output,
    stop() {
      stopping ??= (async () => {
        if (child.exitCode !== null) return;
        child.send({ type: 'stop' });
        const timer = setTimeout(() => {
          if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
        }, 15_000);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
}
