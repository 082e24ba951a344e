// What the published metadata promises, checked against RFC 9700 and RFC 8725: the code flow only, PKCE
// S256 only, no unsigned or symmetric JWTs, and the issuer in every authorization response (mix-up defence).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession } from '../helpers/browser-session.ts';
import { authorize, createClient, createUser, discover } from '../helpers/oauth.ts';

let server: TestServer;
let metadata: Record<string, unknown>;

beforeAll(async () => {
  server = await startTestServer();
  await createUser(server, 'alice');
  metadata = (await (await fetch(`${server.issuer}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
});
afterAll(() => server?.stop());

describe('published authorization server metadata (RFC 8414)', () => {
  it('offers the code flow only: no implicit or hybrid response types, no password grant (RFC 9700 §2.1.2, §2.4)', () => {
    expect(metadata.response_types_supported).toEqual(['code']);
    expect(metadata.grant_types_supported).not.toContain('password');
    expect(metadata.grant_types_supported).not.toContain('implicit');
  });

  it('offers PKCE with S256 only (RFC 9700 §2.1.1, §4.8)', () => {
    expect(metadata.code_challenge_methods_supported).toEqual(['S256']);
  });

  it('never offers alg none or a symmetric algorithm for anything it signs or accepts (RFC 8725 §3.1, §3.2)', () => {
    const lists = Object.entries(metadata).filter(([key]) => key.endsWith('_alg_values_supported') && !key.includes('encryption'));
    expect(lists.length).toBeGreaterThan(3);
    for (const [key, values] of lists) {
      for (const alg of values as string[]) {
        expect(alg, key).not.toBe('none');
        expect(alg, key).not.toMatch(/^HS/);
      }
    }
  });

  it('names the issuer in every authorization response (RFC 9207; RFC 9700 §4.4 mix-up)', async () => {
    expect(metadata.authorization_response_iss_parameter_supported).toBe(true);
    const client = await createClient(server);
    const config = await discover(server, client);
    const { callback } = await authorize(server, config, new BrowserSession(server.issuer), { scope: 'openid' });
    expect(callback.searchParams.get('iss')).toBe(server.issuer);
  });
});
