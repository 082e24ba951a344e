// Two server processes on one PostgreSQL database, as behind a load balancer: a rotation made at one is
// served and used by the other within one poll, and a scheduled rotation under continuous token issuance
// never fails a validation by a resource server that caches the JWKS for as long as we advertise.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { manualClock, startTestServer, type TestServer } from '../helpers/server.ts';
import type { Clock } from '../../src/clock.ts';
import { basic, createClient, postForm } from '../helpers/oauth.ts';
import { runOperation } from '../../src/services/operations.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';
import { parseConfig } from '../../src/config.ts';

const API = 'https://rotation.example.test/api';
const onPostgres = Boolean(process.env.DATABASE_URL);

async function issue(at: TestServer, client: ClientMetadata): Promise<string> {
  const res = await postForm(`${at.url}/token`, { grant_type: 'client_credentials', resource: API, scope: 'read' }, basic(client));
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}
const kidOf = (jwt: string) => decodeProtectedHeader(jwt).kid!;
async function publishedKids(at: TestServer): Promise<string[]> {
  const { keys } = (await (await fetch(`${at.url}/jwks`)).json()) as JSONWebKeySet;
  return keys.map((k) => k.kid!);
}

/** A resource server that caches the key set exactly as long as Cache-Control allows (on `clock`), never longer or shorter. */
function cachingValidator(jwksUrls: string[], issuer: string, clock: Clock) {
  let cached: { set: ReturnType<typeof createLocalJWKSet>; until: number } | undefined;
  let fetches = 0;
  return {
    get fetches() {
      return fetches;
    },
    async validate(token: string): Promise<boolean> {
      if (!cached || clock.now().getTime() >= cached.until) {
        // Behind the load balancer: whichever process answers.
        const res = await fetch(jwksUrls[fetches++ % jwksUrls.length]!);
        const maxAge = Number(/max-age=(\d+)/.exec(res.headers.get('cache-control') ?? '')?.[1] ?? 0);
        cached = { set: createLocalJWKSet((await res.json()) as JSONWebKeySet), until: clock.now().getTime() + maxAge * 1000 };
      }
      try {
        await jwtVerify(token, cached.set, { issuer, audience: API, typ: 'at+jwt' });
        return true;
      } catch {
        return false;
      }
    },
  };
}

describe('key settings', () => {
  it('refuses a poll interval over 60 s and a pre-publication window shorter than a JWKS cache plus a poll', () => {
    expect(parseConfig({ KEY_POLL_INTERVAL: '61' }).ok).toBe(false);
    expect(parseConfig({ KEY_PREPUBLISH: '100', JWKS_MAX_AGE: '90', KEY_POLL_INTERVAL: '30' }).ok).toBe(false);
    expect(parseConfig({ KEY_ROTATION_INTERVAL: '3600', KEY_PREPUBLISH: '3600' }).ok).toBe(false);
    expect(parseConfig({}).ok).toBe(true);
  });
});

describe.skipIf(!onPostgres)('key rotation across two server processes (PostgreSQL)', () => {
  let a: TestServer;
  let b: TestServer;
  let service: ClientMetadata;

  beforeAll(async () => {
    a = await startTestServer();
    b = await a.sibling();
    await runOperation(a.operations, 'resource.create', { identifier: API, scopes: [{ name: 'read' }] });
    service = await createClient(a, { name: 'Service', redirectUris: [], grantTypes: ['client_credentials'], scope: 'read' });
  });
  afterAll(async () => {
    await b?.stop({ keepDatabase: true });
    await a?.stop();
  });

  it('a key rotated at one process is published and used by the other at once, without a restart or a poll', async () => {
    const before = kidOf(await issue(b, service));
    const { changes } = await runOperation(a.operations, 'keys.rotate', { mode: 'now', alg: 'ES256' });
    const rotated = changes.find((c) => c.change === 'activated')!.kid;
    expect(rotated).not.toBe(before);
    expect(kidOf(await issue(a, service))).toBe(rotated);
    // b hears of it from PostgreSQL's notice when the rotation commits (store/change-notices.ts), long
    // before its next poll (KEY_POLL_INTERVAL, 30 s here): no poll is run.
    await expect.poll(async () => (await publishedKids(b)).includes(rotated), { timeout: 5_000, interval: 10 }).toBe(true);
    expect(kidOf(await issue(b, service))).toBe(rotated);
    // The old key stays published at both: tokens it signed are still valid.
    expect(await publishedKids(b)).toContain(before);
  });
});

describe.skipIf(!onPostgres)('scheduled rotation under load across two processes (PostgreSQL)', () => {
  it('rotates repeatedly, once per due rotation, with zero failed validations by a JWKS-caching resource server', async () => {
    // Rotation every 6 s, each key published 3 s before it signs; caches may keep the JWKS 1 s; poll 1 s.
    // Time is the servers' clock, moved a quarter second at a time: a polls on the whole second, b half a
    // second later (the poll the KEY_POLL_INTERVAL timer runs; both race for the key lock when due).
    const env = { KEY_ROTATION_INTERVAL: '6', KEY_PREPUBLISH: '3', KEY_POLL_INTERVAL: '1', JWKS_MAX_AGE: '1' };
    const clock = manualClock();
    const a = await startTestServer({ env, clock });
    const b = await a.sibling();
    try {
      await runOperation(a.operations, 'resource.create', { identifier: API, scopes: [{ name: 'read' }] });
      const service = await createClient(a, { name: 'Service', redirectUris: [], grantTypes: ['client_credentials'], scope: 'read' });
      const validator = cachingValidator([`${a.url}/jwks`, `${b.url}/jwks`], a.issuer, clock);
      const servers = [a, b];
      const kids = new Set<string>();
      let validations = 0;
      let failures = 0;
      let mostNextKeys = 0;
      for (let step = 0; step < 4 * 60 && kids.size < 4; step++) {
        clock.advance(0.25);
        if (step % 4 === 0) await Promise.all([a.pollKeys(), b.pollKeys()]);
        else if (step % 4 === 2) await b.pollKeys();
        const token = await issue(servers[step % 2]!, service);
        kids.add(kidOf(token));
        validations++;
        if (!(await validator.validate(token))) failures++;
        if (step % 4 === 0) {
          const next = await a.runtime.db('keys').where({ purpose: 'signing', alg: 'ES256', state: 'next' }).count({ n: '*' });
          mostNextKeys = Math.max(mostNextKeys, Number(next[0]!.n));
        }
      }
      expect(failures).toBe(0);
      expect(validations).toBeGreaterThan(50);
      expect(kids.size).toBeGreaterThanOrEqual(3);
      expect(validator.fetches).toBeGreaterThan(2);
      // Exactly one process acted on each due rotation: never two next keys, each key activated once.
      expect(mostNextKeys).toBeLessThanOrEqual(1);
      const activated = await a.runtime.db('audit_events').where('type', 'key.activated').whereRaw("details->>'alg' = 'ES256'").select('details');
      const activatedKids = activated.map((r: { details: { kid: string } }) => r.details.kid);
      expect(new Set(activatedKids).size).toBe(activatedKids.length);
      for (const alg of ['ES256', 'RS256', 'EdDSA']) {
        const current = await a.runtime.db('keys').where({ purpose: 'signing', alg, state: 'current' }).count({ n: '*' });
        expect(Number(current[0]!.n)).toBe(1);
      }
    } finally {
      await b.stop({ keepDatabase: true });
      await a.stop();
    }
  });
});
