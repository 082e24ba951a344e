// Revocation as each mode sees it, against the real Tessera: local+feed refuses a revoked token within 2 s
// (token revocation, a person's grant revoked by disabling them, a disabled client), introspection at once,
// local not before the token expires. Plus the follower's life cycle: checkpoints across a restart, catch-up
// before start() resolves, failing closed, back-off through an outage, renewal of a refused feed token.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { runOperation } from '../../src/services/operations.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession } from '../helpers/browser-session.ts';
import { authorize, createClient, createUser, discover, exchange } from '../helpers/oauth.ts';
import { createTokenValidator, type FeedCheckpoint, type TokenValidator, type TokenValidatorOptions } from '../../src/resource-server/index.ts';
import { isRevoked, manualClock, quietErrors, registerApi, serviceClient, serviceToken, waitForResult, type RegisteredApi } from './helpers.ts';

const INVOICES = 'https://invoices.example.test/api';
const WITHIN_MS = 2000;

let server: TestServer;
let api: RegisteredApi;
let service: oidc.Configuration;
let feed: TokenValidator;
let local: TokenValidator;
let introspection: TokenValidator;
const started: TokenValidator[] = [];

function validator(mode: TokenValidatorOptions['mode'], extra: Partial<TokenValidatorOptions> = {}): TokenValidator {
  const v = createTokenValidator({ issuer: server.issuer, audience: INVOICES, mode, clientId: api.clientId, clientSecret: api.clientSecret, onError: quietErrors().onError, ...extra });
  started.push(v);
  return v;
}

beforeAll(async () => {
  server = await startTestServer();
  api = await registerApi(server, INVOICES);
  service = (await serviceClient(server, 'Billing service')).config;
  feed = validator('local+feed');
  local = validator('local');
  introspection = validator('introspection');
  await Promise.all([feed.start(), local.start(), introspection.start()]);
});
afterAll(async () => {
  await Promise.all(started.map((v) => v.stop()));
  await server?.stop();
});

/** Resolves once this machine's clock (the issuer's too) is in a later whole second than `instant`. */
async function untilSecondAfter(instant: Date) {
  const next = (Math.floor(instant.getTime() / 1000) + 1) * 1000;
  await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
}

async function expectAcceptedByAll(token: string) {
  for (const v of [feed, local, introspection]) expect(await v.validate(token), v.mode).toMatchObject({ ok: true });
}

describe('revocation seen by each mode', () => {
  it('a token revoked at /token/revocation: introspection at once, local+feed within 2 s, local not at all', async () => {
    const token = await serviceToken(service, INVOICES);
    const sibling = await serviceToken(service, INVOICES);
    await expectAcceptedByAll(token);

    await oidc.tokenRevocation(service, token);
    expect(await introspection.validate(token)).toMatchObject({ ok: false, reason: 'inactive' });
    const { result, elapsedMs } = await waitForResult(feed, token, isRevoked, WITHIN_MS);
    expect(result).toMatchObject({ ok: false, reason: 'revoked' });
    expect(elapsedMs).toBeLessThan(WITHIN_MS);
    // Local verification alone cannot know: the token stays good until it expires (documented).
    expect(await local.validate(token)).toMatchObject({ ok: true });
    // Only that token: another of the same client is fine.
    expect(await feed.validate(sibling)).toMatchObject({ ok: true });
  });

  it("every token of a person's grant, once the person is disabled", async () => {
    await createUser(server, 'bob');
    const web = await createClient(server, { name: 'Invoices web', scope: 'openid invoices:read' });
    const config = await discover(server, web);
    const signIn = () => authorize(server, config, new BrowserSession(server.issuer), { username: 'bob', scope: 'openid invoices:read', extra: { resource: INVOICES } });
    const first = (await exchange(config, await signIn())).access_token;
    const second = (await exchange(config, await signIn())).access_token;
    await expectAcceptedByAll(first);
    await expectAcceptedByAll(second);

    await runOperation(server.operations, 'user.disable', { user: 'bob' });
    for (const token of [first, second]) {
      expect(await introspection.validate(token)).toMatchObject({ ok: false, reason: 'inactive' });
      const { result, elapsedMs } = await waitForResult(feed, token, isRevoked, WITHIN_MS);
      expect(result).toMatchObject({ ok: false, reason: 'revoked', detail: expect.stringContaining('grant') });
      expect(elapsedMs).toBeLessThan(WITHIN_MS);
    }
  });

  it("every token of a disabled client; other clients' tokens keep working; new tokens after re-enabling work", async () => {
    const doomed = await serviceClient(server, 'Doomed service');
    const tokens = [await serviceToken(doomed.config, INVOICES), await serviceToken(doomed.config, INVOICES)];
    const bystander = await serviceToken(service, INVOICES);
    for (const t of tokens) await expectAcceptedByAll(t);

    await runOperation(server.operations, 'client.disable', { clientId: doomed.client.client_id });
    for (const token of tokens) {
      expect(await introspection.validate(token)).toMatchObject({ ok: false, reason: 'inactive' });
      const { result, elapsedMs } = await waitForResult(feed, token, isRevoked, WITHIN_MS);
      expect(result).toMatchObject({ ok: false, reason: 'revoked', detail: expect.stringContaining('client') });
      expect(elapsedMs).toBeLessThan(WITHIN_MS);
    }
    await expectAcceptedByAll(bystander);

    // Tokens issued after the client is enabled again (in a later second than the event) are fine. Token
    // `iat`s are whole seconds, so the event covers its whole second: waiting for the next one (under a
    // second) is inherent.
    await runOperation(server.operations, 'client.enable', { clientId: doomed.client.client_id });
    const { occurred } = (await server.runtime.db('revocation_events').where({ type: 'client-disabled', client_id: doomed.client.client_id }).max({ occurred: 'occurred_at' }))[0]!;
    await untilSecondAfter(new Date(occurred as Date | string));
    await expectAcceptedByAll(await serviceToken(doomed.config, INVOICES));
  });
});

describe('the feed follower', () => {
  it('resumes from its checkpoint after a restart: revocations from before and while it was stopped both apply', async () => {
    let saved: FeedCheckpoint | undefined;
    const feedRequests: URL[] = [];
    const recordingFetch: typeof fetch = (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      if (url.pathname === '/revocations/feed') feedRequests.push(url);
      return fetch(input, init);
    };
    const checkpointing = { loadCheckpoint: async () => saved, saveCheckpoint: async (c: FeedCheckpoint) => void (saved = structuredClone(c)) };

    const before = await serviceToken(service, INVOICES);
    const during = await serviceToken(service, INVOICES);
    const untouched = await serviceToken(service, INVOICES);

    const first = validator('local+feed', { feed: checkpointing });
    await first.start();
    await oidc.tokenRevocation(service, before);
    expect((await waitForResult(first, before, isRevoked, WITHIN_MS)).result).toMatchObject({ reason: 'revoked' });
    await first.stop();
    expect(saved).toMatchObject({ version: 1, issuer: server.issuer, audience: INVOICES });
    expect(saved!.events.some((e) => e.type === 'token-revoked')).toBe(true);
    const savedCursor = saved!.cursor;

    // While no follower runs.
    await oidc.tokenRevocation(service, during);

    const second = validator('local+feed', { feed: checkpointing, fetch: recordingFetch });
    await second.start();
    // It read on from the saved cursor, not from the beginning ...
    expect(feedRequests[0]!.searchParams.get('after')).toBe(savedCursor);
    // ... and yet knows the revocation read before the restart (from the checkpoint) and the one it missed.
    expect(await second.validate(before)).toMatchObject({ ok: false, reason: 'revoked' });
    expect(await second.validate(during)).toMatchObject({ ok: false, reason: 'revoked' });
    expect(await second.validate(untouched)).toMatchObject({ ok: true });
    expect(BigInt(saved!.cursor)).toBeGreaterThan(BigInt(savedCursor));
  });

  it('ignores a checkpoint of another audience and reads the feed from the start', async () => {
    const revoked = await serviceToken(service, INVOICES);
    await oidc.tokenRevocation(service, revoked);
    const errors = quietErrors();
    const v = validator('local+feed', {
      onError: errors.onError,
      feed: { loadCheckpoint: async () => ({ version: 1, issuer: server.issuer, audience: 'https://elsewhere.example.test', cursor: '999999', events: [] }) },
    });
    await v.start();
    expect(await v.validate(revoked)).toMatchObject({ ok: false, reason: 'revoked' });
    expect(errors.errors.map((e) => e.message).join()).toMatch(/another issuer, audience/);
  });

  it('has caught up when start() resolves, and fails closed before start() and after stop()', async () => {
    const token = await serviceToken(service, INVOICES);
    await oidc.tokenRevocation(service, token);
    const fresh = await serviceToken(service, INVOICES);
    const v = validator('local+feed');
    expect(await v.validate(fresh)).toMatchObject({ ok: false, reason: 'unavailable' });
    await v.start();
    expect(await v.validate(token)).toMatchObject({ ok: false, reason: 'revoked' });
    expect(await v.validate(fresh)).toMatchObject({ ok: true });
    expect(v.feedStatus()).toMatchObject({ caughtUp: true, revokedTokens: expect.any(Number) });
    await v.stop();
    expect(await v.validate(fresh)).toMatchObject({ ok: false, reason: 'unavailable' });
  });

  it('stop() ends an open long-poll at once', async () => {
    // The long-poll (wait=25) as the follower sends it: the signal that it is now inside one.
    let longPollSent!: (sent: { answer: Promise<Response> }) => void;
    const longPoll = new Promise<{ answer: Promise<Response> }>((resolve) => (longPollSent = resolve));
    const watchingFetch: typeof fetch = (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const answer = fetch(input, init);
      if (url.pathname === '/revocations/feed' && url.searchParams.get('wait') === '25') longPollSent({ answer });
      return answer;
    };
    const v = validator('local+feed', { fetch: watchingFetch, feed: { pollWaitSeconds: 25 } });
    await v.start();
    const { answer } = await longPoll;
    const t0 = Date.now();
    await v.stop();
    // Cut, not answered: the issuer would have held it for 25 s with nothing to say.
    await expect(answer).rejects.toMatchObject({ name: 'AbortError' });
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('backs off through an outage, fails closed once its state is stale, and recovers', async () => {
    // The follower runs on a clock the test moves: with pollWaitSeconds 0 each read is answered at once and
    // followed by a pause, so between two moves of the clock the follower does exactly one round.
    const clock = manualClock();
    let down = false;
    const failures: number[] = [];
    const flakyFetch: typeof fetch = async (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      if (down && url.pathname === '/revocations/feed') {
        failures.push(clock.now());
        throw new TypeError('fetch failed (simulated outage)');
      }
      return fetch(input, init);
    };
    const errors = quietErrors();
    const v = validator('local+feed', { fetch: flakyFetch, onError: errors.onError, feed: { pollWaitSeconds: 0, maxStalenessSeconds: 3, clock } });
    await v.start();
    const token = await serviceToken(service, INVOICES);
    expect(await v.validate(token)).toMatchObject({ ok: true });

    // Round after round of failed reads (each ended by moving the clock to the end of the follower's wait),
    // until the last successful read is more than maxStalenessSeconds old.
    down = true;
    let stale = await v.validate(token);
    for (let round = 0; stale.ok && round < 20; round++) {
      await clock.sleeping();
      clock.advanceToNext();
      await clock.sleeping(); // the read failed and the follower backs off
      stale = await v.validate(token);
    }
    expect(stale).toMatchObject({ ok: false, reason: 'unavailable', detail: expect.stringContaining('has not been read for') });
    // Exponential back-off: the gaps between failed attempts grow (0.25-0.5 s, 0.5-1 s, 1-2 s, ...).
    const gaps = failures.slice(1).map((t, i) => t - failures[i]!);
    expect(gaps.length).toBeGreaterThanOrEqual(2);
    expect(gaps[0]!).toBeGreaterThanOrEqual(250);
    expect(gaps[0]!).toBeLessThanOrEqual(500);
    expect(gaps[1]!).toBeGreaterThanOrEqual(500);
    expect(gaps[1]!).toBeLessThanOrEqual(1000);
    expect(gaps[gaps.length - 1]!).toBeGreaterThan(gaps[0]!);
    expect(errors.errors.length).toBe(failures.length);
    for (const e of errors.errors) expect(e.message).toMatch(/revocation feed: request to .* failed/);

    // A revocation during the outage is picked up once the feed is back: at the end of the back-off the
    // follower reads again, applies it, and pauses.
    await oidc.tokenRevocation(service, token);
    down = false;
    clock.advanceToNext();
    await clock.sleeping();
    expect(await v.validate(token)).toMatchObject({ ok: false, reason: 'revoked' });
    expect(await v.validate(await serviceToken(service, INVOICES))).toMatchObject({ ok: true });
  });

  it('renews its feed token when the feed refuses it, without reporting an error', async () => {
    let feedCalls = 0;
    let tokenCalls = 0;
    let thirdAnswered!: () => void;
    const third = new Promise<void>((resolve) => (thirdAnswered = resolve));
    const fetchWith401: typeof fetch = async (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      if (url.pathname === '/token') tokenCalls++;
      if (url.pathname !== '/revocations/feed') return fetch(input, init);
      const call = ++feedCalls;
      if (call === 2) return new Response('{"error":"invalid_token"}', { status: 401, headers: { 'content-type': 'application/json' } });
      const res = await fetch(input, init);
      if (call === 3) thirdAnswered();
      return res;
    };
    const errors = quietErrors();
    const v = validator('local+feed', { fetch: fetchWith401, onError: errors.onError, feed: { pollWaitSeconds: 0 } });
    await v.start();
    // The read after the refused one (with a renewed token) has been answered: had the refusal been
    // reported instead, it would have come first.
    await third;
    expect(feedCalls).toBeGreaterThanOrEqual(3);
    expect(tokenCalls).toBe(2);
    expect(errors.errors).toEqual([]);
    expect(await v.validate(await serviceToken(service, INVOICES))).toMatchObject({ ok: true });
  });

  it('start() gives up after startTimeoutSeconds when the feed client is refused', async () => {
    // startTimeoutSeconds runs on the follower's clock, which this test moves.
    const clock = manualClock();
    const errors: Error[] = [];
    const refusals: (() => void)[] = [];
    /** Resolves once the follower has reported its n-th failed attempt. */
    const refusal = (n: number) => new Promise<void>((resolve) => (errors.length >= n ? resolve() : refusals.push(() => errors.length >= n && resolve())));
    const v = createTokenValidator({
      issuer: server.issuer,
      audience: INVOICES,
      mode: 'local+feed',
      clientId: api.clientId,
      clientSecret: 'not-the-secret',
      onError: (e) => {
        errors.push(e);
        for (const check of refusals) check();
      },
      feed: { startTimeoutSeconds: 1, clock },
    });
    const starting = v.start();
    let outcome = 'pending';
    starting.catch(() => (outcome = 'rejected'));
    await refusal(1);
    expect(errors[0]!.message).toMatch(/invalid_client/);
    // Still trying (after its back-off, at most 0.5 s) until startTimeoutSeconds have passed ...
    clock.advance(999);
    await refusal(2);
    expect(outcome).toBe('pending');
    // ... and not a moment longer.
    clock.advance(1);
    await expect(starting).rejects.toThrow(/could not be read within 1s.*invalid_client/);
    expect(await v.validate(await serviceToken(service, INVOICES))).toMatchObject({ ok: false, reason: 'unavailable' });
  });
});
