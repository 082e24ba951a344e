// The sign-in lock-out holds under concurrency (checking and counting are one atomic step) and for every
// spelling of a name (one normalized form for lookups, uniqueness and the lock-out key).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { createTestDatabase } from '../helpers/database.ts';
import { BrowserSession, csrfField, formAction } from '../helpers/browser-session.ts';
import { createClient, createUser, discover, REDIRECT_URI } from '../helpers/oauth.ts';
import { listAuditEvents } from '../../src/store/audit.ts';
import { createDatabase } from '../../src/store/db.ts';
import { migrations } from '../../migrations/index.ts';
import { normalizeUsername } from '../../src/domain/usernames.ts';
import { openSignIn as openBrokeredSignIn, signInThroughUpstream, startPair, type Pair } from '../upstream/helpers.ts';

const LIMIT = 4;
const IP_LIMIT = 6;
const LOCK_SECONDS = 600;
const PASSWORD = 'correct horse battery';

let server: TestServer;
let config: oidc.Configuration;

beforeAll(async () => {
  server = await startTestServer({
    env: {
      LOGIN_MAX_FAILURES: String(LIMIT),
      LOGIN_MAX_FAILURES_PER_IP: String(IP_LIMIT),
      LOGIN_LOCK_SECONDS: String(LOCK_SECONDS),
      // Each test chooses the client address (X-Forwarded-For), so the per-IP limit can be tested apart.
      TRUST_PROXY: 'true',
    },
  });
  config = await discover(server, await createClient(server));
});
afterAll(() => server?.stop());

let addresses = 0;
/** A client address no other request in this file uses. */
const freshIp = () => {
  const n = ++addresses;
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
};

/** A sign-in page of its own (browser and interaction), ready to post the form to. */
async function openSignIn() {
  const session = new BrowserSession(server.issuer);
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid',
    code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  });
  const { res } = await session.follow(url);
  const html = await res.text();
  expect(html).toContain('name="password"');
  return {
    post: (username: string, password: string, ip = freshIp()) =>
      session.request(formAction(html), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': ip },
        body: new URLSearchParams({ csrf: csrfField(html), username, password }).toString(),
      }),
  };
}

const signInOnce = async (username: string, password: string, ip?: string) => (await openSignIn()).post(username, password, ip);

/** N sign-in posts at once, each on its own page (and, unless `ip` is given, from its own address). */
async function burst(n: number, username: (i: number) => string, password: (i: number) => string, ip?: string) {
  const pages = await Promise.all(Array.from({ length: n }, () => openSignIn()));
  return Promise.all(pages.map((page, i) => page.post(username(i), password(i), ip)));
}

const retryAfter = (res: Response) => Number(res.headers.get('retry-after'));

/** Password verifications the server made for `username` (each is a login.failure audit event). */
async function verifiedFailures(username: string) {
  const events = await listAuditEvents(server.runtime.db, { type: 'login.failure', limit: 10_000 });
  return events.filter((e) => e.details.username === username).length;
}

/** Ends a running lock-out now, as its clock running out would (no sleeping in tests). */
async function endLock(username: string) {
  await server.runtime.db('login_attempts').where('key', `acct:${username}`).update({ expire: 0 });
}

describe('lock-out under concurrency', () => {
  it('gives a burst of parallel wrong passwords no more verifications than the limit, and locks once for one base period', async () => {
    await createUser(server, 'burst');
    const answers = await burst(4 * LIMIT, () => 'burst', (i) => `wrong password ${i}`);
    const statuses = answers.map((r) => r.status);

    // LIMIT attempts were verified: LIMIT - 1 answered "wrong password", the last one started the lock-out.
    expect(statuses.filter((s) => s === 401)).toHaveLength(LIMIT - 1);
    expect(statuses.filter((s) => s === 429)).toHaveLength(3 * LIMIT + 1);
    expect(await verifiedFailures('burst')).toBe(LIMIT);
    // One lock-out, one base period: nothing doubled it however many requests arrived during it.
    const waits = answers.filter((r) => r.status === 429).map(retryAfter);
    expect(Math.max(...waits)).toBe(LOCK_SECONDS);
    for (const wait of waits) expect(wait).toBeGreaterThan(0);

    // The right password does not sign in while locked.
    expect((await signInOnce('burst', PASSWORD)).status).toBe(429);
    expect(await verifiedFailures('burst')).toBe(LIMIT);
  });

  it('doubles the next lock-out once, not once per refused request', async () => {
    await createUser(server, 'twice');
    await burst(4 * LIMIT, () => 'twice', (i) => `wrong password ${i}`);
    await endLock('twice');

    const answers = await burst(4 * LIMIT, () => 'twice', (i) => `still wrong ${i}`);
    expect(answers.filter((r) => r.status === 401)).toHaveLength(LIMIT - 1);
    expect(Math.max(...answers.filter((r) => r.status === 429).map(retryAfter))).toBe(2 * LOCK_SECONDS);
    expect(await verifiedFailures('twice')).toBe(2 * LIMIT);
  });

  it('gives a burst from one address no more verifications than the per-address limit, whatever the names', async () => {
    const ip = freshIp();
    // Sign-ins with the right password do not use up the address's attempts.
    await createUser(server, 'office');
    for (let i = 0; i < IP_LIMIT + 1; i++) expect((await signInOnce('office', PASSWORD, ip)).status).toBe(303);

    const answers = await burst(4 * IP_LIMIT, (i) => `nobody-${i}`, () => 'wrong password', ip);
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(IP_LIMIT - 1);
    expect(statuses.filter((s) => s === 429)).toHaveLength(3 * IP_LIMIT + 1);
    let verified = 0;
    for (let i = 0; i < 4 * IP_LIMIT; i++) verified += await verifiedFailures(`nobody-${i}`);
    expect(verified).toBe(IP_LIMIT);
    expect(Math.max(...answers.filter((r) => r.status === 429).map(retryAfter))).toBe(LOCK_SECONDS);
  });
});

describe('lock-out for every spelling of a name', () => {
  const SPELLINGS = [
    'irina',
    'IRINA',
    'Irina',
    'İRİNA', // U+0130: PostgreSQL's lower() made it 'irina', JavaScript's toLowerCase() did not
    'İrina',
    'I\u0307RINA', // the same, decomposed
    ' irina ',
    '\tirina\n',
    '\u00a0irina\u3000', // no-break space, ideographic space
    'ｉｒｉｎａ', // fullwidth
    'ＩＲＩＮＡ',
    'ᴵᴿᴵᴺᴬ', // modifier letters
    'ⅰrina', // small roman numeral one
  ];

  it('refuses every spelling of a locked name as locked, even with the right password', async () => {
    const irina = await createUser(server, 'irina');
    for (let i = 0; i < LIMIT - 1; i++) expect((await signInOnce('irina', `wrong ${i}`)).status).toBe(401);
    expect((await signInOnce('IRINA', 'wrong again')).status).toBe(429);

    for (const spelling of SPELLINGS) {
      const res = await signInOnce(spelling, PASSWORD);
      expect(res.status, JSON.stringify(spelling)).toBe(429);
      expect(res.headers.get('location')).toBeNull();
    }
    // Refused before the password check: no sign-in, and no failure counted beyond the limit.
    expect(await listAuditEvents(server.runtime.db, { type: 'login.success', accountId: irina.id })).toHaveLength(0);
    expect((await verifiedFailures('irina')) + (await verifiedFailures('IRINA'))).toBe(LIMIT);

    // They are the same account: once the lock-out is over, each spelling signs it in (and each sign-in
    // starts the count again, or the limit would stop this loop).
    await endLock('irina');
    for (const spelling of SPELLINGS) expect((await signInOnce(spelling, PASSWORD)).status, JSON.stringify(spelling)).toBe(303);
  });

  it('counts failures under different spellings against one name', async () => {
    await createUser(server, 'mixed.case');
    const spellings = ['MIXED.CASE', ' mixed.case', 'ｍｉｘｅｄ．ｃａｓｅ', 'Mixed.Case'];
    const answers = await burst(LIMIT, (i) => spellings[i % spellings.length]!, (i) => `wrong ${i}`);
    expect(answers.filter((r) => r.status === 401)).toHaveLength(LIMIT - 1);
    expect((await signInOnce('mixed.case', PASSWORD)).status).toBe(429);
  });
});

describe('the link-by-password page of brokered sign-in', () => {
  // Same throttle as the sign-in form, with the server's defaults (5 failures).
  const DEFAULT_LIMIT = 5;
  let pair: Pair;
  beforeAll(async () => {
    pair = await startPair({ provisioning: 'link' });
    await createUser(pair.upstream, 'walt', 'upstream horse battery');
    await createUser(pair.downstream, 'walter', 'local horse battery');
  }, 60_000);
  afterAll(() => pair?.stop());

  it('gives a burst no more verifications than the limit, and the lock holds for every spelling and on the sign-in form', async () => {
    const walk = await signInThroughUpstream(pair, { username: 'walt', password: 'upstream horse battery' });
    expect(walk.landed.html).toContain('Link your account');
    const linkForm = (username: string, password: string) =>
      walk.sessionDown.postForm(formAction(walk.landed.html), { csrf: csrfField(walk.landed.html), username, password });

    const answers = await Promise.all(Array.from({ length: 4 * DEFAULT_LIMIT }, (_, i) => linkForm('walter', `wrong ${i}`)));
    expect(answers.filter((r) => r.status === 401)).toHaveLength(DEFAULT_LIMIT - 1);
    expect(answers.filter((r) => r.status === 429)).toHaveLength(3 * DEFAULT_LIMIT + 1);

    for (const spelling of ['ＷＡＬＴＥＲ', 'WALTER', ' walter']) expect((await linkForm(spelling, 'local horse battery')).status, spelling).toBe(429);
    const signIn = await openBrokeredSignIn(pair);
    const form = await signIn.session.postForm(formAction(signIn.html), { csrf: csrfField(signIn.html), username: 'Walter', password: 'local horse battery' });
    expect(form.status).toBe(429);
  });
});

describe('normalizeUsername', () => {
  it('maps case, width, compatibility forms and surrounding space to one form, and keeps other names apart', () => {
    for (const spelling of ['IRINA', 'İRİNA', 'I\u0307rina', ' irina ', '\u2003irina\u200a', 'ｉｒｉｎａ', 'ᴵᴿᴵᴺᴬ', 'ⅰrina']) {
      expect(normalizeUsername(spelling), JSON.stringify(spelling)).toBe('irina');
    }
    expect(normalizeUsername('Ｍｉｘｅｄ．Ｃａｓｅ＠Ｅｘａｍｐｌｅ')).toBe('mixed.case@example');
    expect(normalizeUsername('ﬁona')).toBe('fiona');
    // Interior space, invisible characters and other letters make another name.
    const distinct = ['irina', 'iri na', 'iri\u200bna', 'ırına', 'i\u0307rina', 'irína', 'irina2', 'irin', 'irina.', ''];
    expect(new Set(distinct.map(normalizeUsername)).size).toBe(distinct.length);
  });

  it('is stable (normalizing again changes nothing, for every code point) and is the lower case of every name an account may have', () => {
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const once = normalizeUsername(`a${String.fromCodePoint(cp)}b`);
      if (normalizeUsername(once) !== once || once.normalize('NFKC') !== once) throw new Error(`unstable for U+${cp.toString(16)}`);
    }
    // Account names are ASCII letters, digits and . _ @ - (domain/accounts.ts).
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._@-';
    for (const c of alphabet) expect(normalizeUsername(`a${c}b`)).toBe(`a${c}b`.toLowerCase());
  });
});

describe('migration 20261123070000_username_key', () => {
  const index = migrations.findIndex(([name]) => name === '20261123070000_username_key');

  async function databaseBefore() {
    const database = await createTestDatabase();
    const db = createDatabase({ databaseUrl: database.databaseUrl, dataDir: ':memory:' });
    for (const [name] of migrations.slice(0, index)) await db.migrate.up({ name });
    const insert = (id: string, username: string) => db('accounts').insert({ id, username, password_hash: 'x' });
    return { db, insert, close: async () => (await db.destroy(), await database.drop()) };
  }

  it('gives existing accounts their normalized name, which then decides uniqueness; down restores lower()', async () => {
    const { db, insert, close } = await databaseBefore();
    try {
      await insert('a1', 'Irina');
      await insert('a2', 'ｂｏｂ'); // made before usernames were checked; told apart from 'bob' by lower()
      await db.migrate.up({ name: '20261123070000_username_key' });
      const keys = Object.fromEntries((await db('accounts').select('id', 'username_key')).map((r) => [r.id, r.username_key]));
      expect(keys).toEqual({ a1: 'irina', a2: 'bob' });
      await expect(db('accounts').insert({ id: 'a3', username: 'BOB', username_key: 'bob', password_hash: 'x' })).rejects.toThrow();

      await db.migrate.down({ name: '20261123070000_username_key' });
      expect(await db.schema.hasColumn('accounts', 'username_key')).toBe(false);
      await expect(insert('a4', 'IRINA')).rejects.toThrow();
    } finally {
      await close();
    }
  });

  it('refuses to run while two existing names are one name once normalized, and names them', async () => {
    const { db, insert, close } = await databaseBefore();
    try {
      await insert('b1', 'bob');
      await insert('b2', 'ｂｏｂ');
      await expect(db.migrate.up({ name: '20261123070000_username_key' })).rejects.toThrow(/"bob" = "ｂｏｂ"/);
    } finally {
      await close();
    }
  });
});
