// The bare engine: oidc-provider with its default in-memory adapter, and the token settings Tessera uses
// (ES256 JWT access tokens for a resource via resourceIndicators, client_credentials, introspection,
// refresh-token rotation, PKCE required). One ES256 key made with jose. This is what a Node developer would
// otherwise run; a tiny interaction handler signs every request in (no pages, no password check) so the
// parent can drive the authorization-code flow to get opaque access tokens and refresh tokens.
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import Provider, { type Configuration, type KoaContextWithOIDC, type Client } from 'oidc-provider';
import { exportJWK, generateKeyPair } from 'jose';
import { announceReady, closeOnStop, reportStartFailure } from './ipc.ts';

const REDIRECT_URI = 'http://127.0.0.1:9/callback';
const RESOURCE_SCOPE = 'bench:read';
// The same lifetimes as Tessera's defaults (src/config.ts).
const ACCESS_TOKEN_TTL = 600;
const REFRESH_TOKEN_TTL = 14 * 24 * 3600;

async function ownTokensOnly(_ctx: KoaContextWithOIDC, client: Client, token: { clientId?: string }): Promise<boolean> {
  return token.clientId === client.clientId;
}

try {
  const port = Number(process.env.PORT);
  const issuer = `http://127.0.0.1:${port}`;
  const audience = `${issuer}/api`;

  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'bench-es256', alg: 'ES256', use: 'sig' };

  const service = { client_id: 'bench-service', client_secret: randomBytes(32).toString('base64url') };
  const web = { client_id: 'bench-web', client_secret: randomBytes(32).toString('base64url') };

  const configuration: Configuration = {
    clients: [
      {
        ...service,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        ...web,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: [REDIRECT_URI],
        scope: 'openid offline_access',
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [jwk as never] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    responseTypes: ['code'],
    pkce: { required: () => true },
    rotateRefreshToken: true,
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    ttl: {
      AccessToken: ACCESS_TOKEN_TTL,
      ClientCredentials: ACCESS_TOKEN_TTL,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: REFRESH_TOKEN_TTL,
      Grant: REFRESH_TOKEN_TTL,
      Session: 24 * 3600,
      Interaction: 1800,
    },
    // Only an ES256 key exists, so ID tokens are ES256 too (Tessera signs them RS256 by default).
    clientDefaults: { grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic', id_token_signed_response_alg: 'ES256' },
    interactions: { url: async (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      // Same rule as Tessera: a client introspects only its own tokens.
      introspection: { enabled: true, allowedPolicy: ownTokensOnly },
      revocation: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        async defaultResource(ctx: KoaContextWithOIDC, _client: Client, oneOf?: readonly string[]) {
          if (oneOf) return oneOf;
          const clientCredentials = ctx.oidc.route === 'token' && ctx.oidc.params?.grant_type === 'client_credentials';
          return clientCredentials ? audience : (undefined as unknown as string);
        },
        async useGrantedResource() {
          return true;
        },
        async getResourceServerInfo(_ctx, resource) {
          if (resource !== audience) throw new Error('unknown resource');
          return { scope: RESOURCE_SCOPE, audience, accessTokenTTL: ACCESS_TOKEN_TTL, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } };
        },
      },
    },
  };

  const provider = new Provider(issuer, configuration);
  const engine = provider.callback();

  // Signs in a fixed account and grants exactly the requested OpenID scopes, in one step.
  async function interact(req: Parameters<typeof engine>[0], res: Parameters<typeof engine>[1]) {
    const details = await provider.interactionDetails(req, res);
    const accountId = 'bench-user';
    const grant = new provider.Grant({ accountId, clientId: String(details.params.client_id) });
    grant.addOIDCScope(String(details.params.scope ?? 'openid'));
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false });
  }

  const server = createServer((req, res) => {
    if (req.url?.startsWith('/interaction/')) {
      interact(req, res).catch((error: Error) => {
        res.statusCode = 500;
        res.end(error.message);
      });
      return;
    }
    void engine(req, res);
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  closeOnStop(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  announceReady(issuer, {
    service: { id: service.client_id, secret: service.client_secret },
    web: { id: web.client_id, secret: web.client_secret },
    redirectUri: REDIRECT_URI,
    scope: RESOURCE_SCOPE,
    audience,
  });
} catch (error) {
  reportStartFailure(error);
}
