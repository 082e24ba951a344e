// The device authorization grant (RFC 8628) end to end over HTTP: openid-client v6's device-flow functions
// on the device's side, the real pages (test/helpers/device-flow.ts) on the person's side. Runs on PGlite,
// and on PostgreSQL with DATABASE_URL set (the storage checks below are the same on both).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { basic, createClient, createUser, discover, postForm } from '../helpers/oauth.ts';
import { BrowserSession, formAction } from '../helpers/browser-session.ts';
import { approveDevice, pollInBackground, submitUserCode, xsrfField } from '../helpers/device-flow.ts';
import { bearerHash } from '../../src/store/bearer-hash.ts';
import { DEVICE_CODE_GRANT } from '../../src/domain/client-metadata.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';
import { runOperation } from '../../src/services/operations.ts';
import { createStorage, expectJson, runCliInProcess } from '../helpers/cli.ts';
import { adminSession } from '../admin/helpers.ts';

let server: TestServer;
let client: ClientMetadata;
let config: oidc.Configuration;

beforeAll(async () => {
  // A one-second polling interval keeps openid-client's waits short.
  server = await startTestServer({ env: { DEVICE_POLL_INTERVAL: '1', DEVICE_CODE_MAX_FAILURES_PER_IP: '1000' } });
  await createUser(server, 'alice');
  client = await createClient(server, { name: 'Terminal Tool', redirectUris: [], grantTypes: [DEVICE_CODE_GRANT, 'refresh_token'], authMethod: 'none' });
  config = await discover(server, client);
});

afterAll(async () => {
  await server?.stop();
});

/** Every device and user code handed out in this file: none may reach the server's log. */
const issuedCodes: string[] = [];
const start = async (scope = 'openid profile offline_access') => {
  const response = await oidc.initiateDeviceAuthorization(config, { scope });
  issuedCodes.push(response.device_code, response.user_code, response.user_code.replace('-', ''));
  return response;
};
const poll = (response: oidc.DeviceAuthorizationResponse) => oidc.pollDeviceAuthorizationGrant(config, response);

describe('device authorization grant', () => {
  it('advertises the device authorization endpoint and grant type in discovery', () => {
    const metadata = config.serverMetadata();
    expect(metadata.device_authorization_endpoint).toBe(`${server.issuer}/device/auth`);
    expect(metadata.grant_types_supported).toContain(DEVICE_CODE_GRANT);
  });

  it('gives a public client tokens once the person approves the code on another device (no PKCE involved)', async () => {
    const response = await start();
    expect(response.user_code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    expect(response.verification_uri).toBe(`${server.issuer}/device`);
    expect(response.interval).toBe(1);
    const polling = poll(response);
    const done = await approveDevice(new BrowserSession(server.issuer), response.verification_uri, response.user_code);
    expect(done).toContain('Device connected');
    expect(done).toContain('Terminal Tool');
    const tokens = await polling;
    expect(tokens.access_token).toBeTruthy();
    expect(tokens.refresh_token).toBeTruthy();
    expect(tokens.claims()?.sub).toBeTruthy();
    // The refresh token works like any other (rotated).
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.access_token).toBeTruthy();
    // The device code was spent: polling again is refused.
    await expect(poll({ ...response, interval: 1 })).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('accepts the code typed in lower case, with spaces instead of the dash (the engine normalises it)', async () => {
    const response = await start();
    const typed = ` ${response.user_code.toLowerCase().replace('-', ' ')} `;
    const polling = poll(response);
    expect(await approveDevice(new BrowserSession(server.issuer), response.verification_uri, typed)).toContain('Device connected');
    expect((await polling).access_token).toBeTruthy();
  });

  it('takes the person from verification_uri_complete straight to the confirmation', async () => {
    const response = await start();
    const session = new BrowserSession(server.issuer);
    const page = await session.follow(response.verification_uri_complete!);
    const html = await page.res.text();
    // The engine's auto-submitting form_post page; its one inline script is allowed by hash in the CSP.
    expect(html).toContain(`value="${response.user_code}"`);
    expect(page.res.headers.get('content-security-policy')).toMatch(/script-src[^;]*'sha256-/);
    const confirm = await session.postForm(formAction(html), { xsrf: xsrfField(html), user_code: response.user_code });
    expect(await confirm.text()).toContain('Connect this device?');
  });

  it('answers access_denied when the person cancels on the confirmation page', async () => {
    const response = await start();
    const polling = pollInBackground(config, response);
    const html = await approveDevice(new BrowserSession(server.issuer), response.verification_uri, response.user_code, { deny: 'confirm' });
    expect(html).toContain('The request was cancelled');
    await expect(polling).rejects.toMatchObject({ error: 'access_denied' });
  });

  it('answers access_denied when the person denies consent', async () => {
    const response = await start();
    const polling = pollInBackground(config, response);
    const html = await approveDevice(new BrowserSession(server.issuer), response.verification_uri, response.user_code, { deny: 'consent' });
    expect(html).toContain('The request was cancelled');
    await expect(polling).rejects.toMatchObject({ error: 'access_denied' });
  });

  it('refuses a code that is wrong, already used or expired with the same page (nothing to enumerate)', async () => {
    const session = new BrowserSession(server.issuer);
    const wrong = await submitUserCode(session, `${server.issuer}/device`, 'BCDF-GHJK');
    expect(wrong.res.status).toBe(200);
    expect(wrong.html).toContain('That code is not valid, has expired or was already used');

    const used = await start();
    await approveDevice(new BrowserSession(server.issuer), used.verification_uri, used.user_code, { deny: 'confirm' });
    const again = await submitUserCode(session, used.verification_uri, used.user_code);
    expect(again.html).toContain('That code is not valid, has expired or was already used');

    // Expiry: the engine reads `exp` from the stored payload; move it into the past (the engine's clock
    // cannot be injected).
    const expired = await start();
    await server.runtime.db('tokens')
      .where('user_code_hash', bearerHash(expired.user_code.replace('-', '')))
      .update({ payload: server.runtime.db.raw(`jsonb_set(payload, '{exp}', to_jsonb(extract(epoch from now())::bigint - 10))`) });
    const late = await submitUserCode(session, expired.verification_uri, expired.user_code);
    expect(late.html).toContain('That code is not valid, has expired or was already used');
    await expect(oidc.pollDeviceAuthorizationGrant(config, { ...expired, interval: 1 })).rejects.toMatchObject({ error: 'expired_token' });
  });

  it('answers slow_down to a device that polls again before its interval has passed', async () => {
    const slow = await startTestServer({ env: { DEVICE_POLL_INTERVAL: '60' } });
    try {
      const c = await createClient(slow, { name: 'Fast Poller', redirectUris: [], grantTypes: [DEVICE_CODE_GRANT], authMethod: 'none' });
      const response = await oidc.initiateDeviceAuthorization(await discover(slow, c), { scope: 'openid' });
      expect(response.interval).toBe(60);
      const pollOnce = () => postForm(`${slow.issuer}/token`, { grant_type: DEVICE_CODE_GRANT, device_code: response.device_code, client_id: c.client_id });
      const first = await pollOnce();
      expect(first.status).toBe(400);
      expect(await first.json()).toMatchObject({ error: 'authorization_pending' });
      const second = await pollOnce();
      expect(second.status).toBe(400);
      expect(await second.json()).toMatchObject({ error: 'slow_down' });
      // An unknown device code is refused as such (and leaves no polling counter behind).
      const unknown = await postForm(`${slow.issuer}/token`, { grant_type: DEVICE_CODE_GRANT, device_code: 'not-a-device-code', client_id: c.client_id });
      expect(await unknown.json()).toMatchObject({ error: 'invalid_grant' });
      expect(await slow.runtime.db('login_attempts').where('key', `device-poll:${bearerHash('not-a-device-code')}`).first()).toBeUndefined();
    } finally {
      await slow.stop();
    }
  });

  it('refuses the device grant to a client not registered for it', async () => {
    const web = await createClient(server, { name: 'Web App' });
    const res = await postForm(`${server.issuer}/device/auth`, { client_id: web.client_id, scope: 'openid' }, { authorization: `Basic ${Buffer.from(`${web.client_id}:${web.client_secret}`).toString('base64')}` });
    expect(res.status).toBe(400);
    const body = await res.json();
    // The engine's words (RFC 8628 §3.2 leaves the error to RFC 6749 §5.2).
    expect(body).toMatchObject({ error: 'invalid_request', error_description: `${DEVICE_CODE_GRANT} is not allowed for this client` });
    // Nor may it redeem a device code at the token endpoint, nor anyone send an empty or missing one.
    const response = await start();
    const viaWeb = await postForm(`${server.issuer}/token`, { grant_type: DEVICE_CODE_GRANT, device_code: response.device_code }, basic(web));
    expect(viaWeb.status).toBe(400);
    expect(await viaWeb.json()).toMatchObject({ error: 'invalid_request', error_description: 'requested grant type is not allowed for this client' });
    const hostile: Record<string, string>[] = [{}, { device_code: '' }, { device_code: 'x'.repeat(5000) }, { device_code: 'jwt:eyJhbGciOiJub25lIn0.e30.' }];
    for (const fields of hostile) {
      const res = await postForm(`${server.issuer}/token`, { grant_type: DEVICE_CODE_GRANT, client_id: client.client_id, ...fields });
      expect(res.status, JSON.stringify(fields)).toBe(400);
      expect(['invalid_request', 'invalid_grant']).toContain(((await res.json()) as { error: string }).error);
    }
  });

  it('stores the device code only as its hash, and no interaction keeps it in clear', async () => {
    const response = await start();
    const db = server.runtime.db;
    const row = await db('tokens').where('id_hash', bearerHash(response.device_code)).first();
    expect(row.model).toBe('DeviceCode');
    expect(row.user_code_hash).toBe(bearerHash(response.user_code.replace('-', '')));
    const session = new BrowserSession(server.issuer);
    const confirm = await submitUserCode(session, response.verification_uri, response.user_code);
    const res = await session.postForm(formAction(confirm.html), { xsrf: xsrfField(confirm.html), user_code: response.user_code, confirm: 'yes' });
    expect(res.status).toBe(303);
    const dump = JSON.stringify([await db('tokens').select('*'), await db('interactions').select('*')]);
    expect(dump).not.toContain(response.device_code);
    // Found by its user code and saved again under the same row (inFlight), not a second one.
    expect(await db('tokens').where('user_code_hash', bearerHash(response.user_code.replace('-', ''))).count({ n: '*' })).toEqual([{ n: expect.anything() }]);
    const rows = await db('tokens').where('user_code_hash', bearerHash(response.user_code.replace('-', '')));
    expect(rows).toHaveLength(1);
    expect(rows[0].payload.inFlight).toBe(true);
  });
});

describe('a user code drawn twice', () => {
  it('is answered 503 temporarily_unavailable (the device asks again for another code), never a 500', async () => {
    const response = await start();
    // The engine draws user codes at random; a second DeviceCode with a stored one's user code is what a
    // draw equal to a live code looks like when it is saved.
    const { DeviceCode } = server.provider as unknown as { DeviceCode: new (payload: Record<string, unknown>) => { save(): Promise<string> } };
    const duplicate = new DeviceCode({ clientId: client.client_id, userCode: response.user_code.replace('-', ''), params: { client_id: client.client_id, scope: 'openid' } });
    await expect(duplicate.save()).rejects.toMatchObject({ error: 'temporarily_unavailable', status: 503 });
    // The code handed out first is untouched.
    const rows = await server.runtime.db('tokens').where('user_code_hash', bearerHash(response.user_code.replace('-', '')));
    expect(rows).toHaveLength(1);
    expect(rows[0].id_hash).toBe(bearerHash(response.device_code));
  });
});

describe('the user-code page against hostile input', () => {
  it('keeps CSP, refuses framing and carries a CSRF token on its form', async () => {
    const res = await fetch(`${server.issuer}/device`, { headers: { accept: 'text/html' } });
    const html = await res.text();
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'self'|default-src 'none'/);
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(html).not.toMatch(/<script|onfocus=|onclick=/i);
    expect(xsrfField(html)).toMatch(/^[0-9a-f]{48}$/);
  });

  it('refuses a post without the page\'s CSRF token, before looking the code up', async () => {
    const response = await start();
    const session = new BrowserSession(server.issuer);
    const html = await (await session.follow(`${server.issuer}/device`)).res.text();
    for (const xsrf of [undefined, 'forged', xsrfField(html).replace(/./, 'x')]) {
      const res = await session.postForm(`${server.issuer}/device`, { ...(xsrf === undefined ? {} : { xsrf }), user_code: response.user_code, confirm: 'yes' });
      expect(res.status).toBe(400);
      expect(await res.text()).toContain('The request could not be completed');
    }
    // From another browser (no session cookie) the real token is no use either.
    const other = await postForm(`${server.issuer}/device`, { xsrf: xsrfField(html), user_code: response.user_code, confirm: 'yes' }, { accept: 'text/html' });
    expect(other.status).toBe(400);
    const otherHtml = await other.text();
    expect(otherHtml).toContain('href="/device"');
    expect(otherHtml).not.toContain('<form');
    // The code is untouched: the person can still use it.
    const row = await server.runtime.db('tokens').where('id_hash', bearerHash(response.device_code)).first();
    expect(row.payload.inFlight).toBeUndefined();
  });

  it('answers odd and hostile codes with the page, never a 500', async () => {
    const session = new BrowserSession(server.issuer);
    const inputs = ['', ' ', '-', 'x'.repeat(5000), '<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', 'ΒϹDF-GHJK', '\u202Ebcdf', "' OR 1=1 --", '%00', '😀😀😀😀-😀😀😀😀'];
    for (const input of inputs) {
      const { res, html } = await submitUserCode(session, `${server.issuer}/device`, input);
      expect(res.status, input).toBe(200);
      expect(html, input).toContain('That code is not valid');
      expect(html).not.toContain('<script>alert');
      expect(html).not.toContain('<img src=x');
    }
    // NUL and broken UTF-8 are refused at the edge (http/middleware/hostile-input.ts).
    const page = await (await session.follow(`${server.issuer}/device`)).res.text();
    const nul = await session.request(`${server.issuer}/device`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `xsrf=${xsrfField(page)}&user_code=BCDF%00GHJK`,
    });
    expect(nul.status).toBe(400);
    // The same field twice: refused by the engine, shown as the page.
    const twice = await session.request(`${server.issuer}/device`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `xsrf=${xsrfField(page)}&user_code=BCDF-GHJK&user_code=BCDF-GHJL`,
    });
    expect(twice.status).toBe(400);
    expect(await twice.text()).toContain('Connect a device');
  });

  it('answers made-up resume links and hostile verification_uri_complete values with a page, never a 500', async () => {
    for (const session of [new BrowserSession(server.issuer), await (async () => {
      const s = new BrowserSession(server.issuer);
      await (await s.follow(`${server.issuer}/device`)).res.text();
      return s;
    })()]) {
      for (const path of ['/device/not-an-interaction', `/device/${'x'.repeat(300)}`, '/device/%E2%80%AE']) {
        const res = await session.request(`${server.issuer}${path}`);
        expect(res.status, path).toBeLessThan(500);
        expect(await res.text()).toContain('Connect a device');
      }
      const hostile = await session.request(`${server.issuer}/device?user_code=${encodeURIComponent('"><script>alert(1)</script>')}`);
      const html = await hostile.text();
      expect(hostile.status).toBe(200);
      expect(html).not.toContain('<script>alert(1)');
    }
  });
});

describe('throttling of user codes', () => {
  it('locks an IP address out after too many wrong codes, even for a right one, and counts right codes for nothing', async () => {
    const strict = await startTestServer({ env: { DEVICE_CODE_MAX_FAILURES_PER_IP: '3' } });
    try {
      await createUser(strict, 'alice');
      const c = await createClient(strict, { name: 'CLI', redirectUris: [], grantTypes: [DEVICE_CODE_GRANT], authMethod: 'none' });
      const cfg = await discover(strict, c);
      const session = new BrowserSession(strict.issuer);
      // Found codes give their point back: many of them do not lock anyone out.
      for (let i = 0; i < 4; i++) {
        const ok = await oidc.initiateDeviceAuthorization(cfg, { scope: 'openid' });
        expect((await submitUserCode(session, ok.verification_uri, ok.user_code)).html).toContain('Connect this device?');
      }
      for (const wrong of ['BCDF-GHJK', 'BCDF-GHJL']) {
        expect((await submitUserCode(session, `${strict.issuer}/device`, wrong)).res.status).toBe(200);
      }
      // The third wrong one takes the last point and starts the lock-out.
      expect((await submitUserCode(session, `${strict.issuer}/device`, 'BCDF-GHJM')).html).toContain('That code is not valid');
      const right = await oidc.initiateDeviceAuthorization(cfg, { scope: 'openid' });
      const refused = await submitUserCode(session, right.verification_uri, right.user_code);
      expect(refused.res.status).toBe(429);
      expect(Number(refused.res.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(refused.html).toContain('Too many attempts');
      expect(refused.html).not.toContain('Connect this device?');
      // Counted for the caller's address (the engine's view of it, TRUST_PROXY off), never one shared key.
      const keys = (await strict.runtime.db('login_attempts').select('key')).map((r: { key: string }) => r.key);
      expect(keys).toContain('device-ip:127.0.0.1');
      expect(keys).not.toContain('device-ip:unknown');
    } finally {
      await strict.stop();
    }
  });

  it('lets one code be looked up only a few times, whoever asks', async () => {
    const response = await start();
    let last: { res: Response; html: string } | undefined;
    for (let i = 0; i < 11; i++) last = await submitUserCode(new BrowserSession(server.issuer), response.verification_uri, response.user_code);
    expect(last!.res.status).toBe(429);
    expect(last!.html).toContain('Too many attempts');
  });
});

describe('registering device-flow clients', () => {
  it('tessera client create --grant-type urn:ietf:params:oauth:grant-type:device_code makes a public client that can start the flow', async () => {
    const storage = await createStorage();
    try {
      const result = await runCliInProcess(
        storage,
        ['client', 'create', '--name', 'Shell Tool', '--grant-type', DEVICE_CODE_GRANT, '--grant-type', 'refresh_token', '--auth-method', 'none', '--json'],
        { runtime: server.runtime },
      );
      const created = expectJson<ClientMetadata>(result);
      expect(created).toMatchObject({ grant_types: [DEVICE_CODE_GRANT, 'refresh_token'], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'none' });
      expect(created.scope).toBe('openid profile email offline_access');
      expect(created.client_secret).toBeUndefined();
      server.operations.changed?.('client', created.client_id);
      const response = await oidc.initiateDeviceAuthorization(await discover(server, created), { scope: 'openid' });
      expect(response.user_code).toBeTruthy();
    } finally {
      await storage.drop();
    }
  });

  it('dynamic registration accepts the device grant where the initial access token allows it, and only there', async () => {
    const register = async (grantTypes: string[], body: Record<string, unknown>) => {
      const token = (await runOperation(server.operations, 'iat.create', { grantTypes })).initial_access_token;
      return fetch(`${server.issuer}/reg`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
    };
    const device = { client_name: 'Registered TV', grant_types: [DEVICE_CODE_GRANT, 'refresh_token'], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'none', scope: 'openid offline_access' };
    const ok = await register([DEVICE_CODE_GRANT, 'refresh_token'], device);
    const registered = (await ok.json()) as ClientMetadata;
    expect(ok.status, JSON.stringify(registered)).toBe(201);
    expect(registered.grant_types).toEqual([DEVICE_CODE_GRANT, 'refresh_token']);
    const response = await oidc.initiateDeviceAuthorization(await discover(server, registered), { scope: 'openid' });
    expect(response.device_code).toBeTruthy();

    const refused = await register(['authorization_code', 'refresh_token'], device);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: 'invalid_client_metadata', error_description: expect.stringContaining(DEVICE_CODE_GRANT) });
  });
});

describe('Basic credentials with an empty secret (as oidc-agent sends for a public client)', () => {
  const emptyBasic = (id: string) => ({ authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:`).toString('base64')}` });

  it('are read as a public client identifying itself, at the device authorization and token endpoints', async () => {
    const started = await postForm(`${server.issuer}/device/auth`, { client_id: client.client_id, scope: 'openid' }, emptyBasic(client.client_id));
    expect(started.status).toBe(200);
    const { device_code } = (await started.json()) as { device_code: string };
    const polled = await postForm(`${server.issuer}/token`, { grant_type: DEVICE_CODE_GRANT, device_code }, emptyBasic(client.client_id));
    expect(await polled.json()).toMatchObject({ error: 'authorization_pending' });
  });

  it('give a confidential client nothing: without its secret it is refused', async () => {
    const confidential = await createClient(server, { name: 'Confidential CLI', redirectUris: [], grantTypes: [DEVICE_CODE_GRANT] });
    const bodies: Record<string, string>[] = [{ scope: 'openid' }, { client_id: confidential.client_id, scope: 'openid' }];
    for (const body of bodies) {
      const res = await postForm(`${server.issuer}/device/auth`, body, emptyBasic(confidential.client_id));
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: 'invalid_client' });
    }
    // A body naming another client than the header is left to the engine, which refuses it.
    const mixed = await postForm(`${server.issuer}/device/auth`, { client_id: client.client_id, scope: 'openid' }, emptyBasic(confidential.client_id));
    expect(mixed.status).toBe(400);
    expect(await mixed.json()).toMatchObject({ error: 'invalid_request' });
  });
});

describe('the admin API', () => {
  it('creates a device-flow client (grant_types with the device code grant)', async () => {
    const { api } = await adminSession(server);
    const res = await api.post('/clients', { client_name: 'Admin-made TV', grant_types: [DEVICE_CODE_GRANT, 'refresh_token'], token_endpoint_auth_method: 'none' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.grant_types).toEqual([DEVICE_CODE_GRANT, 'refresh_token']);
    const created = res.body as ClientMetadata;
    const response = await oidc.initiateDeviceAuthorization(await discover(server, created), { scope: 'openid' });
    expect(response.user_code).toBeTruthy();
  });
});

describe('the server log', () => {
  it('holds none of the device or user codes handed out in this file', () => {
    expect(issuedCodes.length).toBeGreaterThan(10);
    const log = server.logs.join('');
    for (const code of issuedCodes) expect(log).not.toContain(code);
  });
});
