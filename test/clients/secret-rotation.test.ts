// Client secrets: 256 random bits, shown once, sealed at rest; after a rotation the previous secret keeps
// working for the grace period and then stops, with at most two secrets working at a time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { basic, createClient, postForm } from '../helpers/oauth.ts';
import { runOperation } from '../../src/services/operations.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';
import { generateClientId } from '../../src/domain/client-secrets.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.stop();
});

const service = () => createClient(server, { name: 'Rotating service', redirectUris: [], grantTypes: ['client_credentials'] });
const withSecret = (client: ClientMetadata, secret: string) => ({ ...client, client_secret: secret });

async function tokenStatus(at: TestServer, client: ClientMetadata): Promise<number> {
  const res = await postForm(`${at.url}/token`, { grant_type: 'client_credentials' }, basic(client));
  await res.body?.cancel();
  return res.status;
}

describe('client ids', () => {
  it('never start with - or _ (a leading dash reads as an option on the command line)', () => {
    const ids = Array.from({ length: 5000 }, generateClientId);
    expect(ids.filter((id) => !/^[A-Za-z0-9][A-Za-z0-9_-]{21}$/.test(id))).toEqual([]);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('client secret rotation', () => {
  it('generates secrets of at least 256 bits and never stores them in clear', async () => {
    const client = await service();
    expect(Buffer.from(client.client_secret!, 'base64url').length).toBeGreaterThanOrEqual(32);
    const rotated = await runOperation(server.operations, 'client.rotate-secret', { clientId: client.client_id, graceSeconds: 600 });
    expect(Buffer.from(rotated.client_secret, 'base64url').length).toBeGreaterThanOrEqual(32);
    const row = JSON.stringify(await server.runtime.db('clients').where('id', client.client_id).first());
    expect(row).not.toContain(client.client_secret);
    expect(row).not.toContain(rotated.client_secret);
    // Neither appears in a list either.
    const { clients } = await runOperation(server.operations, 'client.list', undefined);
    expect(JSON.stringify(clients)).not.toContain(rotated.client_secret);
  });

  it('keeps the old secret working during the grace period, alongside the new one', async () => {
    const client = await service();
    expect(await tokenStatus(server, client)).toBe(200);
    const rotated = await runOperation(server.operations, 'client.rotate-secret', { clientId: client.client_id, graceSeconds: 600 });
    expect(rotated.previous_secret_expires_at).toBeGreaterThan(Date.now() / 1000 + 500);
    expect(await tokenStatus(server, withSecret(client, rotated.client_secret))).toBe(200);
    expect(await tokenStatus(server, client)).toBe(200);
    expect(await tokenStatus(server, withSecret(client, 'not-the-secret'))).toBe(401);
  });

  it('stops the old secret once the grace period is over', async () => {
    const client = await service();
    const rotated = await runOperation(server.operations, 'client.rotate-secret', { clientId: client.client_id, graceSeconds: 1 });
    expect(await tokenStatus(server, client)).toBe(200);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await tokenStatus(server, client)).toBe(401);
    expect(await tokenStatus(server, withSecret(client, rotated.client_secret))).toBe(200);
  });

  it('with no grace period, the old secret stops at once', async () => {
    const client = await service();
    const rotated = await runOperation(server.operations, 'client.rotate-secret', { clientId: client.client_id, graceSeconds: 0 });
    expect(rotated.previous_secret_expires_at).toBeNull();
    expect(await tokenStatus(server, client)).toBe(401);
    expect(await tokenStatus(server, withSecret(client, rotated.client_secret))).toBe(200);
  });

  it('a second rotation ends the first secret: at most two work at a time', async () => {
    const client = await service();
    const second = await runOperation(server.operations, 'client.rotate-secret', { clientId: client.client_id, graceSeconds: 600 });
    const third = await runOperation(server.operations, 'client.rotate-secret', { clientId: client.client_id, graceSeconds: 600 });
    expect(await tokenStatus(server, client)).toBe(401);
    expect(await tokenStatus(server, withSecret(client, second.client_secret))).toBe(200);
    expect(await tokenStatus(server, withSecret(client, third.client_secret))).toBe(200);
  });

  it('uses CLIENT_SECRET_GRACE when the rotation names no grace period', async () => {
    const client = await service();
    const rotated = await runOperation(server.operations, 'client.rotate-secret', { clientId: client.client_id });
    const expected = Date.now() / 1000 + server.config.clientSecretGraceSeconds;
    expect(Math.abs(rotated.previous_secret_expires_at! - expected)).toBeLessThan(60);
  });

  it('refuses to rotate what has no secret, or a client that does not exist', async () => {
    const spa = await createClient(server, { name: 'SPA', authMethod: 'none' });
    await expect(runOperation(server.operations, 'client.rotate-secret', { clientId: spa.client_id })).rejects.toMatchObject({ status: 422 });
    await expect(runOperation(server.operations, 'client.rotate-secret', { clientId: 'nope' })).rejects.toMatchObject({ status: 404 });
    await expect(runOperation(server.operations, 'client.rotate-secret', { clientId: spa.client_id, graceSeconds: -1 })).rejects.toMatchObject({ status: 422 });
  });

  it('a disabled client gets nothing with either secret', async () => {
    const client = await service();
    const rotated = await runOperation(server.operations, 'client.rotate-secret', { clientId: client.client_id, graceSeconds: 600 });
    await runOperation(server.operations, 'client.disable', { clientId: client.client_id });
    expect(await tokenStatus(server, client)).toBe(401);
    expect(await tokenStatus(server, withSecret(client, rotated.client_secret))).toBe(401);
  });
});

describe.skipIf(!process.env.DATABASE_URL)('client secret rotation across processes (PostgreSQL)', () => {
  it('the new secret works at another process at once, though it cached the client', async () => {
    const other = await server.sibling();
    try {
      const client = await service();
      expect(await tokenStatus(other, client)).toBe(200); // now cached there with the old secret
      const rotated = await runOperation(server.operations, 'client.rotate-secret', { clientId: client.client_id, graceSeconds: 600 });
      expect(await tokenStatus(other, withSecret(client, rotated.client_secret))).toBe(200);
      expect(await tokenStatus(other, client)).toBe(200);
    } finally {
      await other.stop({ keepDatabase: true });
    }
  });
});
