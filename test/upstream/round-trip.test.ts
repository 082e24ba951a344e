// Signing in to a downstream app through an upstream OpenID Connect provider (another Tessera): a local
// account linked by subject, just in time or by linking an existing account, and Tessera's own tokens.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runOperation } from '../../src/services/operations.ts';
import { createUser } from '../helpers/oauth.ts';
import { csrfField, formAction } from '../helpers/browser-session.ts';
import { redeem, signInThroughUpstream, startPair, UPSTREAM_PASSWORD, type Pair } from './helpers.ts';

describe('just-in-time provisioning', () => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await startPair({ provisioning: 'jit', defaultRoles: ['staff'] });
    await createUser(pair.upstream, 'uma', UPSTREAM_PASSWORD);
    await createUser(pair.upstream, 'vera', UPSTREAM_PASSWORD);
    await runOperation(pair.upstream.operations, 'user.update', { user: 'vera', emailVerified: true });
  }, 60_000);
  afterAll(() => pair?.stop());

  it('creates a linked local account on first sign-in, and the app gets downstream tokens', async () => {
    const upstreamUser = await runOperation(pair.upstream.operations, 'user.show', { user: 'uma' });
    const walk = await signInThroughUpstream(pair, { username: 'uma' });
    const tokens = await redeem(pair, walk);
    const claims = tokens.claims()!;
    expect(claims.iss).toBe(pair.downstream.issuer);
    // RFC 8176: authenticated by a federated identity provider.
    expect(claims.amr).toEqual(['fed']);
    const local = await runOperation(pair.downstream.operations, 'user.show', { user: claims.sub });
    expect(local).toMatchObject({ username: 'uma', email: 'uma@example.test', roles: ['staff'] });
    expect(claims.sub).not.toBe(upstreamUser.id);
    const link = await pair.downstream.runtime.db('account_identities').where({ account_id: claims.sub }).first();
    expect(link).toMatchObject({ upstream_id: 'corp', subject: upstreamUser.id });
  });

  it('does not trust an email the upstream has not verified, and does trust one it has', async () => {
    expect(await runOperation(pair.downstream.operations, 'user.show', { user: 'uma' })).toMatchObject({ email_verified: false });
    await redeem(pair, await signInThroughUpstream(pair, { username: 'vera' }));
    expect(await runOperation(pair.downstream.operations, 'user.show', { user: 'vera' })).toMatchObject({ email_verified: true });
  });

  it('signs a returning person in to the same account, without creating another', async () => {
    const before = (await pair.downstream.runtime.db('accounts').count({ n: '*' }))[0]!.n;
    const tokens = await redeem(pair, await signInThroughUpstream(pair, { username: 'uma' }));
    const local = await runOperation(pair.downstream.operations, 'user.show', { user: 'uma' });
    expect(tokens.claims()!.sub).toBe(local.id);
    expect((await pair.downstream.runtime.db('accounts').count({ n: '*' }))[0]!.n).toBe(before);
  });

  it('records upstream sign-ins in the audit trail, and never passes upstream tokens on', async () => {
    const events = await pair.downstream.runtime.db('audit_events').where('type', 'login.upstream').select('details');
    expect(events.length).toBeGreaterThanOrEqual(3);
    expect(events[0].details).toMatchObject({ upstream: 'corp' });
    // Nothing from the upstream's token endpoint is stored downstream.
    const stored = JSON.stringify(await pair.downstream.runtime.db('tokens').select('payload'));
    expect(stored).not.toContain(pair.upstream.issuer);
  });
});

describe('linking an existing account', () => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await startPair({ provisioning: 'link' });
    await createUser(pair.upstream, 'walt', UPSTREAM_PASSWORD);
    await createUser(pair.downstream, 'walter', 'local horse battery');
  }, 60_000);
  afterAll(() => pair?.stop());

  it('asks for the existing account\'s password, links it, and signs in to that account', async () => {
    const walk = await signInThroughUpstream(pair, { username: 'walt' });
    expect(walk.landed.html).toContain('Link your account');
    const wrong = await walk.sessionDown.postForm(formAction(walk.landed.html), { csrf: csrfField(walk.landed.html), username: 'walter', password: 'not the password' });
    expect(wrong.status).toBe(401);
    const again = await wrong.text();
    const linked = await walk.sessionDown.postForm(formAction(again), { csrf: csrfField(again), username: 'walter', password: 'local horse battery' });
    expect(linked.status).toBe(303);
    const landed = await walk.sessionDown.follow(linked.headers.get('location')!);
    const tokens = await redeem(pair, { ...walk, landed: { url: landed.url, status: landed.res.status, html: '' } });
    const walter = await runOperation(pair.downstream.operations, 'user.show', { user: 'walter' });
    expect(tokens.claims()!.sub).toBe(walter.id);

    // Next time the link signs them straight in.
    const next = await redeem(pair, await signInThroughUpstream(pair, { username: 'walt', sessionUp: walk.sessionUp }));
    expect(next.claims()!.sub).toBe(walter.id);
  });
});
