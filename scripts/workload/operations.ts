// The mixed workload shared by `npm run soak` and `npm run chaos`. OAuth is spoken by openid-client v6 (the
// same library the integration tests use); sign-ins walk the real pages with a cookie-jar browser.
//
// State kept between operations:
// - chains: one per sign-in (own browser session, own grant), holding its newest refresh and access token.
//   An operation on a chain locks it, so the workload never races itself (a rotation and a revocation of
//   the same token at once would be a client bug, not a server one). A chain whose last operation failed is
//   retired: after a failed rotation nobody knows whether the server consumed the old token.
// - client_credentials JWTs (the newest 100), introspected by the API's own client.
// - revoked tokens: every token whose revocation the server acknowledged; introspection must say inactive.
import * as oidc from 'openid-client';
import { RoutedBrowser, signIn } from './browser.ts';
import { CheckFailed, HttpFailure, classify } from './errors.ts';
import { wallNow, type Balancer, type Route } from './routing.ts';
import type { OpRecord, Recorder } from './stats.ts';

export interface ClientPair {
  client_id: string;
  client_secret: string;
}

export interface Fixtures {
  issuer: string;
  redirectUri: string;
  /** The API (RFC 8707 resource) client_credentials tokens are for, and its scope. */
  resource: string;
  resourceScope: string;
  web: ClientPair;
  service: ClientPair;
  /** The API's introspection client (introspects tokens of its audience). */
  api: ClientPair;
  users: Array<{ username: string; password: string }>;
}

export const OPERATIONS = [
  'client_credentials',
  'login',
  'sso',
  'refresh',
  'introspect:opaque',
  'introspect:refresh',
  'introspect:jwt',
  'revoke:refresh',
  'revoke:jwt',
  'introspect:revoked',
] as const;
export type OperationName = (typeof OPERATIONS)[number];

/** Relative frequency of each operation (sign-ins are expensive: argon2id and 7 HTTP requests). */
export const DEFAULT_WEIGHTS: Record<OperationName, number> = {
  client_credentials: 20,
  login: 6,
  sso: 4,
  refresh: 20,
  'introspect:opaque': 12,
  'introspect:refresh': 6,
  'introspect:jwt': 12,
  'revoke:refresh': 4,
  'revoke:jwt': 4,
  'introspect:revoked': 8,
};

export const DESCRIPTIONS: Record<OperationName, string> = {
  client_credentials: 'POST /token client_credentials with resource + scope → ES256 JWT',
  login: 'authorize → sign-in form → consent form → code → POST /token (PKCE S256), each request to a random process',
  sso: 'authorize prompt=none in a signed-in browser → code → POST /token (session and grant read from the database)',
  refresh: 'POST /token refresh_token: rotation, the newest token of a chain',
  'introspect:opaque': 'POST /token/introspection of a sign-in\'s opaque access token (by the web client) → active',
  'introspect:refresh': 'POST /token/introspection of a refresh token (by the web client) → active',
  'introspect:jwt': 'POST /token/introspection of a client_credentials JWT (by the API\'s client) → active',
  'revoke:refresh': 'POST /token/revocation of a chain\'s refresh token (revokes its grant)',
  'revoke:jwt': 'POST /token/revocation of a client_credentials JWT',
  'introspect:revoked': 'POST /token/introspection of a token revoked earlier → inactive',
};

export interface Chain {
  id: number;
  username: string;
  sub: string;
  refresh: string;
  access: string;
  accessExpiresAt: number;
  createdAt: number;
  updatedAt: number;
  rotations: number;
  busy: boolean;
  browser: RoutedBrowser;
}

interface JwtToken {
  token: string;
  expiresAt: number;
}

export interface RevokedToken {
  token: string;
  what: 'refresh' | 'access' | 'jwt';
  /** When the revocation was acknowledged. */
  at: number;
}

export interface WorkloadOptions {
  weights?: Partial<Record<OperationName, number>>;
  /** Per HTTP request, seconds. */
  timeoutSeconds?: number;
  /** Above this many chains, sign-ins give way to revocations. */
  maxChains?: number;
}

const SAFETY_MS = 30_000;
const pickRandom = <T>(items: T[]): T | undefined => items[Math.floor(Math.random() * items.length)];

export class Workload {
  readonly fixtures: Fixtures;
  readonly balancer: Balancer;
  recorder: Recorder;
  readonly weights: Record<OperationName, number>;
  readonly timeoutSeconds: number;
  readonly maxChains: number;
  readonly chains = new Set<Chain>();
  readonly ccTokens: JwtToken[] = [];
  /** JWTs being introspected now: revoke:jwt leaves them alone, or its revocation could overtake the check. */
  private readonly jwtsInCheck = new Set<string>();
  readonly revoked: RevokedToken[] = [];
  /** Chains taken out of the workload (chaos: the tokens to check after the faults), by label. */
  readonly reserved = new Map<string, Chain[]>();
  retiredChains = 0;
  /** Chains whose rotation or revocation was refused (503 / connection refused): their token must be unchanged. */
  readonly refused: Array<{ chain: Chain; op: string; kind: string; at: number; server: string }> = [];
  private nextChainId = 1;
  private web!: oidc.Configuration;
  private service!: oidc.Configuration;
  private api!: oidc.Configuration;

  constructor(fixtures: Fixtures, balancer: Balancer, recorder: Recorder, options: WorkloadOptions = {}) {
    this.fixtures = fixtures;
    this.balancer = balancer;
    this.recorder = recorder;
    this.weights = { ...DEFAULT_WEIGHTS, ...options.weights };
    this.timeoutSeconds = options.timeoutSeconds ?? 15;
    this.maxChains = options.maxChains ?? 300;
  }

  /** Discovery for the three clients (through the balancer, like every request). */
  async init(): Promise<void> {
    const discover = (client: ClientPair) =>
      this.balancer.run('fixed', () =>
        oidc.discovery(new URL(this.fixtures.issuer), client.client_id, undefined, oidc.ClientSecretBasic(client.client_secret), {
          execute: [oidc.allowInsecureRequests],
          [oidc.customFetch]: this.balancer.fetch,
          timeout: this.timeoutSeconds,
        }),
      );
    this.web = await discover(this.fixtures.web);
    this.service = await discover(this.fixtures.service);
    this.api = await discover(this.fixtures.api);
  }

  // ----- running and recording -------------------------------------------------------------------------

  /** Runs one operation in a routed context and records it (failures are recorded, never thrown). */
  async execute(op: string, mode: Route['mode'], fn: () => Promise<void>, recorder = this.recorder): Promise<OpRecord> {
    const start = wallNow();
    let route: Route | undefined;
    let record: OpRecord;
    try {
      await this.balancer.run(mode, async (r) => {
        route = r;
        await fn();
      });
      record = { op, server: (route?.last ?? route?.target)?.name ?? '?', start, end: wallNow(), ok: true };
    } catch (error) {
      const c = await classify(error);
      record = { op, server: (route?.last ?? route?.target)?.name ?? '?', start, end: wallNow(), ok: false, kind: c.kind, detail: c.detail };
    }
    recorder.add(record);
    return record;
  }

  /** Picks the next operation by weight; falls back when its prerequisites are missing. */
  pick(): OperationName {
    const total = OPERATIONS.reduce((sum, op) => sum + this.weights[op], 0);
    let r = Math.random() * total;
    let op: OperationName = 'client_credentials';
    for (const candidate of OPERATIONS) {
      r -= this.weights[candidate];
      if (r < 0) {
        op = candidate;
        break;
      }
    }
    const now = wallNow();
    const idle = [...this.chains].some((c) => !c.busy);
    const freshJwt = this.ccTokens.some((t) => t.expiresAt - now > SAFETY_MS);
    switch (op) {
      case 'login':
        return this.chains.size >= this.maxChains && idle ? 'revoke:refresh' : op;
      case 'sso':
      case 'refresh':
      case 'introspect:opaque':
      case 'introspect:refresh':
      case 'revoke:refresh':
        return idle ? op : 'login';
      case 'introspect:jwt':
      case 'revoke:jwt':
        return freshJwt ? op : 'client_credentials';
      case 'introspect:revoked':
        return this.revoked.length ? op : freshJwt ? 'revoke:jwt' : 'client_credentials';
      default:
        return op;
    }
  }

  async step(): Promise<void> {
    const op = this.pick();
    switch (op) {
      case 'client_credentials':
        return void (await this.execute(op, 'fixed', () => this.clientCredentials()));
      case 'login':
        return void (await this.execute(op, 'hop', async () => void (await this.login())));
      case 'sso':
        return this.withChain(op, 'hop', 'random', (c) => this.sso(c), false);
      case 'refresh':
        return this.withChain(op, 'fixed', 'random', (c) => this.refresh(c), true);
      case 'introspect:opaque':
        return this.withChain(op, 'fixed', 'random', (c) => this.introspectChain(c, 'access'), false, (c) => c.accessExpiresAt - wallNow() > SAFETY_MS);
      case 'introspect:refresh':
        return this.withChain(op, 'fixed', 'random', (c) => this.introspectChain(c, 'refresh'), false);
      case 'revoke:refresh':
        return this.withChain(op, 'fixed', 'oldest', (c) => this.revokeChain(c), true);
      case 'introspect:jwt': {
        const now = wallNow();
        const token = pickRandom(this.ccTokens.filter((t) => t.expiresAt - now > SAFETY_MS));
        if (!token) return;
        this.jwtsInCheck.add(token.token);
        try {
          return void (await this.execute(op, 'fixed', () => this.introspectJwt(token.token)));
        } finally {
          this.jwtsInCheck.delete(token.token);
        }
      }
      case 'revoke:jwt': {
        const now = wallNow();
        const index = this.ccTokens.findIndex((t) => t.expiresAt - now > SAFETY_MS && !this.jwtsInCheck.has(t.token));
        if (index < 0) return;
        const [token] = this.ccTokens.splice(index, 1);
        return void (await this.execute(op, 'fixed', () => this.revokeJwt(token!.token)));
      }
      case 'introspect:revoked': {
        const entry = pickRandom(this.revoked);
        if (!entry) return;
        return void (await this.execute(op, 'fixed', () => this.introspectRevoked(entry)));
      }
    }
  }

  /**
   * Runs an operation on an idle chain (locked meanwhile). `consumes`: a failure leaves the chain's state
   * unknown (rotation, revocation), so the chain is retired.
   */
  private async withChain(op: OperationName, mode: Route['mode'], order: 'random' | 'oldest', fn: (chain: Chain) => Promise<void>, consumes: boolean, usable: (c: Chain) => boolean = () => true): Promise<void> {
    const idle = [...this.chains].filter((c) => !c.busy && usable(c));
    const chain = order === 'oldest' ? idle[0] : pickRandom(idle);
    if (!chain) return;
    chain.busy = true;
    try {
      const record = await this.execute(op, mode, () => fn(chain));
      if (!record.ok && consumes && this.chains.delete(chain)) {
        // A rotation or revocation the server refused (503), or that never reached it (connection refused),
        // must have left the token as it was: kept to be tried once the fault is over (chaos). A connection
        // lost mid-request leaves the state unknown.
        if (record.kind?.startsWith('http 503') || record.kind === 'network ECONNREFUSED') this.refused.push({ chain, op, kind: record.kind, at: record.end, server: record.server });
        else this.retiredChains++;
      }
    } finally {
      chain.busy = false;
    }
  }

  // ----- the operations ---------------------------------------------------------------------------------

  private async clientCredentials(): Promise<void> {
    const res = await oidc.clientCredentialsGrant(this.service, { scope: this.fixtures.resourceScope, resource: this.fixtures.resource });
    if (res.access_token.split('.').length !== 3) throw new CheckFailed('access token is not a JWT', res.access_token.slice(0, 20));
    this.ccTokens.push({ token: res.access_token, expiresAt: wallNow() + (res.expires_in ?? 0) * 1000 });
    if (this.ccTokens.length > 100) this.ccTokens.shift();
  }

  private authorizationUrl(scope: string, prompt: string) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    return {
      verifier,
      state,
      nonce,
      url: async () =>
        oidc.buildAuthorizationUrl(this.web, {
          redirect_uri: this.fixtures.redirectUri,
          scope,
          code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          state,
          nonce,
          prompt,
        }),
    };
  }

  /** A fresh browser signs in (login and consent pages), the code becomes tokens: a new chain. */
  async login(user = pickRandom(this.fixtures.users)!): Promise<Chain> {
    const browser = new RoutedBrowser(this.balancer, this.timeoutSeconds * 1000);
    const request = this.authorizationUrl('openid profile email offline_access', 'consent');
    const callback = await signIn(browser, await request.url(), this.fixtures.redirectUri, user);
    const tokens = await oidc.authorizationCodeGrant(this.web, callback, { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce, idTokenExpected: true });
    if (!tokens.refresh_token) throw new CheckFailed('no refresh token from the code exchange', `scope ${tokens.scope}`);
    const now = wallNow();
    const chain: Chain = {
      id: this.nextChainId++,
      username: user.username,
      sub: tokens.claims()!.sub,
      refresh: tokens.refresh_token,
      access: tokens.access_token,
      accessExpiresAt: now + (tokens.expires_in ?? 0) * 1000,
      createdAt: now,
      updatedAt: now,
      rotations: 0,
      busy: false,
      browser,
    };
    this.chains.add(chain);
    return chain;
  }

  /** The chain's browser is still signed in: prompt=none gives a code for the same person, no page shown. */
  async sso(chain: Chain): Promise<void> {
    const request = this.authorizationUrl('openid', 'none');
    const step = await chain.browser.follow(await request.url());
    if (step.url.origin + step.url.pathname !== this.fixtures.redirectUri) {
      throw new HttpFailure(step.res.status, undefined, `prompt=none ended at ${step.url.pathname} with ${step.res.status}`);
    }
    const tokens = await oidc.authorizationCodeGrant(this.web, step.url, { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce, idTokenExpected: true });
    const sub = tokens.claims()?.sub;
    if (sub !== chain.sub) throw new CheckFailed('prompt=none signed in someone else', `${sub} instead of ${chain.sub}`);
  }

  async refresh(chain: Chain): Promise<void> {
    const tokens = await oidc.refreshTokenGrant(this.web, chain.refresh);
    if (!tokens.refresh_token || tokens.refresh_token === chain.refresh) throw new CheckFailed('refresh token not rotated', 'the answer carried no new refresh_token');
    const now = wallNow();
    chain.refresh = tokens.refresh_token;
    chain.access = tokens.access_token;
    chain.accessExpiresAt = now + (tokens.expires_in ?? 0) * 1000;
    chain.updatedAt = now;
    chain.rotations++;
  }

  async introspectChain(chain: Chain, which: 'access' | 'refresh'): Promise<void> {
    const token = which === 'access' ? chain.access : chain.refresh;
    const res = await oidc.tokenIntrospection(this.web, token, which === 'refresh' ? { token_type_hint: 'refresh_token' } : undefined);
    if (res.active !== true) throw new CheckFailed(`${which === 'access' ? 'opaque access' : 'refresh'} token inactive`, `chain ${chain.id} (${chain.rotations} rotations, ${Math.round((wallNow() - chain.updatedAt) / 1000)} s since issued)`);
    if (res.sub !== chain.sub) throw new CheckFailed('introspection names another subject', `${res.sub} instead of ${chain.sub}`);
  }

  private async introspectJwt(token: string): Promise<void> {
    const res = await oidc.tokenIntrospection(this.api, token);
    if (res.active !== true) throw new CheckFailed('JWT access token inactive', `exp in ${Math.round(((res.exp ?? 0) * 1000 - wallNow()) / 1000)} s`);
    const aud = Array.isArray(res.aud) ? res.aud : [res.aud];
    if (!aud.includes(this.fixtures.resource)) throw new CheckFailed('JWT has the wrong audience', String(res.aud));
  }

  private async revokeChain(chain: Chain): Promise<void> {
    await oidc.tokenRevocation(this.web, chain.refresh, { token_type_hint: 'refresh_token' });
    const at = wallNow();
    this.chains.delete(chain);
    // Revoking a refresh token revokes its grant: the chain's access token goes with it.
    this.revoked.push({ token: chain.refresh, what: 'refresh', at }, { token: chain.access, what: 'access', at });
  }

  private async revokeJwt(token: string): Promise<void> {
    await oidc.tokenRevocation(this.service, token);
    this.revoked.push({ token, what: 'jwt', at: wallNow() });
  }

  /** Whether the chain's access token is active now (no recording: for explaining a failed check). */
  accessTokenActive(chain: Chain): Promise<boolean> {
    return this.balancer.run('fixed', async () => (await oidc.tokenIntrospection(this.web, chain.access)).active === true);
  }

  async introspectRevoked(entry: RevokedToken): Promise<void> {
    const config = entry.what === 'jwt' ? this.api : this.web;
    const res = await oidc.tokenIntrospection(config, entry.token);
    if (res.active !== false) throw new CheckFailed(`revoked ${entry.what} token active`, `revoked ${Math.round((wallNow() - entry.at) / 1000)} s ago`);
  }

  // ----- chaos support ----------------------------------------------------------------------------------

  /**
   * Takes a share of the idle chains out of the workload (every other one by default, newest first), to be
   * checked later; the rest keep being used, so refresh, introspection and revocation go on through a fault.
   */
  reserve(label: string, share = 0.5): Chain[] {
    const idle = [...this.chains].filter((c) => !c.busy).sort((a, b) => b.updatedAt - a.updatedAt);
    const every = Math.max(1, Math.round(1 / share));
    const taken = idle.filter((_, i) => i % every === 0);
    for (const c of taken) this.chains.delete(c);
    this.reserved.set(label, taken);
    return taken;
  }
}
