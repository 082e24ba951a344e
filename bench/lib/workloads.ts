// The workloads, and how each is prepared against a running server: fixtures (tokens) are obtained over
// HTTP like a real client would, then one request is checked by hand (preflight) before any load is sent.
import type { RunningChild, ServerKind } from './child.ts';
import type { Load } from './load.ts';
import { FORM, basicAuth, codeFlows, jwtHeader, postForm, type ClientCredentials, type TokenSet } from './oauth.ts';

export type WorkloadId = 'ceiling' | 'client_credentials' | 'introspection_jwt' | 'introspection_opaque' | 'refresh';

export const WORKLOADS: Record<WorkloadId, { label: string; servers: ServerKind[] }> = {
  ceiling: { label: 'GET small JSON (HTTP ceiling)', servers: ['koa'] },
  client_credentials: { label: 'client_credentials → ES256 JWT', servers: ['engine', 'tessera', 'tessera2'] },
  introspection_jwt: { label: 'introspection of a JWT access token', servers: ['tessera', 'tessera2'] },
  introspection_opaque: { label: 'introspection of an opaque access token', servers: ['engine', 'tessera', 'tessera2'] },
  refresh: { label: 'refresh-token rotation', servers: ['engine', 'tessera', 'tessera2'] },
};

export const WORKLOAD_ORDER: WorkloadId[] = ['ceiling', 'client_credentials', 'introspection_jwt', 'introspection_opaque', 'refresh'];

export type Prepared =
  | { status: 'ready'; load: Load; note?: string }
  | { status: 'unsupported'; reason: string }
  | { status: 'failed'; reason: string };

interface Fixtures {
  service: ClientCredentials;
  web: ClientCredentials;
  redirectUri: string;
  scope: string;
  login?: { username: string; password: string };
}

const snippet = (s: string) => s.replace(/\s+/g, ' ').slice(0, 240);

/** Per-server state shared by workloads: the code-flow token sets are made once, on first need. */
export class ServerSession {
  readonly child: RunningChild;
  readonly connections: number;
  private flows: Promise<TokenSet[]> | undefined;

  constructor(child: RunningChild, connections: number) {
    this.child = child;
    this.connections = connections;
  }

  get fixtures(): Fixtures {
    return this.child.fixtures as unknown as Fixtures;
  }

  /** connections + 1 independent sign-ins (own session, own grant): [0] for introspection, the rest refresh. */
  tokenSets(): Promise<TokenSet[]> {
    const f = this.fixtures;
    this.flows ??= codeFlows({ issuer: this.child.url, client: f.web, redirectUri: f.redirectUri, scope: 'openid offline_access', login: f.login }, this.connections + 1);
    return this.flows;
  }

  async prepare(id: WorkloadId): Promise<Prepared> {
    try {
      switch (id) {
        case 'ceiling':
          return { status: 'ready', load: { kind: 'fixed', method: 'GET', path: '/', verify: (b) => b.includes('"ok":true') } };
        case 'client_credentials':
          return await this.prepareClientCredentials();
        case 'introspection_jwt':
          return await this.prepareJwtIntrospection();
        case 'introspection_opaque':
          return await this.prepareOpaqueIntrospection();
        case 'refresh':
          return await this.prepareRefresh();
      }
    } catch (error) {
      return { status: 'failed', reason: snippet((error as Error).message) };
    }
  }

  private clientCredentialsBody(): string {
    return new URLSearchParams({ grant_type: 'client_credentials', scope: this.fixtures.scope }).toString();
  }

  private async clientCredentialsToken(): Promise<{ token?: string; reason?: string }> {
    const res = await postForm(`${this.child.url}/token`, Object.fromEntries(new URLSearchParams(this.clientCredentialsBody())), this.fixtures.service);
    const token = res.json?.access_token;
    if (res.status !== 200 || typeof token !== 'string') return { reason: `POST /token answered ${res.status}: ${snippet(res.body)}` };
    const header = jwtHeader(token);
    if (!header) return { reason: `access token is not a JWT: ${snippet(token)}` };
    if (header.alg !== 'ES256') return { reason: `access token is signed ${String(header.alg)}, not ES256` };
    return { token };
  }

  private async prepareClientCredentials(): Promise<Prepared> {
    const { token, reason } = await this.clientCredentialsToken();
    if (!token) return { status: 'failed', reason: reason! };
    return {
      status: 'ready',
      load: {
        kind: 'fixed',
        method: 'POST',
        path: '/token',
        headers: { authorization: basicAuth(this.fixtures.service), 'content-type': FORM, accept: 'application/json' },
        body: this.clientCredentialsBody(),
        verify: (b) => b.includes('"access_token"'),
      },
      note: `typ ${String(jwtHeader(token)!.typ)}, alg ES256`,
    };
  }

  private introspectionLoad(token: string, client: ClientCredentials): Load {
    return {
      kind: 'fixed',
      method: 'POST',
      path: '/token/introspection',
      headers: { authorization: basicAuth(client), 'content-type': FORM, accept: 'application/json' },
      body: new URLSearchParams({ token }).toString(),
      verify: (b) => b.includes('"active":true'),
    };
  }

  private async prepareJwtIntrospection(): Promise<Prepared> {
    const { token, reason } = await this.clientCredentialsToken();
    if (!token) return { status: 'failed', reason: `could not get a JWT: ${reason}` };
    const res = await postForm(`${this.child.url}/token/introspection`, { token }, this.fixtures.service);
    if (res.status === 200 && res.json?.active === true) return { status: 'ready', load: this.introspectionLoad(token, this.fixtures.service) };
    if (res.json?.error === 'unsupported_token_type' || (res.status === 200 && res.json?.active === false)) {
      return { status: 'unsupported', reason: `not supported yet (${res.status} ${snippet(res.body)})` };
    }
    return { status: 'failed', reason: `POST /token/introspection answered ${res.status}: ${snippet(res.body)}` };
  }

  private async prepareOpaqueIntrospection(): Promise<Prepared> {
    const [first] = await this.tokenSets();
    const token = first!.access_token;
    if (jwtHeader(token)) return { status: 'failed', reason: 'the code-flow access token is a JWT, expected an opaque one' };
    const res = await postForm(`${this.child.url}/token/introspection`, { token }, this.fixtures.web);
    if (res.status !== 200 || res.json?.active !== true) return { status: 'failed', reason: `POST /token/introspection answered ${res.status}: ${snippet(res.body)}` };
    return { status: 'ready', load: this.introspectionLoad(token, this.fixtures.web) };
  }

  private async prepareRefresh(): Promise<Prepared> {
    const sets = await this.tokenSets();
    const pool = sets.slice(1).map((s) => s.refresh_token);
    if (pool.some((t) => !t)) return { status: 'failed', reason: 'the code flow returned no refresh token' };
    const tokens = pool as string[];
    const web = this.fixtures.web;
    // Preflight on slot 0: one rotation by hand.
    const res = await postForm(`${this.child.url}/token`, { grant_type: 'refresh_token', refresh_token: tokens[0]! }, web);
    const rotated = res.json?.refresh_token;
    if (res.status !== 200 || typeof rotated !== 'string') return { status: 'failed', reason: `refresh answered ${res.status}: ${snippet(res.body)}` };
    if (rotated === tokens[0]) return { status: 'failed', reason: 'refresh token was not rotated' };
    tokens[0] = rotated;
    // Each rotation also signs an ID token: both servers should pay for the same algorithm.
    const idToken = res.json?.id_token;
    const idTokenAlg = typeof idToken === 'string' ? String(jwtHeader(idToken)?.alg) : 'none';

    const headers = { authorization: basicAuth(web), 'content-type': FORM, accept: 'application/json' };
    return {
      status: 'ready',
      note: `${tokens.length} refresh-token chains, one per connection; ID token ${idTokenAlg}`,
      load: {
        kind: 'per-connection',
        verify: (b) => b.includes('"refresh_token"'),
        connection(slot) {
          const i = slot % tokens.length;
          return {
            method: 'POST',
            path: '/token',
            headers,
            setupRequest(request) {
              request.body = `grant_type=refresh_token&refresh_token=${encodeURIComponent(tokens[i]!)}`;
              return request;
            },
            onResponse(status, body) {
              if (status !== 200) return;
              try {
                const next = (JSON.parse(body) as { refresh_token?: unknown }).refresh_token;
                if (typeof next === 'string') tokens[i] = next;
              } catch {
                // counted as an error by verify()
              }
            },
          };
        },
      },
    };
  }
}
