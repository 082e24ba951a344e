// Configuration parsing (src/config.ts): pure, from an environment object.
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, parseConfig } from '../../src/config.ts';

const problems = (env: Record<string, string>) => {
  const result = parseConfig(env);
  return result.ok ? [] : result.problems;
};

describe('parseConfig', () => {
  it('runs with nothing set: embedded database, issuer on the port, safe defaults', () => {
    const result = parseConfig({});
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.config).toMatchObject({
      issuer: 'http://localhost:3000',
      databaseUrl: undefined,
      registrationPolicy: 'initial-access-token',
      registrationOpenScopes: [],
      backchannelLogoutAllowPrivate: false,
      registrationFetchAllowPrivate: false,
      ttl: { accessToken: 600 },
    });
    expect(Object.isFrozen(result.config)).toBe(true);
  });

  it('treats an empty variable as unset and drops a trailing slash from the issuer', () => {
    const result = parseConfig({ ISSUER: 'https://login.example.com/', DATABASE_URL: '' });
    expect(result.ok && result.config.issuer).toBe('https://login.example.com');
    expect(result.ok && result.config.databaseUrl).toBeUndefined();
  });

  it('says what is wrong, one line per variable', () => {
    expect(problems({ PORT: 'eighty', ISSUER: 'ftp://x' })).toEqual([expect.stringMatching(/^PORT: /), expect.stringMatching(/^ISSUER: /)]);
    expect(problems({ DATABASE_URL: 'postgres://db/x' })).toEqual([expect.stringMatching(/^TESSERA_SECRET: required when DATABASE_URL is set/)]);
    expect(problems({ TESSERA_SECRET: 'short' })).toEqual([expect.stringMatching(/^TESSERA_SECRET: must be at least 32 characters/)]);
  });

  it('keeps key rotation consistent: pre-publication covers caches and polls, rotation outlasts it', () => {
    expect(problems({ KEY_PREPUBLISH: '60', JWKS_MAX_AGE: '900' })).toEqual([expect.stringMatching(/^KEY_PREPUBLISH: must be at least/)]);
    expect(problems({ KEY_ROTATION_INTERVAL: '86400', KEY_PREPUBLISH: '86400' })).toEqual([expect.stringMatching(/^KEY_ROTATION_INTERVAL/)]);
  });

  it('never lets open registration hand out privileged scopes', () => {
    expect(problems({ REGISTRATION_OPEN_SCOPES: 'invoices:read admin:users:read' })).toEqual([expect.stringMatching(/^REGISTRATION_OPEN_SCOPES: must not name admin/)]);
  });

  it('takes the old OUTBOUND_ALLOW_PRIVATE as back-channel logout only, and refuses it contradicting the new name', () => {
    const old = parseConfig({ OUTBOUND_ALLOW_PRIVATE: 'true' });
    expect(old.ok && [old.config.backchannelLogoutAllowPrivate, old.config.registrationFetchAllowPrivate]).toEqual([true, false]);
    expect(problems({ OUTBOUND_ALLOW_PRIVATE: 'true', BACKCHANNEL_LOGOUT_ALLOW_PRIVATE: 'false' })).toHaveLength(1);
  });

  it('caps the idle session lifetime at the absolute one', () => {
    const result = parseConfig({ SESSION_TTL: '3600', SESSION_IDLE_TTL: '86400' });
    expect(result.ok && result.config.ttl.sessionIdle).toBe(3600);
  });

  it('bounds the upstream request timeout: 5 s unless set, whole seconds from 1 to 60', () => {
    const result = parseConfig({});
    expect(result.ok && result.config.upstreamTimeoutSeconds).toBe(5);
    const set = parseConfig({ UPSTREAM_TIMEOUT: '1' });
    expect(set.ok && set.config.upstreamTimeoutSeconds).toBe(1);
    for (const value of ['0', '61', '0.5', 'soon']) expect(problems({ UPSTREAM_TIMEOUT: value })).toEqual([expect.stringMatching(/^UPSTREAM_TIMEOUT: /)]);
  });

  it('lists every variable it reads', () => {
    expect(CONFIG_VARIABLES).toEqual(expect.arrayContaining(['PORT', 'DATABASE_URL', 'TESSERA_SECRET', 'REGISTRATION_FETCH_ALLOW_PRIVATE', 'FEED_MAX_STREAMS_PER_CLIENT']));
    expect(new Set(CONFIG_VARIABLES).size).toBe(CONFIG_VARIABLES.length);
  });
});
