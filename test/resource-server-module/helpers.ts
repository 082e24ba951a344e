// Helpers for the resource-server module tests: registering an API on a real Tessera, getting tokens, a
// stand-in issuer whose keys the test holds (to mint expired, mistyped or foreign tokens), and a bounded
// wait for a validation result to change.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { runOperation } from '../../src/services/operations.ts';
import type { TestServer } from '../helpers/server.ts';
import { createClient, discover } from '../helpers/oauth.ts';
import type { FeedClock, TokenValidator, ValidationResult } from '../../src/resource-server/index.ts';

export interface RegisteredApi {
  identifier: string;
  clientId: string;
  clientSecret: string;
}

export async function registerApi(server: TestServer, identifier: string, extra: { format?: 'jwt' | 'opaque'; ttl?: number; alg?: string } = {}): Promise<RegisteredApi> {
  const r = await runOperation(server.operations, 'resource.create', {
    identifier,
    scopes: [{ name: 'invoices:read', description: 'Read your invoices' }, { name: 'invoices:write' }],
    ...extra,
  });
  return { identifier, clientId: r.introspection_client.client_id, clientSecret: r.introspection_client.client_secret! };
}

/** A confidential client_credentials client allowed `scope`, with its openid-client configuration. */
export async function serviceClient(server: TestServer, name: string, scope = 'invoices:read') {
  const client = await createClient(server, { name, scope, grantTypes: ['client_credentials'], redirectUris: [] });
  return { client, config: await discover(server, client) };
}

export async function serviceToken(config: oidc.Configuration, resource: string | undefined, scope = 'invoices:read'): Promise<string> {
  const params: Record<string, string> = { scope };
  if (resource) params.resource = resource;
  return (await oidc.clientCredentialsGrant(config, params)).access_token;
}

/** Calls validate() every 50 ms until `accept(result)` or `withinMs` passes; returns the last result and the time it took. */
export async function waitForResult(validator: TokenValidator, token: string, accept: (r: ValidationResult) => boolean, withinMs: number) {
  const started = Date.now();
  for (;;) {
    const result = await validator.validate(token);
    const elapsedMs = Date.now() - started;
    if (accept(result) || elapsedMs > withinMs) return { result, elapsedMs };
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A feed follower's clock that only moves when the test moves it (FeedOptions.clock). The follower's pauses
 * and back-off are sleeps on it, so the test sees each one asked for and ends it when it chooses.
 */
export interface ManualClock extends FeedClock {
  /** Resolves once a sleep is pending: the follower is waiting on the clock. */
  sleeping(): Promise<void>;
  /** Moves time forward by `ms`, ending every sleep due by then (soonest first). */
  advance(ms: number): void;
  /** Moves time forward to the end of the soonest pending sleep, and ends it. */
  advanceToNext(): void;
}

export function manualClock(start = Date.now()): ManualClock {
  let now = start;
  const sleeps: { at: number; end: () => void }[] = [];
  const watchers: (() => void)[] = [];
  const soonest = () => sleeps.reduce<(typeof sleeps)[number] | undefined>((a, b) => (a && a.at <= b.at ? a : b), undefined);
  return {
    now: () => now,
    sleep(ms, signal) {
      return new Promise<void>((resolve) => {
        if (signal.aborted || ms <= 0) return resolve();
        const entry = { at: now + ms, end };
        function end() {
          sleeps.splice(sleeps.indexOf(entry), 1);
          signal.removeEventListener('abort', end);
          resolve();
        }
        signal.addEventListener('abort', end, { once: true });
        sleeps.push(entry);
        for (const watcher of watchers.splice(0)) watcher();
      });
    },
    async sleeping() {
      while (!sleeps.length) await new Promise<void>((resolve) => watchers.push(resolve));
    },
    advance(ms) {
      now += ms;
      for (let due = soonest(); due && due.at <= now; due = soonest()) due.end();
    },
    advanceToNext() {
      const next = soonest();
      if (!next) throw new Error('advanceToNext: nothing is waiting on the clock');
      now = Math.max(now, next.at);
      next.end();
    },
  };
}

export const isRevoked = (r: ValidationResult) => !r.ok && r.reason === 'revoked';

export const quietErrors = () => {
  const errors: Error[] = [];
  return { errors, onError: (e: Error) => void errors.push(e) };
};

export interface StandInIssuer {
  issuer: string;
  /** Signs `claims` (merged over valid defaults) with the current key; header overrides allowed. */
  sign(claims?: JWTPayload, options?: { header?: Record<string, unknown>; key?: SigningKey }): Promise<string>;
  /** A fresh key published in place of the current one (key rollover). */
  rotate(): Promise<SigningKey>;
  current(): SigningKey;
  /** How many times the key set was fetched. */
  jwksFetches(): number;
  /** Serve a discovery document naming another issuer (mix-up attack). */
  setDiscoveryIssuer(value: string | undefined): void;
  close(): Promise<void>;
}

export interface SigningKey {
  alg: string;
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function newKey(alg = 'ES256', kid = `k-${Math.random().toString(36).slice(2, 10)}`): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { alg, kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** An issuer the test controls: discovery plus a JWKS, on a random loopback port. */
export async function startStandInIssuer(audience: string, options: { alg?: string } = {}): Promise<StandInIssuer> {
  let key = await newKey(options.alg ?? 'ES256');
  const published: SigningKey[] = [key];
  let fetches = 0;
  let discoveryIssuer: string | undefined;
  const server: Server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/.well-known/openid-configuration') {
      res.end(JSON.stringify({ issuer: discoveryIssuer ?? issuer, jwks_uri: `${issuer}/jwks`, token_endpoint: `${issuer}/token` }));
    } else if (req.url === '/jwks') {
      fetches++;
      res.end(JSON.stringify({ keys: published.map((k) => k.publicJwk) }));
    } else {
      res.statusCode = 404;
      res.end('{"error":"not_found"}');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    issuer,
    async sign(claims = {}, { header = {}, key: signingKey = key } = {}) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ client_id: 'svc', scope: 'invoices:read', jti: `j-${Math.random().toString(36).slice(2)}`, ...claims })
        .setProtectedHeader({ alg: signingKey.alg, typ: 'at+jwt', kid: signingKey.kid, ...header })
        .setIssuer(typeof claims.iss === 'string' ? claims.iss : issuer)
        .setAudience(claims.aud ?? audience)
        .setSubject(typeof claims.sub === 'string' ? claims.sub : 'svc')
        .setIssuedAt(typeof claims.iat === 'number' ? claims.iat : now)
        .setExpirationTime(typeof claims.exp === 'number' ? claims.exp : now + 300)
        .sign(signingKey.privateKey);
    },
    async rotate() {
      key = await newKey(key.alg);
      published.splice(0, published.length, key);
      return key;
    },
    current: () => key,
    jwksFetches: () => fetches,
    setDiscoveryIssuer(value) {
      discoveryIssuer = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A compact JWS with `alg: none` and the given claims (RFC 7519 §6 unsecured JWT). */
export function unsecuredToken(payload: JWTPayload, header: Record<string, unknown> = { alg: 'none', typ: 'at+jwt' }): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${b64(header)}.${b64(payload)}.`;
}

/** Re-signs the claims of `token` with `key` under the header `header` (forgery attempts). */
export async function resign(token: string, key: SigningKey, header: Record<string, unknown>): Promise<string> {
  const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as JWTPayload;
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, ...header }).sign(key.privateKey);
}
