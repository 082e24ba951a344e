// Introspection of JWT access tokens answers from the revocations each process holds in memory
// (revocation-watch.ts): no query per request, the revoking process never sees its own revocation late,
// another process sees it once PostgreSQL's notification lands, and while the listener is down it asks the
// database instead (fail closed).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { basic, createClient, postForm } from '../helpers/oauth.ts';
import { runOperation } from '../../src/services/operations.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';

const API = 'https://memory.example.test/api';
const onPostgres = Boolean(process.env.DATABASE_URL);

async function setUp(server: TestServer) {
  const rs = (await runOperation(server.operations, 'resource.create', { identifier: API, scopes: [{ name: 'read' }] })).introspection_client as ClientMetadata;
  const service = await createClient(server, { name: 'Service', redirectUris: [], grantTypes: ['client_credentials'], scope: 'read' });
  return { rs, service };
}

async function tokenFrom(server: TestServer, service: ClientMetadata): Promise<string> {
  const res = await postForm(`${server.url}/token`, { grant_type: 'client_credentials', resource: API, scope: 'read' }, basic(service));
  return ((await res.json()) as { access_token: string }).access_token;
}

const active = async (server: TestServer, rs: ClientMetadata, token: string) =>
  ((await (await postForm(`${server.url}/token/introspection`, { token }, basic(rs))).json()) as { active: boolean }).active;

const revokeAt = async (server: TestServer, service: ClientMetadata, token: string) =>
  expect((await postForm(`${server.url}/token/revocation`, { token }, basic(service))).status).toBe(200);

/** Waits (in a hook, where expect.poll is not allowed) until the process answers from memory. */
async function untilCurrent(server: TestServer): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!server.revocations.status().current) {
    if (Date.now() > deadline) throw new Error('the revocation listener never became current');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Statements sent to the database while `work` runs that read the revocations table. */
async function revocationQueriesDuring(server: TestServer, work: () => Promise<void>): Promise<number> {
  let count = 0;
  const onQuery = (q: { sql: string }) => {
    if (/from revocations/i.test(q.sql)) count++;
  };
  server.runtime.db.on('query', onQuery);
  try {
    await work();
  } finally {
    server.runtime.db.removeListener('query', onQuery);
  }
  return count;
}

describe('one process', () => {
  let server: TestServer;
  let rs: ClientMetadata;
  let service: ClientMetadata;
  beforeAll(async () => {
    server = await startTestServer();
    ({ rs, service } = await setUp(server));
    await untilCurrent(server);
  });
  afterAll(() => server?.stop());

  it('answers introspection without asking the database about revocations', async () => {
    const tokens = await Promise.all(Array.from({ length: 5 }, () => tokenFrom(server, service)));
    const queries = await revocationQueriesDuring(server, async () => {
      for (const token of tokens) for (let i = 0; i < 4; i++) expect(await active(server, rs, token)).toBe(true);
    });
    expect(queries).toBe(0);
  });

  it('never answers the next request from a memory without its own revocation', async () => {
    for (let i = 0; i < 20; i++) {
      const token = await tokenFrom(server, service);
      expect(await active(server, rs, token)).toBe(true);
      await revokeAt(server, service, token);
      expect(await active(server, rs, token)).toBe(false);
    }
  });
});

describe.skipIf(!onPostgres)('two processes on one PostgreSQL database', () => {
  let a: TestServer;
  let b: TestServer;
  let rs: ClientMetadata;
  let service: ClientMetadata;
  beforeAll(async () => {
    a = await startTestServer();
    b = await a.sibling();
    ({ rs, service } = await setUp(a));
    for (const s of [a, b]) await untilCurrent(s);
  });
  afterAll(async () => {
    await b?.stop({ keepDatabase: true });
    await a?.stop();
  });

  it('sees a revocation made at the other process once its notification lands', async () => {
    const waited: number[] = [];
    for (let i = 0; i < 25; i++) {
      const token = await tokenFrom(a, service);
      expect(await active(b, rs, token)).toBe(true);
      await revokeAt(a, service, token);
      const revokedAt = performance.now();
      await expect.poll(() => active(b, rs, token), { timeout: 5_000, interval: 1 }).toBe(false);
      waited.push(performance.now() - revokedAt);
    }
    // Reported, not asserted (tests never assert timings; `npm run bench` measures propagation).
    waited.sort((x, y) => x - y);
    console.info(`revocation seen by the other process after ${waited[Math.floor(waited.length / 2)]!.toFixed(1)} ms (median), ${waited.at(-1)!.toFixed(1)} ms (max)`);
  });

  it('asks the database while its listener is down, and answers from memory again once it is back', async () => {
    const { listenerPid } = b.revocations.status();
    expect(listenerPid).toBeDefined();
    await a.runtime.db.raw('select pg_terminate_backend(?)', [listenerPid!]);
    await expect.poll(() => b.revocations.status().current, { timeout: 5_000, interval: 1 }).toBe(false);

    // Revoked while b hears nothing: b must not answer from memory.
    const token = await tokenFrom(a, service);
    await revokeAt(a, service, token);
    const asked = await revocationQueriesDuring(b, async () => expect(await active(b, rs, token)).toBe(false));
    expect(asked).toBeGreaterThan(0);

    // Back: reconnected, caught up by id (the revocation above included), and answering from memory.
    await expect.poll(() => b.revocations.status().current, { timeout: 10_000, interval: 10 }).toBe(true);
    expect(b.revocations.status().listenerPid).not.toBe(listenerPid);
    const fresh = await tokenFrom(a, service);
    const fromMemory = await revocationQueriesDuring(b, async () => {
      expect(await active(b, rs, token)).toBe(false);
      expect(await active(b, rs, fresh)).toBe(true);
    });
    expect(fromMemory).toBe(0);
  });
});
