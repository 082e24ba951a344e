// oidc-agent (Debian's oidc-agent-cli) as the device-flow client of a real Tessera: oidc-gen --flow=device
// asks for a device code through the agent, prints the user code, and polls while the person approves it on
// the real pages (test/helpers/device-flow.ts, HTTP-level). Then oidc-token gets an access token from the
// agent, which Tessera's introspection confirms is for the person who approved it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { createClient, createUser } from '../helpers/oauth.ts';
import { BrowserSession } from '../helpers/browser-session.ts';
import { approveDevice } from '../helpers/device-flow.ts';
import { DEVICE_CODE_GRANT } from '../../src/domain/client-metadata.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';
import { OIDC_GEN, OIDC_TOKEN, startOidcAgent, type OidcAgent } from './helpers/oidc-agent.ts';

let server: TestServer;
let cli: ClientMetadata;
let agent: OidcAgent;
let alice: { id: string };

beforeAll(async () => {
  server = await startTestServer({ env: { DEVICE_POLL_INTERVAL: '1' } });
  alice = (await createUser(server, 'alice')) as { id: string };
  cli = await createClient(server, { name: 'oidc-agent', redirectUris: [], grantTypes: [DEVICE_CODE_GRANT, 'refresh_token'], authMethod: 'client_secret_basic', scope: 'openid profile email offline_access' });
  agent = await startOidcAgent();
});
afterAll(async () => {
  await agent?.stop();
  await server?.stop();
});

describe('oidc-agent --flow=device', () => {
  it('works with a public client (no secret: oidc-agent sends Basic with an empty password)', async () => {
    const pub = await createClient(server, { name: 'oidc-agent public', redirectUris: [], grantTypes: [DEVICE_CODE_GRANT, 'refresh_token'], authMethod: 'none' });
    const gen = agent.run(
      OIDC_GEN,
      [`--issuer=${server.issuer}/`, `--client-id=${pub.client_id}`, '--client-secret=', '--flow=device', '--scope=openid profile offline_access', '--pw-env', '--confirm-default', '--no-url-call', '--prompt=none', 'public'],
      { OIDC_ENCRYPTION_PW: 'an encryption password for the test' },
    );
    const [, userCode] = await gen.waitFor(/\b([BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4})\b/);
    expect(await approveDevice(new BrowserSession(server.issuer), `${server.issuer}/device`, userCode!)).toContain('Device connected');
    expect(await gen.exited(60_000), gen.output()).toBe(0);
    const token = agent.run(OIDC_TOKEN, ['public']);
    expect(await token.exited(), token.output()).toBe(0);
    const userinfo = await fetch(`${server.issuer}/me`, { headers: { authorization: `Bearer ${token.output().trim()}` } });
    expect(await userinfo.json()).toMatchObject({ sub: alice.id });
  });

  it('gets tokens for the person who approved the code with a confidential client, and hands out access tokens afterwards', async () => {
    const gen = agent.run(
      OIDC_GEN,
      [
        `--issuer=${server.issuer}/`,
        `--client-id=${cli.client_id}`,
        `--client-secret=${cli.client_secret}`,
        '--flow=device',
        '--scope=openid profile offline_access',
        '--pw-env',
        '--confirm-default',
        '--no-url-call',
        '--prompt=none',
        'tessera',
      ],
      { OIDC_ENCRYPTION_PW: 'an encryption password for the test' },
    );
    const [, userCode] = await gen.waitFor(/\b([BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4})\b/);
    expect(gen.output()).toContain(`${server.issuer}/device`);
    const done = await approveDevice(new BrowserSession(server.issuer), `${server.issuer}/device`, userCode!);
    expect(done).toContain('Device connected');
    const code = await gen.exited(60_000);
    expect(code, gen.output()).toBe(0);

    const token = agent.run(OIDC_TOKEN, ['tessera']);
    expect(await token.exited(), token.output()).toBe(0);
    const accessToken = token.output().trim();
    expect(accessToken.length).toBeGreaterThan(20);
    // The token is the person's: userinfo answers with her subject.
    const userinfo = await fetch(`${server.issuer}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
    expect(userinfo.status).toBe(200);
    expect(await userinfo.json()).toMatchObject({ sub: alice.id });
  });
});
