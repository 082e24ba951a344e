// Everything a soak or chaos run stands on: a private PostgreSQL, the schema and fixtures made with the CLI
// (as an operator would), two `tessera serve` processes sharing one issuer and one database, and the
// workload's balancer across them. One call to start, one to tear down (also on Ctrl-C).
// Embedded (`embedded: true`): no PostgreSQL; one process on an embedded database in a fresh data directory
// (embedded mode serves from one process), the fixtures made by the CLI on that directory before it starts.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../test/helpers/free-port.ts';
import { startPrivatePostgres, type PrivatePostgres } from '../private-postgres.ts';
import { Balancer } from './routing.ts';
import { cli, createServerProcess, rssMiB, type ExitEvent, type ServerProcess, type TesseraEnv } from './servers.ts';
import type { ClientPair, Fixtures } from './operations.ts';

export interface Environment {
  /** Absent in embedded mode. */
  pg: PrivatePostgres | undefined;
  env: TesseraEnv;
  servers: ServerProcess[];
  balancer: Balancer;
  fixtures: Fixtures;
  logDir: string;
  teardown(): Promise<void>;
}

export interface EnvironmentOptions {
  serverCount?: number;
  /** One server on an embedded database (no PostgreSQL); serverCount is then 1. */
  embedded?: boolean;
  users?: number;
  /** Extra Tessera settings (KEY=VALUE), given to the CLI and every server. */
  tesseraEnv?: Record<string, string>;
  log: (line: string) => void;
  onUnexpectedExit?: (server: ServerProcess, event: ExitEvent) => void;
}

const REDIRECT_URI = 'http://127.0.0.1:9/callback';
const RESOURCE = 'https://api.soak.test';
const RESOURCE_SCOPES = 'soak:read soak:write';

export async function startEnvironment(options: EnvironmentOptions): Promise<Environment> {
  const { log } = options;
  const logDir = mkdtempSync(join(tmpdir(), 'tessera-soak-logs-'));
  const pg = options.embedded ? undefined : await startPrivatePostgres();
  const dataDir = options.embedded ? mkdtempSync(join(tmpdir(), 'tessera-soak-data-')) : undefined;
  const servers: ServerProcess[] = [];
  const teardown = async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await pg?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    if (pg) log(`PostgreSQL: private cluster ${pg.url} (postmaster pid ${pg.pid()}, ${pg.dir})`);
    else log(`Embedded database (PGlite) in ${dataDir}: one server process`);
    // The issuer is where a load balancer would listen; nothing does: the workload routes each request to
    // one of the processes itself (routing.ts), so a request that escaped the routing would fail loudly.
    const issuer = `http://127.0.0.1:${await freePort()}`;
    const env: TesseraEnv = {
      ...(pg ? { DATABASE_URL: pg.url } : { TESSERA_DATA_DIR: dataDir! }),
      TESSERA_SECRET: randomBytes(36).toString('base64url'),
      ISSUER: issuer,
      LOG_LEVEL: 'info',
      ...options.tesseraEnv,
    };

    const t0 = performance.now();
    await cli(env, ['migrate', '--json']);
    const resource = (await cli(env, ['resource', 'create', '--identifier', RESOURCE, '--name', 'Soak API', '--scope', RESOURCE_SCOPES, '--format', 'jwt', '--json'])) as {
      introspection_client: ClientPair;
    };
    const service = (await cli(env, ['client', 'create', '--name', 'Soak service', '--grant-type', 'client_credentials', '--scope', RESOURCE_SCOPES, '--json'])) as ClientPair;
    const web = (await cli(env, ['client', 'create', '--name', 'Soak web app', '--redirect-uri', REDIRECT_URI, '--json'])) as ClientPair;
    const users: Fixtures['users'] = [];
    for (let i = 1; i <= (options.users ?? 4); i++) {
      const user = { username: `soak-${i}`, password: randomBytes(15).toString('base64url') };
      await cli(env, ['user', 'create', '--username', user.username, '--email', `${user.username}@example.test`, '--name', `Soak User ${i}`, '--password-stdin', '--json'], user.password);
      users.push(user);
    }
    log(`Setup with the CLI (migrate, resource create, 2× client create, ${users.length}× user create): ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    for (let i = 0; i < (options.embedded ? 1 : (options.serverCount ?? 2)); i++) {
      const name = String.fromCharCode(65 + i);
      const server = createServerProcess(name, await freePort(), env, logDir, (e) => options.onUnexpectedExit?.(server, e));
      servers.push(server);
    }
    await Promise.all(servers.map((s) => s.start()));
    for (const s of servers) log(`Server ${s.name}: node bin/tessera.js serve, pid ${s.pid()}, ${s.origin}, RSS ${rssMiB(s.pid())?.toFixed(1)} MiB, log ${s.logFile}`);
    log(`Issuer (shared): ${issuer}`);

    const balancer = new Balancer(issuer, servers.map((s) => ({ name: s.name, origin: s.origin })));
    const fixtures: Fixtures = {
      issuer,
      redirectUri: REDIRECT_URI,
      resource: RESOURCE,
      resourceScope: 'soak:read',
      web: { client_id: web.client_id, client_secret: web.client_secret },
      service: { client_id: service.client_id, client_secret: service.client_secret },
      api: resource.introspection_client,
      users,
    };
    return { pg, env, servers, balancer, fixtures, logDir, teardown };
  } catch (error) {
    await teardown().catch(() => {});
    throw error;
  }
}

/**
 * Ctrl-C / SIGTERM: exit at once; the exit hooks of servers.ts (SIGKILL to the servers this script started)
 * and private-postgres.ts (immediate stop, directory removed) clean up synchronously.
 */
export function exitOnSignals(): void {
  const handler = (signal: NodeJS.Signals) => {
    process.stderr.write(`\n${signal}: killing the servers and PostgreSQL this run started\n`);
    process.exit(130);
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  process.once('SIGHUP', handler);
}
