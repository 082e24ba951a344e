// The example MCP server. Run: node examples/mcp-server/server.ts (see README.md here).
//   TESSERA_ISSUER     issuer URL, e.g. http://localhost:3000
//   MCP_RESOURCE       this server's MCP endpoint URL = its resource identifier (default http://127.0.0.1:4100/mcp)
//   VALIDATION_MODE    local | local+feed | introspection (default local)
//   API_CLIENT_ID, API_CLIENT_SECRET   the introspection client printed by `tessera resource create`
//                      (not needed for local)
//   PORT, HOST         default 4100, 127.0.0.1
import { createTokenValidator, type ValidationMode } from '../../src/resource-server/index.ts';
import { createMcpApp } from './app.ts';

function env(name: string, fallback?: string): string {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === '') {
    console.error(`${name} is required (see examples/mcp-server/README.md)`);
    process.exit(2);
  }
  return value;
}

const issuer = env('TESSERA_ISSUER');
const port = Number(env('PORT', '4100'));
const host = env('HOST', '127.0.0.1');
const resource = env('MCP_RESOURCE', `http://${host}:${port}/mcp`);
const mode = env('VALIDATION_MODE', 'local') as ValidationMode;
const validator = createTokenValidator({
  issuer,
  audience: resource,
  mode,
  ...(mode === 'local' ? {} : { clientId: env('API_CLIENT_ID'), clientSecret: env('API_CLIENT_SECRET') }),
});

await validator.start();
const server = createMcpApp({ validator, issuer, resource }).listen(port, host, () => {
  console.log(`example MCP server (${mode}) listening on ${resource}`);
});

async function shutdown() {
  server.close();
  server.closeAllConnections();
  await validator.stop();
}
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
