// Discovery (OpenID Connect Discovery 1.0 §3, RFC 8414 §2): scopes_supported lists the OpenID scopes and the
// scopes of every registered API, so strict clients may ask for them; the list follows API changes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { runOperation } from '../../src/services/operations.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.stop());

const scopesSupported = async (path = '/.well-known/openid-configuration') =>
  ((await (await fetch(`${server.issuer}${path}`)).json()) as { scopes_supported: string[] }).scopes_supported;

describe('scopes_supported', () => {
  it('lists the OpenID scopes and, once registered, an API\'s scopes, at both discovery addresses', async () => {
    expect(await scopesSupported()).toEqual(expect.arrayContaining(['openid', 'offline_access', 'profile', 'email']));
    await runOperation(server.operations, 'resource.create', { identifier: 'https://invoices.example.test/', scopes: [{ name: 'invoices:read' }, { name: 'invoices:write' }] });
    for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
      expect(await scopesSupported(path)).toEqual(expect.arrayContaining(['openid', 'invoices:read', 'invoices:write']));
    }
  });

  it('follows an API\'s scopes as they change, and forgets a removed API\'s', async () => {
    await runOperation(server.operations, 'resource.create', { identifier: 'https://payroll.example.test/', scopes: [{ name: 'payroll:read' }] });
    await runOperation(server.operations, 'resource.update', { identifier: 'https://payroll.example.test/', scopes: [{ name: 'payroll:read' }, { name: 'payroll:approve' }] });
    expect(await scopesSupported()).toEqual(expect.arrayContaining(['payroll:read', 'payroll:approve']));
    await runOperation(server.operations, 'resource.delete', { identifier: 'https://payroll.example.test/' });
    const after = await scopesSupported();
    expect(after).not.toContain('payroll:read');
    expect(new Set(after).size).toBe(after.length);
  });
});
