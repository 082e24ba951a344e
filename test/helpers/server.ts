// Starts the real server (same code as `tessera serve`) on a free loopback port with an isolated database.
import { freePort } from './free-port.ts';
import { readFileSync } from 'node:fs';
import { inject } from 'vitest';
import { Writable } from 'node:stream';
import { parseConfig, type Config } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import type { Clock } from '../../src/clock.ts';
import { startServer, type RunningServer } from '../../src/server.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';

export const TEST_SECRET = 'test-secret-test-secret-test-secret-0123456789';

export interface TestServer extends RunningServer {
  issuer: string;
  config: Config;
  /** Every log line the server wrote, for checks that no secret reaches a log. */
  logs: string[];
  /** Stops the server; with `keepDatabase` the database survives for a restart. */
  stop(options?: { keepDatabase?: boolean }): Promise<void>;
  /** Stops and starts again on the same database and port. */
  restart(): Promise<TestServer>;
  /** Another server process's worth of server (own port, own engine) on the same PostgreSQL database. */
  sibling(): Promise<TestServer>;
}

export { freePort };

export interface TestServerOptions {
  env?: Record<string, string>;
  /** PGlite on disk instead of in memory (only matters without DATABASE_URL); needed to restart. */
  dataDir?: string;
  /** The clock scheduled work (key rotation) runs on; a sibling shares it. */
  clock?: Clock;
}

export async function startTestServer(
  options: TestServerOptions = {},
  reuse?: { database: TestDatabase; port: number; issuer?: string },
): Promise<TestServer> {
  const database = reuse?.database ?? (await createTestDatabase());
  const port = reuse?.port ?? (await freePort());
  const result = parseConfig({
    PORT: String(port),
    HOST: '127.0.0.1',
    // Siblings share the first server's issuer, as processes behind one load balancer do.
    ISSUER: reuse?.issuer ?? `http://127.0.0.1:${port}`,
    TESSERA_SECRET: TEST_SECRET,
    TESSERA_DATA_DIR: options.dataDir ?? ':memory:',
    LOG_LEVEL: 'info',
    // Test relying parties listen on loopback (back-channel logout); client metadata fetches stay guarded.
    BACKCHANNEL_LOGOUT_ALLOW_PRIVATE: 'true',
    ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}),
    ...options.env,
  });
  if (!result.ok) throw new Error(result.problems.join('; '));
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const running = await startServer(result.config, createLogger('info', sink), { ...(options.clock ? { clock: options.clock } : {}), ...memoryImageFor(result.config) });
  const server: TestServer = {
    ...running,
    issuer: result.config.issuer,
    config: result.config,
    logs,
    async stop({ keepDatabase = false } = {}) {
      await running.close();
      if (!keepDatabase) await database.drop();
    },
    async restart() {
      await running.close();
      return startTestServer(options, { database, port });
    },
    async sibling() {
      if (!database.databaseUrl) throw new Error('a sibling server needs PostgreSQL (DATABASE_URL)');
      const other = await startTestServer(options, { database: { ...database, drop: async () => {} }, port: await freePort(), issuer: server.issuer });
      return other;
    },
  };
  return server;
}

/** A clock that stands still until the test moves it (starting at the real time). */
export function manualClock(start = new Date()): Clock & { advance(seconds: number): Date } {
  let now = start.getTime();
  return {
    now: () => new Date(now),
    advance(seconds: number) {
      now += seconds * 1000;
      return new Date(now);
    },
  };
}

let memoryImage: Blob | undefined;
/** The global set-up's migrated database image (memory-image.ts), for servers on in-memory PGlite. */
function memoryImageFor(config: Config): { memoryImage?: Blob } {
  const path = inject('memoryImagePath');
  if (config.databaseUrl || config.dataDir !== ':memory:' || !path) return {};
  memoryImage ??= new Blob([readFileSync(path)]);
  return { memoryImage };
}
