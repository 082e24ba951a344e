// CPU time used during a measured window by the server process (all its threads), by the PostgreSQL backends
// serving the benchmark database, and by this process (the load generator). Linux /proc only; elsewhere the
// figures are left out.
import { existsSync, readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

export interface CpuSnapshot {
  at: number;
  server: number;
  database: Map<number, number>;
  generator: number;
}

export interface CpuUsage {
  /** CPU seconds per wall second (1.0 = one core busy). */
  serverCores: number;
  databaseCores: number;
  generatorCores: number;
  seconds: number;
  /** Absolute CPU milliseconds in the window, to divide by the requests served. */
  serverMs: number;
  databaseMs: number;
  generatorMs: number;
}

export const cpuAccounting = existsSync('/proc/self/stat');

function processCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND; // utime + stime
  } catch {
    return undefined;
  }
}

/** Backends of one database: PostgreSQL titles them "postgres: <user> <database> <client> <state>". */
function databaseBackends(database: string | undefined): number[] {
  if (!database) return [];
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmd.startsWith('postgres: ') && cmd.split(' ').includes(database)) pids.push(Number(entry));
    } catch {
      // gone
    }
  }
  return pids;
}

/** `serverPid`: one server process, or several (a two-process deployment), whose CPU is summed. */
export function cpuSnapshot(serverPid: number | number[], database: string | undefined): CpuSnapshot {
  const db = new Map<number, number>();
  for (const pid of databaseBackends(database)) {
    const s = processCpuSeconds(pid);
    if (s !== undefined) db.set(pid, s);
  }
  const self = process.cpuUsage();
  const server = (Array.isArray(serverPid) ? serverPid : [serverPid]).reduce((sum, pid) => sum + (processCpuSeconds(pid) ?? 0), 0);
  return { at: performance.now(), server, database: db, generator: (self.user + self.system) / 1e6 };
}

export function cpuSince(start: CpuSnapshot, serverPid: number | number[], database: string | undefined): CpuUsage {
  const end = cpuSnapshot(serverPid, database);
  const seconds = (end.at - start.at) / 1000;
  let db = 0;
  for (const [pid, after] of end.database) db += after - (start.database.get(pid) ?? 0);
  const server = end.server - start.server;
  const generator = end.generator - start.generator;
  return {
    seconds,
    serverCores: server / seconds,
    databaseCores: db / seconds,
    generatorCores: generator / seconds,
    serverMs: server * 1000,
    databaseMs: db * 1000,
    generatorMs: generator * 1000,
  };
}
