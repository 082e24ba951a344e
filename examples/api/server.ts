// A tiny API protected by Tessera access tokens. Run: node examples/api/server.ts (see README.md here).
//   TESSERA_ISSUER     issuer URL, e.g. http://localhost:3000
//   API_AUDIENCE       this API's resource identifier, e.g. https://api.example.com/invoices
//   VALIDATION_MODE    local | local+feed | introspection (default local+feed)
//   API_CLIENT_ID, API_CLIENT_SECRET   the introspection client printed by `tessera resource create`
//                      (not needed for local)
//   PORT, HOST         default 4000, 127.0.0.1
import { createTokenValidator, type ValidationMode } from '../../src/resource-server/index.ts';
import { createApiApp } from './app.ts';

function env(name: string, fallback?: string): string {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === '') {
    console.error(`${name} is required (see examples/api/README.md)`);
    process.exit(2);
  }
  return value;
}

const mode = env('VALIDATION_MODE', 'local+feed') as ValidationMode;
const validator = createTokenValidator({
  issuer: env('TESSERA_ISSUER'),
  audience: env('API_AUDIENCE'),
  mode,
  ...(mode === 'local' ? {} : { clientId: env('API_CLIENT_ID'), clientSecret: env('API_CLIENT_SECRET') }),
});

await validator.start();
const server = createApiApp(validator).listen(Number(env('PORT', '4000')), env('HOST', '127.0.0.1'), () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : '?';
  console.log(`example API (${mode}) listening on http://${env('HOST', '127.0.0.1')}:${port}`);
});

async function shutdown() {
  server.close();
  server.closeAllConnections();
  await validator.stop();
}
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
