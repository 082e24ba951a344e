// A person who signs in through an upstream identity provider gets the same second step as after a
// password: here MFA_REQUIRED=all walks a just-in-time account through authenticator-app setup (no password
// to ask: it has none), and the next federated sign-in asks for the code. amr then says fed, otp, mfa.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOTP, Secret } from 'otpauth';
import { createUser } from '../helpers/oauth.ts';
import { csrfField, formAction } from '../helpers/browser-session.ts';
import { land, redeem, signInThroughUpstream, startPair, UPSTREAM_PASSWORD, type Pair } from './helpers.ts';

let pair: Pair;
beforeAll(async () => {
  pair = await startPair({ downstreamEnv: { MFA_REQUIRED: 'all' } });
  await createUser(pair.upstream, 'fiona', UPSTREAM_PASSWORD);
}, 60_000);
afterAll(() => pair?.stop());

/** The code the app shows `ahead` periods from now (the servers run on the real clock). */
const codeAt = (secret: string, ahead = 0) =>
  new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' }).generate({ timestamp: Date.now() + ahead * 30_000 });

describe('second factor after an upstream sign-in', () => {
  it('walks a new federated account through setup, then asks for the code at the next federated sign-in', async () => {
    const first = await signInThroughUpstream(pair, { username: 'fiona' });
    expect(first.landed.url.pathname).toMatch(/\/second-factor$/);
    expect(first.landed.html).toContain('src="data:image/svg+xml;base64,');
    expect(first.landed.html).not.toContain('name="password"');
    const secret = first.landed.html.match(/<code>([A-Z2-7]+)<\/code>/)![1]!;
    const factor = first.landed.html.match(/name="factor" value="([^"]+)"/)![1]!;
    const enrolled = await first.sessionDown.postForm(formAction(first.landed.html), { csrf: csrfField(first.landed.html), factor, code: codeAt(secret) });
    expect(enrolled.status).toBe(303);
    const codesPage = await land(first.sessionDown, enrolled.headers.get('location')!);
    expect(codesPage.html.match(/<li><code>/g)).toHaveLength(10);
    const cont = await first.sessionDown.postForm(formAction(codesPage.html), { csrf: csrfField(codesPage.html) });
    const done = await first.sessionDown.follow(cont.headers.get('location')!);
    const tokens = await redeem(pair, { ...first, landed: { url: done.url, status: done.res.status, html: '' } });
    expect(tokens.claims()!.amr).toEqual(expect.arrayContaining(['fed', 'otp', 'mfa']));
    expect(tokens.claims()!.acr).toBe('urn:tessera:acr:mfa');

    // A new browser downstream (the upstream session is reused): the code is asked for, not a setup.
    const second = await signInThroughUpstream(pair, { username: 'fiona', sessionUp: first.sessionUp });
    expect(second.landed.url.pathname).toMatch(/\/second-factor$/);
    expect(second.landed.html).toContain('autocomplete="one-time-code"');
    expect(second.landed.html).not.toContain('src="data:image/svg+xml');
    const verified = await second.sessionDown.postForm(formAction(second.landed.html), { csrf: csrfField(second.landed.html), code: codeAt(secret, 1) });
    expect(verified.status).toBe(303);
    const back = await second.sessionDown.follow(verified.headers.get('location')!);
    const again = await redeem(pair, { ...second, landed: { url: back.url, status: back.res.status, html: '' } });
    expect(again.claims()!.amr).toEqual(expect.arrayContaining(['fed', 'otp', 'mfa']));
  });
});
