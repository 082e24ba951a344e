// The MCP example server (examples/mcp-server) in front of a test Tessera, and an OAuthClientProvider for the
// official MCP SDK's client that keeps everything in memory and hands the authorization URL to the test,
// which walks the real sign-in and consent pages with a BrowserSession (as a person in a browser would).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { expect } from 'vitest';
import { runOperation } from '../../src/services/operations.ts';
import { createTokenValidator, type TokenValidator } from '../../src/resource-server/index.ts';
import { createMcpApp, MCP_SCOPE } from '../../examples/mcp-server/app.ts';
import { BrowserSession, csrfField, formAction } from '../helpers/browser-session.ts';
import { freePort, type TestServer } from '../helpers/server.ts';
import { REDIRECT_URI } from '../helpers/oauth.ts';

export interface McpExample {
  /** The MCP endpoint, which is also the resource identifier. */
  resource: string;
  validator: TokenValidator;
  /** The MCP server's own client, for introspection (from `resource create`). */
  introspection: { clientId: string; clientSecret: string };
  close(): Promise<void>;
}

/** Registers the MCP server as an API of `tessera` (scope mcp:tools) and starts the example in front of it. */
export async function startMcpExample(tessera: TestServer): Promise<McpExample> {
  const port = await freePort();
  const resource = `http://127.0.0.1:${port}/mcp`;
  const created = await runOperation(tessera.operations, 'resource.create', { identifier: resource, name: 'Example MCP server', scopes: [{ name: MCP_SCOPE, description: 'Use the example tools' }] });
  const validator = createTokenValidator({ issuer: tessera.issuer, audience: resource, mode: 'local' });
  await validator.start();
  const server: Server = createServer(createMcpApp({ validator, issuer: tessera.issuer, resource }).callback());
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  expect((server.address() as AddressInfo).port).toBe(port);
  return {
    resource,
    validator,
    introspection: { clientId: created.introspection_client.client_id, clientSecret: created.introspection_client.client_secret! },
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await validator.stop();
    },
  };
}

/** An in-memory OAuthClientProvider: what a desktop MCP client keeps on disk, kept here in fields. */
export class MemoryOAuthProvider implements OAuthClientProvider {
  information: OAuthClientInformationMixed | undefined;
  stored: OAuthTokens | undefined;
  verifier = '';
  authorizationUrl: URL | undefined;
  readonly expectedState = crypto.randomUUID();
  readonly clientMetadataUrl: string | undefined;

  constructor(options: { clientMetadataUrl?: string } = {}) {
    this.clientMetadataUrl = options.clientMetadataUrl;
  }

  get redirectUrl() {
    return REDIRECT_URI;
  }

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'SDK test client',
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }

  state() {
    return this.expectedState;
  }
  clientInformation() {
    return this.information;
  }
  saveClientInformation(information: OAuthClientInformationMixed) {
    this.information = information;
  }
  tokens() {
    return this.stored;
  }
  saveTokens(tokens: OAuthTokens) {
    this.stored = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
}

/**
 * A person signs in as `username` and allows access on the real pages, starting from the authorization URL
 * the SDK handed out; returns the app's callback URL and the HTML of every page shown.
 */
export async function signInAndAllow(tessera: TestServer, url: URL, username = 'alice'): Promise<{ callback: URL; pages: string[] }> {
  const session = new BrowserSession(tessera.issuer);
  const pages: string[] = [];
  let step = await session.follow(url);
  for (let i = 0; i < 4 && step.url.origin === tessera.issuer; i++) {
    const html = await step.res.text();
    expect(step.res.status, html.slice(0, 400)).toBe(200);
    pages.push(html);
    const fields: Record<string, string> = html.includes('name="password"') ? { username, password: 'correct horse battery' } : { remember: '1' };
    const res = await session.postForm(formAction(html), { csrf: csrfField(html), ...fields });
    expect(res.status).toBe(303);
    step = await session.follow(res.headers.get('location')!);
  }
  expect(step.url.origin + step.url.pathname).toBe(REDIRECT_URI);
  return { callback: step.url, pages };
}
