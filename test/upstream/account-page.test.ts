// A person's linked upstream identities on /account: listed, unlinkable, but never the last way to sign in
// (an account made just in time has no password). An operator's new password makes unlinking possible;
// every link, unlink and upstream sign-in is in the audit trail.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runOperation } from '../../src/services/operations.ts';
import { BrowserSession, csrfField, formAction } from '../helpers/browser-session.ts';
import { createClient, createUser } from '../helpers/oauth.ts';
import { atUpstream, land, redeem, signInThroughUpstream, startPair, upstreamAction, UPSTREAM_PASSWORD, type Pair } from './helpers.ts';

const LOCAL_PASSWORD = 'local horse battery';

interface UnlinkForm {
  action: string;
  csrf: string;
  upstream: string;
  subject: string;
}

/** The "Unlink" forms on the account page, one per linked identity. */
function unlinkForms(html: string): UnlinkForm[] {
  return [...html.matchAll(/<form method="post" action="(\/account\/identities\/unlink)">([\s\S]*?)<\/form>/g)].map((m) => {
    const field = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(m[2]!)?.[1] ?? '';
    return { action: m[1]!, csrf: field('csrf'), upstream: field('upstream'), subject: field('subject') };
  });
}

async function accountPage(pair: Pair, session: BrowserSession) {
  const page = await land(session, `${pair.downstream.issuer}/account`);
  expect(page.status).toBe(200);
  return page.html;
}

const audit = (pair: Pair, type: string, accountId: string) =>
  pair.downstream.runtime.db('audit_events').where({ type, account_id: accountId }).orderBy('id').select('details', 'client_id');

describe('linked identities on the account page', () => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await startPair({ provisioning: 'jit' });
    for (const name of ['uma', 'walt', 'xena']) await createUser(pair.upstream, name, UPSTREAM_PASSWORD);
    await createUser(pair.downstream, 'walter', LOCAL_PASSWORD);
    // A second upstream that links existing accounts (by their password) instead of creating them.
    const partner = await createClient(pair.upstream, {
      name: 'Partner broker',
      redirectUris: [`${pair.downstream.issuer}/upstream/partner/callback`],
      scope: 'openid profile email',
      firstParty: true,
    });
    await runOperation(pair.downstream.operations, 'upstream.create', {
      id: 'partner',
      displayName: 'Partner SSO',
      issuer: pair.upstream.issuer,
      clientId: partner.client_id,
      clientSecret: partner.client_secret,
      provisioning: 'link',
    });
  }, 60_000);
  afterAll(() => pair?.stop());

  let umaId: string;
  let umaSubject: string;
  let umaSessionUp: BrowserSession;

  it('shows the identity a just-in-time account was made from, with the provider\'s name and the email', async () => {
    umaSubject = (await runOperation(pair.upstream.operations, 'user.show', { user: 'uma' })).id;
    const walk = await signInThroughUpstream(pair, { username: 'uma' });
    umaSessionUp = walk.sessionUp;
    umaId = (await redeem(pair, walk)).claims()!.sub;

    const html = await accountPage(pair, walk.sessionDown);
    expect(html).toContain('Signed in as <strong>uma</strong>');
    expect(html).toContain('Sign-in with other accounts');
    expect(html).toContain('<strong>Corp SSO</strong>');
    expect(html).toContain('uma@example.test · linked on ');
    const forms = unlinkForms(html);
    expect(forms).toEqual([{ action: '/account/identities/unlink', csrf: expect.any(String), upstream: 'corp', subject: umaSubject }]);
    expect(html).toContain('Unlink — Corp SSO');
  });

  it('refuses to unlink the last way to sign in (no password, one identity) with a readable 409 page', async () => {
    const walk = await signInThroughUpstream(pair, { username: 'uma', sessionUp: umaSessionUp });
    await redeem(pair, walk);
    const [form] = unlinkForms(await accountPage(pair, walk.sessionDown));
    const res = await walk.sessionDown.postForm(form!.action, { csrf: form!.csrf, upstream: form!.upstream, subject: form!.subject });
    const html = await res.text();
    expect(res.status, html.slice(0, 400)).toBe(409);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(html).toContain('this is your only way to sign in, so it stays linked');
    expect(html).not.toMatch(/\bat \S+ \(|\.ts:\d+/);
    // Still linked, still listed, and still signs in.
    expect(await pair.downstream.runtime.db('account_identities').where({ account_id: umaId })).toHaveLength(1);
    expect(unlinkForms(await accountPage(pair, walk.sessionDown))).toHaveLength(1);
    expect(await audit(pair, 'identity.unlinked', umaId)).toEqual([]);
  });

  it('does not let an account made just in time sign in with any password', async () => {
    await redeem(pair, await signInThroughUpstream(pair, { username: 'xena' }));
    const session = new BrowserSession(pair.downstream.issuer);
    let page = await land(session, `${pair.downstream.issuer}/account/sign-in`);
    for (const password of ['!upstream-only', 'correct horse battery', UPSTREAM_PASSWORD]) {
      const res = await session.postForm(formAction(page.html), { csrf: csrfField(page.html), username: 'xena', password });
      const html = await res.text();
      expect(res.status, html.slice(0, 300)).toBe(401);
      page = { ...page, html };
    }
  });

  it('lets an account without a password unlink one of two identities, but not the one left', async () => {
    const xena = await runOperation(pair.downstream.operations, 'user.show', { user: 'xena' });
    // A second identity (as if linked earlier through another upstream), put in place directly.
    await pair.downstream.runtime.db('account_identities').insert({ upstream_id: 'partner', subject: 'xena-at-partner', account_id: xena.id, email: null });
    const walk = await signInThroughUpstream(pair, { username: 'xena' });
    expect((await redeem(pair, walk)).claims()!.sub).toBe(xena.id);
    const forms = unlinkForms(await accountPage(pair, walk.sessionDown));
    expect(forms.map((f) => f.upstream)).toEqual(['corp', 'partner']);
    const partnerForm = forms.find((f) => f.upstream === 'partner')!;
    const first = await walk.sessionDown.postForm(partnerForm.action, { csrf: partnerForm.csrf, upstream: 'partner', subject: 'xena-at-partner' });
    expect(first.status).toBe(303);
    const [last] = unlinkForms(await accountPage(pair, walk.sessionDown));
    expect(last).toMatchObject({ upstream: 'corp' });
    const refused = await walk.sessionDown.postForm(last!.action, { csrf: last!.csrf, upstream: last!.upstream, subject: last!.subject });
    expect(refused.status).toBe(409);
    expect(await pair.downstream.runtime.db('account_identities').where({ account_id: xena.id }).select('upstream_id')).toEqual([{ upstream_id: 'corp' }]);
  });

  it('does not unlink another person\'s identity (404), whatever the form says', async () => {
    const xena = await runOperation(pair.downstream.operations, 'user.show', { user: 'xena' });
    const xenaLink = await pair.downstream.runtime.db('account_identities').where({ account_id: xena.id }).first();
    const walk = await signInThroughUpstream(pair, { username: 'uma', sessionUp: umaSessionUp });
    await redeem(pair, walk);
    const [form] = unlinkForms(await accountPage(pair, walk.sessionDown));
    const res = await walk.sessionDown.postForm(form!.action, { csrf: form!.csrf, upstream: 'corp', subject: xenaLink.subject });
    expect(res.status).toBe(404);
    expect(await res.text()).toContain('no such linked identity');
    expect(await pair.downstream.runtime.db('account_identities').where({ account_id: xena.id })).toHaveLength(1);
    // Without the form's CSRF token, or signed out: refused too, nothing unlinked.
    expect((await walk.sessionDown.postForm(form!.action, { upstream: 'corp', subject: umaSubject })).status).toBe(403);
    const stranger = new BrowserSession(pair.downstream.issuer);
    const signInPage = await land(stranger, `${pair.downstream.issuer}/account`);
    expect(signInPage.html).not.toContain('/account/identities/unlink');
    expect(await pair.downstream.runtime.db('account_identities').where({ account_id: umaId })).toHaveLength(1);
  });

  it('unlinks once an operator has set a password; the upstream no longer reaches that account, the password does', async () => {
    await runOperation(pair.downstream.operations, 'user.set-password', { user: umaId, password: LOCAL_PASSWORD });
    // Setting a password ended uma's sessions: sign in again (through the upstream, still linked).
    const walk = await signInThroughUpstream(pair, { username: 'uma', sessionUp: umaSessionUp });
    expect((await redeem(pair, walk)).claims()!.sub).toBe(umaId);
    const [form] = unlinkForms(await accountPage(pair, walk.sessionDown));
    const res = await walk.sessionDown.postForm(form!.action, { csrf: form!.csrf, upstream: form!.upstream, subject: form!.subject });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/account');
    const after = await accountPage(pair, walk.sessionDown);
    expect(after).toContain('Signed in as <strong>uma</strong>');
    expect(after).not.toContain('Sign-in with other accounts');
    expect(unlinkForms(after)).toEqual([]);
    expect(await pair.downstream.runtime.db('account_identities').where({ account_id: umaId })).toEqual([]);

    // The account stays and its password signs in.
    const session = new BrowserSession(pair.downstream.issuer);
    const page = await land(session, `${pair.downstream.issuer}/account/sign-in`);
    const posted = await session.postForm(formAction(page.html), { csrf: csrfField(page.html), username: 'uma', password: LOCAL_PASSWORD });
    expect(posted.status).toBe(303);
    const home = await land(session, posted.headers.get('location')!);
    expect(home.url.pathname).toBe('/account');
    expect(home.html).toContain('Signed in as <strong>uma</strong>');

    // The upstream identity, unlinked, no longer signs in to uma's account (just-in-time makes another).
    const again = await redeem(pair, await signInThroughUpstream(pair, { username: 'uma', sessionUp: umaSessionUp }));
    expect(again.claims()!.sub).not.toBe(umaId);
  });

  it('lets a person with a password unlink an identity they linked themselves', async () => {
    // Through the linking upstream, from the account page's own sign-in: walt's identity → the account walter.
    const down = new BrowserSession(pair.downstream.issuer);
    const signIn = await land(down, `${pair.downstream.issuer}/account/sign-in`);
    const start = await down.postForm(upstreamAction(signIn.html, 'partner'), { csrf: csrfField(signIn.html) });
    expect(start.status).toBe(303);
    const callback = await atUpstream(pair, new BrowserSession(pair.upstream.issuer), start.headers.get('location')!, { username: 'walt' });
    const linkPage = await land(down, callback);
    expect(linkPage.html).toContain('Link your account');
    const linked = await down.postForm(formAction(linkPage.html), { csrf: csrfField(linkPage.html), username: 'walter', password: LOCAL_PASSWORD });
    expect(linked.status).toBe(303);
    const home = await land(down, linked.headers.get('location')!);
    expect(home.url.pathname).toBe('/account');
    expect(home.html).toContain('Signed in as <strong>walter</strong>');
    const walter = await runOperation(pair.downstream.operations, 'user.show', { user: 'walter' });

    const [form] = unlinkForms(home.html);
    expect(form).toMatchObject({ upstream: 'partner' });
    expect(home.html).toContain('Unlink — Partner SSO');
    const res = await down.postForm(form!.action, { csrf: form!.csrf, upstream: form!.upstream, subject: form!.subject });
    expect(res.status).toBe(303);
    expect(await pair.downstream.runtime.db('account_identities').where({ account_id: walter.id })).toEqual([]);
    expect(unlinkForms(await accountPage(pair, down))).toEqual([]);
    expect(await audit(pair, 'identity.linked', walter.id)).toEqual([{ client_id: null, details: { upstream: 'partner', provisioned: false } }]);
    expect(await audit(pair, 'identity.unlinked', walter.id)).toEqual([{ client_id: null, details: { upstream: 'partner' } }]);
  });

  it('records identity.linked, login.upstream and identity.unlinked for uma', async () => {
    expect(await audit(pair, 'identity.linked', umaId)).toEqual([{ client_id: null, details: { upstream: 'corp', provisioned: true } }]);
    const logins = await audit(pair, 'login.upstream', umaId);
    expect(logins.length).toBeGreaterThanOrEqual(4);
    expect(logins[0]).toEqual({ client_id: pair.app.client_id, details: { upstream: 'corp', created: true } });
    for (const later of logins.slice(1)) expect(later).toEqual({ client_id: pair.app.client_id, details: { upstream: 'corp', created: false } });
    expect(await audit(pair, 'identity.unlinked', umaId)).toEqual([{ client_id: null, details: { upstream: 'corp' } }]);
  });
});
