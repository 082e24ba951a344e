import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession } from '../helpers/browser-session.ts';
import { authorize, createClient, createUser, discover, exchange, REDIRECT_URI } from '../helpers/oauth.ts';
import { deleteExpired } from '../../src/store/cleanup.ts';
import { bearerHash } from '../../src/store/bearer-hash.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'tessera-persist-'));
let server: TestServer;

afterAll(async () => {
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('durable state', () => {
  it('keeps refresh tokens, sessions, clients and signing keys across a restart', async () => {
    server = await startTestServer({ dataDir });
    await createUser(server, 'alice');
    const web = await createClient(server);
    const session = new BrowserSession(server.issuer);
    const before = await exchange(await discover(server, web), await authorize(server, await discover(server, web), session));
    const jwksBefore = await (await fetch(`${server.issuer}/jwks`)).json();

    server = await server.restart();

    const config = await discover(server, web);
    expect(await (await fetch(`${server.issuer}/jwks`)).json()).toEqual(jwksBefore);
    const after = await oidc.refreshTokenGrant(config, before.refresh_token!);
    expect(after.access_token).toBeTruthy();
    expect(after.claims()?.sub).toBe(before.claims()?.sub);
    // The browser session (cookie signed with a stored key) is still valid: no password prompt this time.
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      prompt: 'none',
    });
    const { url: landed } = await session.follow(url);
    expect(landed.searchParams.get('error')).toBeNull();
    expect(landed.searchParams.get('code')).toBeTruthy();
  });

  it('stores token and session identifiers only as hashes', async () => {
    const web = await createClient(server);
    const config = await discover(server, web);
    const tokens = await exchange(config, await authorize(server, config, new BrowserSession(server.issuer)));
    const db = server.runtime.db;
    const dump = JSON.stringify(await db('tokens').select());
    expect(dump).not.toContain(tokens.refresh_token);
    expect(dump).not.toContain(tokens.access_token);
    expect(await db('tokens').where('id_hash', bearerHash(tokens.refresh_token!)).first()).toBeTruthy();
  });

  it('deletes expired rows in batches and leaves live ones', async () => {
    const db = server.runtime.db;
    const past = new Date(Date.now() - 60_000);
    const rows = Array.from({ length: 25 }, (_, i) => ({ id_hash: `expired-${i}`, model: 'AccessToken', payload: '{}', expires_at: past }));
    await db('tokens').insert(rows);
    await db('revocations').insert({ kind: 'grant', value: 'old-grant', reason: 'test', expires_at: past });
    // Sign-in counters expire in epoch milliseconds: a lapsed lock goes, a running one stays.
    await db('login_attempts').insert([
      { key: 'acct:lapsed', points: 5, expire: past.getTime() },
      { key: 'acct:running', points: 5, expire: Date.now() + 3_600_000 },
    ]);
    const count = async (q: ReturnType<typeof db>) => Number(((await q.count('* as count')) as Array<{ count: unknown }>)[0]!.count);
    const live = await count(db('tokens').where('expires_at', '>', new Date()));
    expect(live).toBeGreaterThan(0);

    // Two processes' clean-ups running at once must not fail or double count.
    const [a, b] = await Promise.all([deleteExpired(db, { batchSize: 10 }), deleteExpired(db, { batchSize: 10 })]);
    expect((a.tokens ?? 0) + (b.tokens ?? 0)).toBeGreaterThanOrEqual(25);
    expect(await count(db('tokens').where('id_hash', 'like', 'expired-%'))).toBe(0);
    expect(await db('revocations').where('value', 'old-grant').first()).toBeUndefined();
    expect((await db('login_attempts').whereIn('key', ['acct:lapsed', 'acct:running']).pluck('key')) as string[]).toEqual(['acct:running']);
    expect(await count(db('tokens').where('expires_at', '>', new Date()))).toBe(live);
  });

  it('starts each batch where the previous one stopped, so no batch steps over the rows deleted before it', async () => {
    const db = server.runtime.db;
    const base = Date.now() - 3_600_000;
    await db('tokens').insert(Array.from({ length: 25 }, (_, i) => ({ id_hash: `aged-${i}`, model: 'AccessToken', payload: '{}', expires_at: new Date(base + i * 1000) })));
    const deletes: string[] = [];
    const onQuery = (q: { sql: string }) => {
      if (/DELETE FROM "tokens"/i.test(q.sql)) deletes.push(q.sql);
    };
    db.on('query', onQuery);
    try {
      const deleted = await deleteExpired(db, { batchSize: 10 });
      expect(deleted.tokens).toBeGreaterThanOrEqual(25);
    } finally {
      db.removeListener('query', onQuery);
    }
    expect(await db('tokens').where('id_hash', 'like', 'aged-%').first()).toBeUndefined();
    // The first batch has no lower bound; every later one starts at the expiry the previous one reached.
    expect(deletes.length).toBeGreaterThanOrEqual(3);
    expect(deletes[0]).not.toMatch(/"expires_at" >= /);
    for (const sql of deletes.slice(1)) expect(sql).toMatch(/"expires_at" >= /);
  });
});
