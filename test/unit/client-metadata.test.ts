// The one set of client metadata rules every write path shares (domain/client-metadata.ts): pure.
import { describe, expect, it } from 'vitest';
import { checkClientMetadata, checkRedirectUri } from '../../src/domain/client-metadata.ts';

describe('checkRedirectUri (RFC 9700 §2.1, RFC 8252 §7)', () => {
  it('accepts https, loopback http and reverse-DNS private-use schemes', () => {
    for (const uri of ['https://app.example.com/cb', 'http://127.0.0.1:8080/cb', 'http://[::1]/cb', 'http://localhost/cb', 'com.example.app:/cb']) {
      expect(checkRedirectUri(uri), uri).toBeUndefined();
    }
  });

  it('refuses relative URIs, fragments, dangerous schemes, plain http elsewhere and bare custom schemes', () => {
    for (const [uri, problem] of [
      ['/cb', /absolute/],
      ['https://app.example.com/cb#x', /fragment/],
      ['https://app.example.com/cb#', /fragment/],
      ['javascript:alert(1)', /forbidden scheme/],
      ['data:text/html,x', /forbidden scheme/],
      ['http://app.example.com/cb', /https/],
      ['http://127.0.0.1.nip.io/cb', /https/],
      ['myapp:/cb', /reverse-DNS/],
    ] as const) {
      expect(checkRedirectUri(uri), uri).toMatch(problem);
    }
  });
});

describe('checkClientMetadata', () => {
  it('accepts a plain confidential web client', () => {
    expect(checkClientMetadata({ client_name: 'App', redirect_uris: ['https://app.example.com/cb'], grant_types: ['authorization_code', 'refresh_token'] })).toBeUndefined();
  });

  it('names a bad redirect URI with invalid_redirect_uri (RFC 7591 §3.2.2), everything else invalid_client_metadata', () => {
    expect(checkClientMetadata({ redirect_uris: ['http://evil.example/cb'] })?.code).toBe('invalid_redirect_uri');
    expect(checkClientMetadata({ post_logout_redirect_uris: ['http://evil.example/'] })).toMatchObject({ code: 'invalid_client_metadata', description: /post-logout redirect URI/ });
  });

  it('refuses client_credentials for a client that does not authenticate', () => {
    expect(checkClientMetadata({ token_endpoint_auth_method: 'none', grant_types: ['client_credentials'], response_types: [] })).toMatchObject({
      code: 'invalid_client_metadata',
      description: /client_credentials needs a client that authenticates/,
    });
  });

  it('refuses grant and response types that disagree', () => {
    expect(checkClientMetadata({ grant_types: ['client_credentials'] })?.description).toMatch(/disagree/);
  });

  it('wants fetched documents on https and display URIs within bounds', () => {
    expect(checkClientMetadata({ jwks_uri: 'http://keys.example.com/jwks' })?.description).toMatch(/jwks_uri must be an https URI/);
    expect(checkClientMetadata({ logo_uri: `https://example.com/${'a'.repeat(3000)}` })?.description).toMatch(/logo_uri/);
    expect(checkClientMetadata({ redirect_uris: Array.from({ length: 21 }, (_, i) => `https://a.example/${i}`) })?.description).toMatch(/at most 20/);
  });

  it('bounds the name, the scope and the whole document', () => {
    expect(checkClientMetadata({ client_name: '' })?.description).toMatch(/client_name/);
    expect(checkClientMetadata({ scope: 'x'.repeat(1025) })?.description).toMatch(/scope/);
    expect(checkClientMetadata({ client_uri: 'https://a.example/', extra: 'x'.repeat(17 * 1024) })?.description).toMatch(/at most 16384 bytes/);
  });
});
