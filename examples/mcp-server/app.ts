// The example MCP server as a Koa app: the MCP Streamable HTTP transport of the official TypeScript SDK at
// /mcp, behind the resource-server module. Every request to /mcp needs an access token for this server
// (`aud` = its resource identifier) with the scope `mcp:tools`; a 401 names the RFC 9728 metadata
// (served here too), so an MCP client finds Tessera from this server's URL alone.
import Koa from 'koa';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { z } from 'zod';
import {
  grantedScopes,
  protectedResourceMetadataUrl,
  requireAccess,
  serveProtectedResourceMetadata,
  type AccessTokenClaims,
  type TokenValidator,
} from '../../src/resource-server/index.ts';

export const MCP_SCOPE = 'mcp:tools';

export interface McpAppOptions {
  validator: TokenValidator;
  /** Tessera's issuer URL. */
  issuer: string;
  /** This server's MCP endpoint URL, which is also its resource identifier (e.g. https://mcp.example.com/mcp). */
  resource: string;
}

/** The MCP server: its tools see who is calling through the token's claims (extra.authInfo). */
function createMcpServer(): McpServer {
  const server = new McpServer({ name: 'tessera-example', version: '1.0.0' });
  server.registerTool(
    'whoami',
    { description: 'Who is calling: the person and the app the access token was issued to' },
    async (extra) => {
      const claims = extra.authInfo?.extra?.claims as AccessTokenClaims | undefined;
      const caller = { sub: claims?.sub, client_id: claims?.client_id, scope: claims?.scope };
      return { content: [{ type: 'text', text: JSON.stringify(caller) }] };
    },
  );
  server.registerTool(
    'add',
    { description: 'Adds two numbers', inputSchema: { a: z.number(), b: z.number() } },
    async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }] }),
  );
  return server;
}

export function createMcpApp(options: McpAppOptions): Koa {
  const app = new Koa();
  const endpoint = new URL(options.resource).pathname;
  app.use(serveProtectedResourceMetadata({ resource: options.resource, authorizationServers: [options.issuer], scopesSupported: [MCP_SCOPE], resourceName: 'Tessera example MCP server' }));

  const guard = requireAccess(options.validator, { scopes: [MCP_SCOPE], resourceMetadata: protectedResourceMetadataUrl(options.resource) });
  app.use(async (ctx, next) => {
    if (ctx.path !== endpoint) return next();
    await guard(ctx, async () => {
      // Stateless Streamable HTTP: no server-initiated stream (GET) and no session to end (DELETE).
      if (ctx.method !== 'POST') {
        ctx.status = 405;
        ctx.set('Allow', 'POST');
        ctx.body = { jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed' }, id: null };
        return;
      }
      const claims = ctx.state.auth as AccessTokenClaims;
      const authorization = ctx.get('authorization');
      const auth: AuthInfo = {
        token: authorization.slice(authorization.indexOf(' ') + 1),
        clientId: claims.client_id,
        scopes: [...grantedScopes(claims)],
        expiresAt: claims.exp,
        resource: new URL(options.resource),
        extra: { claims },
      };
      // One server and transport per request (the SDK's stateless pattern); the transport writes the response.
      const server = createMcpServer();
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      ctx.respond = false;
      ctx.res.on('close', () => {
        void transport.close();
        void server.close();
      });
      await server.connect(transport);
      await transport.handleRequest(Object.assign(ctx.req, { auth }), ctx.res);
    });
  });
  return app;
}
