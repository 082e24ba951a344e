// Closed-loop workers (each runs one operation after another), optionally paced to a total rate, plus the
// RSS sampler and the progress line every `progressSeconds`.
import { setTimeout as sleep } from 'node:timers/promises';
import { wallNow } from './routing.ts';
import type { Workload } from './operations.ts';
import { rssMiB, type ServerProcess } from './servers.ts';

export interface RunOptions {
  connections: number;
  /** Total operations per second across workers; 0 = as fast as the workers go. */
  rate: number;
}

export interface Running {
  /** Asks the workers to stop after their current operation and waits for them. */
  stop(): Promise<void>;
  done: Promise<void>;
}

export function startWorkers(workload: Workload, options: RunOptions): Running {
  let stopping = false;
  let nextSlot = wallNow();
  const interval = options.rate > 0 ? 1000 / options.rate : 0;
  const worker = async () => {
    while (!stopping) {
      if (interval) {
        const now = wallNow();
        const slot = Math.max(nextSlot, now);
        nextSlot = slot + interval;
        if (slot > now) await sleep(slot - now);
        if (stopping) break;
      }
      await workload.step();
    }
  };
  const done = Promise.all(Array.from({ length: options.connections }, worker)).then(() => undefined);
  return {
    done,
    async stop() {
      stopping = true;
      await done;
    },
  };
}

export interface RssSample {
  at: number;
  /** Server name → MiB (undefined while the process is down). */
  rss: Record<string, number | undefined>;
}

/** Samples each server's VmRSS every `everyMs` (and once at once). */
export function sampleRss(servers: ServerProcess[], everyMs: number): { samples: RssSample[]; stop(): void } {
  const samples: RssSample[] = [];
  const take = () => samples.push({ at: wallNow(), rss: Object.fromEntries(servers.map((s) => [s.name, rssMiB(s.pid())])) });
  take();
  const timer = setInterval(take, everyMs);
  return {
    samples,
    stop() {
      clearInterval(timer);
      take();
    },
  };
}

/** One line every `seconds`: operations and errors in that interval, chains held, RSS now. */
export function progress(workload: Workload, servers: ServerProcess[], seconds: number, log: (line: string) => void): { stop(): void } {
  let seen = 0;
  let last = wallNow();
  const timer = setInterval(() => {
    const records = workload.recorder.records;
    const fresh = records.slice(seen);
    seen = records.length;
    const now = wallNow();
    const errors = fresh.filter((r) => !r.ok).length;
    const rss = servers.map((s) => `${s.name} ${rssMiB(s.pid())?.toFixed(0) ?? 'down'}`).join(', ');
    log(`  ${workload.recorder.rel(now).padStart(7)}  ${(fresh.length / ((now - last) / 1000)).toFixed(0).padStart(4)} ops/s  errors ${String(errors).padStart(3)}  chains ${workload.chains.size}  revoked ${workload.revoked.length}  RSS MiB ${rss}`);
    last = now;
  }, seconds * 1000);
  return { stop: () => clearInterval(timer) };
}
