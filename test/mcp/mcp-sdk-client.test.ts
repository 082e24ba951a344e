// The official MCP TypeScript SDK's own OAuth client against Tessera and the example MCP server
// (examples/mcp-server), unassisted: from the MCP server's URL alone it is told where the protected-resource
// metadata is (401 WWW-Authenticate, RFC 9728), finds Tessera there and Tessera's metadata (RFC 8414),
// registers — by dynamic registration (RFC 7591) or by a client ID metadata document — and completes
// authorization_code + PKCE with RFC 8707 `resource` through the real sign-in and consent pages, calls a
// tool, and refreshes. The client ID metadata document is served over https on 127.0.0.1 by the test
// (test/helpers/https-server.ts, a certificate this process trusts); Tessera may fetch it because this test
// server runs with REGISTRATION_FETCH_ALLOW_PRIVATE=true (production default: false, which refuses a
// document on a private address — test/security/client-id-metadata-documents.test.ts) and the allow-list
// names 127.0.0.1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { auth, UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { startHttpsServer, type HttpsServer } from '../helpers/https-server.ts';
import * as oidc from 'openid-client';
import { createClient, createUser, discover, REDIRECT_URI } from '../helpers/oauth.ts';
import { serviceClient, serviceToken, registerApi } from '../resource-server-module/helpers.ts';
import { MemoryOAuthProvider, signInAndAllow, startMcpExample, type McpExample } from './helpers.ts';

let tessera: TestServer;
let mcp: McpExample;
let documents: HttpsServer;

const DOCUMENT_PATH = '/mcp/client-metadata.json';
const documentUrl = () => `${documents.url}${DOCUMENT_PATH}`;

beforeAll(async () => {
  documents = await startHttpsServer((req, res) => {
    if (req.url !== DOCUMENT_PATH) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
    res.end(
      JSON.stringify({
        client_id: documentUrl(),
        client_name: 'Agent from a metadata document',
        redirect_uris: [REDIRECT_URI],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
      }),
    );
  });
  tessera = await startTestServer({
    env: {
      REGISTRATION_POLICY: 'open',
      REGISTRATION_OPEN_SCOPES: 'mcp:tools',
      CLIENT_ID_METADATA_DOCUMENTS: 'true',
      CLIENT_ID_METADATA_DOCUMENT_SCOPES: 'mcp:tools',
      CLIENT_ID_METADATA_DOCUMENT_ALLOWED_HOSTS: '127.0.0.1',
      REGISTRATION_FETCH_ALLOW_PRIVATE: 'true',
    },
  });
  await createUser(tessera, 'alice');
  mcp = await startMcpExample(tessera);
});
afterAll(async () => {
  await mcp?.close();
  await tessera?.stop();
  await documents?.close();
});

async function connect(provider: MemoryOAuthProvider) {
  const client = new Client({ name: 'tessera-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(mcp.resource), { authProvider: provider }));
  return client;
}

/** The SDK's whole journey: refused, redirected to sign in, code handed back, tools called. */
async function authorizeThroughTessera(provider: MemoryOAuthProvider) {
  const transport = new StreamableHTTPClientTransport(new URL(mcp.resource), { authProvider: provider });
  await expect(new Client({ name: 'tessera-test', version: '1.0.0' }).connect(transport)).rejects.toBeInstanceOf(UnauthorizedError);
  const url = provider.authorizationUrl!;
  expect(url.origin).toBe(tessera.issuer);
  expect(url.searchParams.get('resource')).toBe(mcp.resource);
  expect(url.searchParams.get('code_challenge_method')).toBe('S256');
  expect(url.searchParams.get('scope')).toBe('mcp:tools');
  const { callback, pages } = await signInAndAllow(tessera, url);
  expect(callback.searchParams.get('state')).toBe(provider.expectedState);
  expect(callback.searchParams.get('iss')).toBe(tessera.issuer);
  await transport.finishAuth(callback.searchParams.get('code')!);
  return pages;
}

async function callTools(provider: MemoryOAuthProvider) {
  const client = await connect(provider);
  const tools = await client.listTools();
  expect(tools.tools.map((t) => t.name).sort()).toEqual(['add', 'whoami']);
  const sum = await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } });
  expect(sum.content).toEqual([{ type: 'text', text: '5' }]);
  const whoami = await client.callTool({ name: 'whoami', arguments: {} });
  await client.close();
  return JSON.parse((whoami.content as Array<{ text: string }>)[0]!.text) as { sub: string; client_id: string; scope: string };
}

async function refreshes(provider: MemoryOAuthProvider) {
  const before = provider.stored!;
  expect(before.refresh_token).toBeTruthy();
  expect(await auth(provider, { serverUrl: mcp.resource })).toBe('AUTHORIZED');
  expect(provider.stored!.access_token).not.toBe(before.access_token);
  expect(provider.stored!.refresh_token).not.toBe(before.refresh_token); // rotated (RFC 9700 §4.14.2)
  return callTools(provider);
}

describe('MCP server discovery', () => {
  it('answers an unauthenticated call with 401 naming the protected-resource metadata and the scope', async () => {
    const res = await fetch(mcp.resource, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
    expect(res.status).toBe(401);
    const challenge = res.headers.get('www-authenticate')!;
    const metadataUrl = `${new URL(mcp.resource).origin}/.well-known/oauth-protected-resource/mcp`;
    expect(challenge).toMatch(/^Bearer /);
    expect(challenge).toContain(`resource_metadata="${metadataUrl}"`);
    expect(challenge).toContain('scope="mcp:tools"');
    const metadata = await (await fetch(metadataUrl)).json();
    expect(metadata).toMatchObject({ resource: mcp.resource, authorization_servers: [tessera.issuer], scopes_supported: ['mcp:tools'], bearer_methods_supported: ['header'] });
    const tesseraMetadata = await (await fetch(`${tessera.issuer}/.well-known/oauth-authorization-server`)).json();
    expect(tesseraMetadata.client_id_metadata_document_supported).toBe(true);
  });
});

describe('the MCP SDK client through Tessera', () => {
  it('registers dynamically, signs in with PKCE and resource, calls a tool and refreshes', async () => {
    const provider = new MemoryOAuthProvider();
    const pages = await authorizeThroughTessera(provider);
    const clientId = provider.information!.client_id;
    expect(clientId).not.toMatch(/^https:/);
    expect(pages.join('')).not.toContain('Unverified app');
    const caller = await callTools(provider);
    expect(caller).toMatchObject({ client_id: clientId, scope: 'mcp:tools' });
    expect(caller.sub).toBeTruthy();
    expect(await refreshes(provider)).toMatchObject({ client_id: clientId, sub: caller.sub });
  });

  it('answers hostile requests with a valid token with 4xx, never 5xx', async () => {
    const provider = new MemoryOAuthProvider();
    await authorizeThroughTessera(provider);
    const headers = { authorization: `Bearer ${provider.stored!.access_token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    for (const [method, body] of [['POST', 'not json'], ['POST', '{"jsonrpc":"2.0","id":1,"method":'], ['GET', undefined], ['DELETE', undefined], ['PUT', '{}']] as const) {
      const res = await fetch(mcp.resource, { method, headers, ...(body === undefined ? {} : { body }) });
      await res.arrayBuffer();
      expect(res.status, `${method} ${body}`).toBeGreaterThanOrEqual(400);
      expect(res.status, `${method} ${body}`).toBeLessThan(500);
    }
  });

  it('uses a client ID metadata document, shown as an unverified app from its host, calls a tool and refreshes', async () => {
    const provider = new MemoryOAuthProvider({ clientMetadataUrl: documentUrl() });
    const pages = await authorizeThroughTessera(provider);
    expect(provider.information!.client_id).toBe(documentUrl());
    expect(documents.requests).toContain(`GET ${DOCUMENT_PATH}`);
    const consent = pages.find((p) => p.includes('Allow access?'))!;
    expect(consent).toContain(`Unverified app from ${new URL(documents.url).host}`);
    const caller = await callTools(provider);
    expect(caller).toMatchObject({ client_id: documentUrl(), scope: 'mcp:tools' });
    expect(await refreshes(provider)).toMatchObject({ client_id: documentUrl() });
    // Such a client has no row in the clients table; its token is active at introspection all the same.
    const introspected = await (
      await fetch(`${tessera.issuer}/token/introspection`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${mcp.introspection.clientId}:${mcp.introspection.clientSecret}`).toString('base64')}` },
        body: new URLSearchParams({ token: provider.stored!.access_token }),
      })
    ).json();
    expect(introspected).toMatchObject({ active: true, client_id: documentUrl(), aud: mcp.resource, scope: 'mcp:tools' });
  });

  it('answers a token for this server without its scope with 403 insufficient_scope, naming the scope and the metadata', async () => {
    // A service whose default resource is the MCP server gets a token for it with none of its scopes.
    const client = await createClient(tessera, { name: 'No-scope service', grantTypes: ['client_credentials'], redirectUris: [], defaultResource: mcp.resource });
    const token = (await oidc.clientCredentialsGrant(await discover(tessera, client), {})).access_token;
    const res = await fetch(mcp.resource, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status).toBe(403);
    const challenge = res.headers.get('www-authenticate')!;
    expect(challenge).toMatch(/^Bearer resource_metadata="[^"]+\/\.well-known\/oauth-protected-resource\/mcp", /);
    expect(challenge).toContain('error="insufficient_scope"');
    expect(challenge).toContain('scope="mcp:tools"');
  });

  it('refuses a token issued for another resource', async () => {
    const other = await registerApi(tessera, 'https://other.example.test/api');
    const { config } = await serviceClient(tessera, 'Other API caller');
    const token = await serviceToken(config, other.identifier);
    const res = await fetch(mcp.resource, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect(res.headers.get('www-authenticate')).toContain('resource_metadata=');
    expect(await res.json()).toMatchObject({ error: 'invalid_token', error_description: 'The access token is not meant for this API' });
  });
});
