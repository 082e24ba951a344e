// A throw-away PostgreSQL database for one benchmark run: tessera_bench_<random>, dropped afterwards.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface BenchDatabase {
  name: string;
  url: string;
  serverVersion: string;
  drop(): Promise<void>;
}

function assertLoopback(url: URL): void {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!['127.0.0.1', 'localhost', '::1', ''].includes(host)) {
    throw new Error(`DATABASE_URL must point at a loopback address for the benchmark (got ${host})`);
  }
}

export async function createBenchDatabase(baseUrl: string): Promise<BenchDatabase> {
  const base = new URL(baseUrl);
  assertLoopback(base);
  const name = `tessera_bench_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  let serverVersion = '';
  try {
    await admin.query(`CREATE DATABASE ${name}`);
    serverVersion = String((await admin.query('SHOW server_version')).rows[0]?.server_version ?? '');
  } finally {
    await admin.end();
  }
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    name,
    url: url.toString(),
    serverVersion,
    async drop() {
      if (dropped) return;
      dropped = true;
      const c = new pg.Client({ connectionString: baseUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
