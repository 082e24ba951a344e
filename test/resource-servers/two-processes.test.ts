// Two server processes' worth of Tessera on one PostgreSQL database, as behind a load balancer: what one
// revokes, the other's introspection sees at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { basic, createClient, discover, postForm } from '../helpers/oauth.ts';
import { runOperation } from '../../src/services/operations.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';

const API = 'https://shared.example.test/api';
const onPostgres = Boolean(process.env.DATABASE_URL);

let a: TestServer;
let b: TestServer;
let rs: ClientMetadata;
let service: ClientMetadata;

beforeAll(async () => {
  if (!onPostgres) return;
  a = await startTestServer();
  b = await a.sibling();
  rs = (await runOperation(a.operations, 'resource.create', { identifier: API, scopes: [{ name: 'read' }] })).introspection_client as ClientMetadata;
  service = await createClient(a, { name: 'Shared service', redirectUris: [], grantTypes: ['client_credentials'], scope: 'read' });
});
afterAll(async () => {
  await b?.stop({ keepDatabase: true });
  await a?.stop();
});

async function introspectAt(server: TestServer, token: string) {
  const res = await postForm(`${server.url}/token/introspection`, { token }, basic(rs));
  return (await res.json()) as { active: boolean };
}

describe.skipIf(!onPostgres)('several server processes on one database (PostgreSQL)', () => {
  it('a JWT issued by one process and revoked at it is inactive at the other as soon as the notification lands', async () => {
    const config = await discover(a, service);
    const tokens = await oidc.clientCredentialsGrant(config, { resource: API, scope: 'read' });
    expect((await introspectAt(b, tokens.access_token)).active).toBe(true);
    await oidc.tokenRevocation(config, tokens.access_token);
    // b answers from memory, kept current by PostgreSQL's notification (revocation-watch.ts; milliseconds,
    // never more than half a second behind: then it asks the database).
    await expect.poll(async () => (await introspectAt(b, tokens.access_token)).active, { timeout: 5_000, interval: 5 }).toBe(false);
  });

  it('a client registered through one process gets tokens from the other', async () => {
    const late = await createClient(a, { name: 'Late', redirectUris: [], grantTypes: ['client_credentials'], scope: 'read' });
    const res = await postForm(`${b.url}/token`, { grant_type: 'client_credentials', resource: API, scope: 'read' }, basic(late));
    expect(res.status).toBe(200);
  });

  it('disabling a client at one process stops its tokens at the other as soon as the notice lands', async () => {
    const doomed = await createClient(a, { name: 'Doomed', redirectUris: [], grantTypes: ['client_credentials'], scope: 'read' });
    const res = await postForm(`${b.url}/token`, { grant_type: 'client_credentials', resource: API, scope: 'read' }, basic(doomed));
    const { access_token: token } = (await res.json()) as { access_token: string };
    await runOperation(a.operations, 'client.disable', { clientId: doomed.client_id });
    await expect.poll(async () => (await introspectAt(b, token)).active, { timeout: 5_000, interval: 5 }).toBe(false);
    // The other process drops its cached client when PostgreSQL's notice of the change lands.
    await expect
      .poll(async () => (await postForm(`${b.url}/token`, { grant_type: 'client_credentials', resource: API, scope: 'read' }, basic(doomed))).status, { timeout: 5_000, interval: 5 })
      .toBe(401);
  });
});
