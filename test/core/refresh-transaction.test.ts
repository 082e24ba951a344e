// A refresh-token exchange commits once (src/oidc/unit-of-work.ts), and revoking a refresh token is one transaction:
// these tests fail if a refresh stops being one commit, if a failure half-way leaves anything behind, or if
// parallel uses of one token meet in a deadlock, a 5xx or an exhausted pool. No timing is asserted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession } from '../helpers/browser-session.ts';
import { authorize, basic, createClient, createUser, discover, exchange, postForm } from '../helpers/oauth.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';
import { bearerHash } from '../../src/store/bearer-hash.ts';
import { revokeGrant } from '../../src/domain/grants-and-sessions.ts';
import type * as oidc from 'openid-client';
import pg from 'pg';
import { grantLockSql } from '../../src/store/grant-locks.ts';

interface Statement {
  sql: string;
  connection: string | undefined;
}

let server: TestServer;
let web: ClientMetadata;
let config: oidc.Configuration;

beforeAll(async () => {
  // Strict reuse detection, and a pool smaller than the parallel requests below: a request that held its
  // transaction and asked the pool for a second connection would starve the others (on PGlite there is one).
  server = await startTestServer({ env: { REFRESH_REUSE_GRACE: '0', DATABASE_POOL_MAX: '2' } });
  await createUser(server, 'alice');
  web = await createClient(server, { name: 'Web App' });
  config = await discover(server, web);
});
afterAll(() => server?.stop());

const signIn = async () => exchange(config, await authorize(server, config, new BrowserSession(server.issuer)));
const refresh = (refreshToken: string) => postForm(`${server.issuer}/token`, { grant_type: 'refresh_token', refresh_token: refreshToken }, basic(web));
const tokenRow = (token: string) => server.runtime.db('tokens').where('id_hash', bearerHash(token)).first('consumed_at', 'grant_id');

/** Every statement the server sends while `fn` runs (other work of the process included). */
async function statementsDuring(fn: () => Promise<void>): Promise<Statement[]> {
  const seen: Statement[] = [];
  const listener = (q: { sql?: string; __knexUid?: string }) => seen.push({ sql: String(q.sql ?? ''), connection: q.__knexUid });
  server.runtime.db.on('query', listener);
  try {
    await fn();
  } finally {
    server.runtime.db.off('query', listener);
  }
  return seen;
}


/**
 * Fails the first insert into `table` whose row matches `condition`, as a database going away would
 * (SQLSTATE 08006); returns what removes the trigger again.
 */
async function failFirstInsert(db: TestServer['runtime']['db'], table: string, condition = 'true'): Promise<() => Promise<void>> {
  const name = `test_fail_${table}`;
  await db.raw(`create sequence if not exists ${name}`);
  await db.raw(`create or replace function ${name}() returns trigger language plpgsql as $$
    begin
      if ${condition} and nextval('${name}') = 1 then
        raise exception 'simulated connection loss' using errcode = '08006';
      end if;
      return new;
    end $$`);
  await db.raw(`create trigger ${name} before insert on ${table} for each row execute function ${name}()`);
  return async () => {
    await db.raw(`drop trigger ${name} on ${table}`);
  };
}

describe('a refresh commits once', () => {
  it('consumes the old token and stores the successor and the access token in one statement, holding no transaction', async () => {
    const tokens = await signIn();
    let successor = '';
    const statements = await statementsDuring(async () => {
      const res = await refresh(tokens.refresh_token!);
      expect(res.status).toBe(200);
      successor = ((await res.json()) as { refresh_token: string }).refresh_token;
    });
    // No transaction is held across the engine's work: no BEGIN, no savepoints.
    expect(statements.filter((s) => /^(BEGIN|COMMIT|SAVEPOINT)\b/i.test(s.sql))).toEqual([]);
    // Every write to the tokens table is one statement: the grant's lock first, then the consume and the inserts.
    const tokenWrites = statements.filter((s) => /(insert into|update|delete from) "?tokens"?/i.test(s.sql));
    expect(tokenWrites).toHaveLength(1);
    const write = tokenWrites[0]!.sql;
    expect(write).toMatch(/pg_advisory_xact_lock/);
    expect(write.search(/pg_advisory_xact_lock/)).toBeLessThan(write.search(/update tokens/i));
    expect(write).toMatch(/insert into tokens/i);
    expect((await tokenRow(tokens.refresh_token!))?.consumed_at).toBeInstanceOf(Date);
    const stored = await tokenRow(successor);
    expect(stored?.consumed_at).toBeNull();
    expect(stored?.grant_id).toBe((await tokenRow(tokens.refresh_token!))?.grant_id);
    // The successor is an ordinary refresh token: it rotates in turn.
    expect((await refresh(successor)).status).toBe(200);
  });

  it('stores nothing when the database fails between the successor and the access token; the old token still works', async () => {
    // The engine saves the successor refresh token before the access token. Fail the access token's insert
    // once, as a database going away would (SQLSTATE 08006): with separate commits the successor would be
    // stored and the old token spent, and the client's retry refused as a replay.
    const db = server.runtime.db;
    const tokens = await signIn();
    const restore = await failFirstInsert(db, 'tokens', "new.model = 'AccessToken'");
    try {
      const rowsBefore = Number((await db('tokens').where('grant_id', (await tokenRow(tokens.refresh_token!))!.grant_id).count({ n: '*' }))[0]!.n);
      const failed = await refresh(tokens.refresh_token!);
      expect(failed.status).toBe(503);
      expect((await failed.json()).error).toBe('temporarily_unavailable');
      expect((await tokenRow(tokens.refresh_token!))?.consumed_at).toBeNull();
      const rowsAfter = Number((await db('tokens').where('grant_id', (await tokenRow(tokens.refresh_token!))!.grant_id).count({ n: '*' }))[0]!.n);
      expect(rowsAfter).toBe(rowsBefore);
      // The retry (strict reuse detection: no grace window) is an ordinary refresh.
      const retried = await refresh(tokens.refresh_token!);
      expect(retried.status).toBe(200);
    } finally {
      await restore();
    }
  });
});

describe('revoking a refresh token (RFC 7009) is one transaction too', () => {
  it('changes nothing when the grant revocation fails: answered 503, the refresh token still works', async () => {
    // The engine deletes the token and then revokes its grant, in separate adapter calls. Fail the
    // revocation's feed row once, as a database going away would.
    const db = server.runtime.db;
    const tokens = await signIn();
    const restore = await failFirstInsert(db, 'revocation_events');
    try {
      const revoke = () => postForm(`${server.issuer}/token/revocation`, { token: tokens.refresh_token!, token_type_hint: 'refresh_token' }, basic(web));
      const failed = await revoke();
      expect(failed.status).toBe(503);
      expect((await tokenRow(tokens.refresh_token!))?.consumed_at).toBeNull();
      expect((await revoke()).status).toBe(200);
      expect(await tokenRow(tokens.refresh_token!)).toBeUndefined();
      expect((await refresh(tokens.refresh_token!)).status).toBe(400);
    } finally {
      await restore();
    }
  });
});

describe('parallel redemptions of one refresh token', () => {
  it('queue on their grant: exactly one wins, the rest are refused as replays, never a 5xx (five rounds, pool of 2)', async () => {
    for (let round = 0; round < 5; round++) {
      const tokens = await signIn();
      const responses = await Promise.all(Array.from({ length: 20 }, () => refresh(tokens.refresh_token!)));
      const statuses = responses.map((r) => r.status);
      expect(statuses.filter((s) => s >= 500)).toEqual([]);
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      const bodies = await Promise.all(responses.map(async (r) => (await r.json()) as { error?: string; refresh_token?: string }));
      expect(bodies.filter((b) => b.error !== undefined).every((b) => b.error === 'invalid_grant')).toBe(true);
      // The replays revoked the grant: the winner's successor is gone too (RFC 9700 §4.14.2).
      const winner = bodies.find((b) => b.refresh_token)!;
      expect(await tokenRow(winner.refresh_token!)).toBeUndefined();
      expect((await refresh(winner.refresh_token!)).status).toBe(400);
    }
    // Nothing in the process asked for a second connection while holding a transaction.
    expect(server.logs.join('').includes('SecondConnectionRefused')).toBe(false);
  });

  it('replays of two older tokens, redemptions of the current one and an operator revocation of the grant, all at once: no 5xx, the grant ends revoked', async () => {
    for (let round = 0; round < 3; round++) {
      const t0 = (await signIn()).refresh_token!;
      const t1 = ((await (await refresh(t0)).json()) as { refresh_token: string }).refresh_token;
      const t2 = ((await (await refresh(t1)).json()) as { refresh_token: string }).refresh_token;
      const grantId = (await tokenRow(t2))!.grant_id as string;
      const requests = [t0, t1, t2, t0, t1, t2, t0, t1, t2, t2].map((t) => refresh(t).then((r) => ({ token: t, status: r.status })));
      // The operator may come last and find the grant already gone (a replay deleted it): that is fine.
      const operator = revokeGrant(server.runtime.db, grantId, { coverUntil: new Date(Date.now() + 600_000) }).catch((error: Error) => {
        if (error.name !== 'NotFound') throw error;
      });
      const [answers] = await Promise.all([Promise.all(requests), operator]);
      expect(answers.filter((a) => a.status >= 500)).toEqual([]);
      expect(answers.filter((a) => a.token !== t2).every((a) => a.status === 400)).toBe(true);
      expect(answers.filter((a) => a.status === 200).length).toBeLessThanOrEqual(1);
      // Whatever the order, every token of the grant is gone: a replay or the operator revoked it last.
      expect(Number((await server.runtime.db('tokens').where('grant_id', grantId).count({ n: '*' }))[0]!.n)).toBe(0);
    }
    expect(server.logs.join('').includes('SecondConnectionRefused')).toBe(false);
  });
});

describe.skipIf(!process.env.DATABASE_URL)('two refreshes that both read the token before either writes (PostgreSQL: a lock held from outside)', () => {
  it('exactly one wins; the other is refused at its write as a replay, and the grant is revoked', async () => {
    const tokens = await signIn();
    const grantId = (await tokenRow(tokens.refresh_token!))!.grant_id as string;
    // Hold the grant's lock on a connection of our own: both requests read the token (unspent), build their
    // answers and then wait at their write, which takes the same lock first.
    const holder = new pg.Client({ connectionString: server.config.databaseUrl });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query(`select ${grantLockSql('$1::text')}`, [grantId]);
      const answers = Promise.all([refresh(tokens.refresh_token!), refresh(tokens.refresh_token!)]);
      // Both writes are waiting for the lock (the signal, not a timer).
      for (let waiting = 0; waiting < 2; ) {
        const { rows } = await holder.query<{ n: number }>(`select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted`);
        waiting = rows[0]!.n;
      }
      await holder.query('commit');
      const responses = await answers;
      expect(responses.map((r) => r.status).sort()).toEqual([200, 400]);
      const bodies = await Promise.all(responses.map(async (r) => (await r.json()) as { error?: string; refresh_token?: string }));
      expect(bodies.find((b) => b.error)?.error).toBe('invalid_grant');
      // The refused one revoked the grant: the winner's successor is gone too (RFC 9700 §4.14.2).
      const winner = bodies.find((b) => b.refresh_token)!;
      expect(await tokenRow(winner.refresh_token!)).toBeUndefined();
      expect(await server.runtime.db('revocations').where({ kind: 'grant', value: grantId }).first()).toBeDefined();
      expect(server.logs.join('')).not.toContain('server_error');
    } finally {
      await holder.end();
    }
  });
});
