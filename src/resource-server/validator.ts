// createTokenValidator: one object an API holds for its lifetime. It wires the pieces for the chosen mode —
// local verification, the revocation feed follower, or introspection — behind validate/start/stop.
// Bad options are programming errors and throw at once; bad tokens are results.
import { createDiscovery } from './discovery.ts';
import { ASYMMETRIC_ALGORITHMS, createLocalVerifier, DEFAULT_ALGORITHMS } from './local-verifier.ts';
import { createIntrospector } from './introspection.ts';
import { createClientCredentialsToken, FEED_SCOPE } from './client-credentials.ts';
import { createRevocationSet } from './revocation-set.ts';
import { createFeedFollower, systemClock } from './feed-follower.ts';
import { createDPoPVerifier, dpopSettings } from './dpop.ts';
import type { TokenValidator, TokenValidatorOptions, ValidationResult } from './types.ts';

const MODES = ['local', 'local+feed', 'introspection'];

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new TypeError(`createTokenValidator: ${message}`);
}

function absoluteUrl(value: unknown, name: string): string {
  check(typeof value === 'string' && value.length > 0, `${name} is required`);
  try {
    new URL(value);
  } catch {
    check(false, `${name} must be an absolute URL`);
  }
  return value;
}

function seconds(value: number | undefined, fallback: number, name: string, min: number, max: number): number {
  const v = value ?? fallback;
  check(typeof v === 'number' && !Number.isNaN(v) && v >= min && v <= max, `${name} must be between ${min} and ${max}`);
  return v;
}

export function createTokenValidator(options: TokenValidatorOptions): TokenValidator {
  const issuer = absoluteUrl(options.issuer, 'issuer');
  const audience = absoluteUrl(options.audience, 'audience');
  const mode = options.mode;
  check(MODES.includes(mode), `mode must be one of ${MODES.join(', ')}`);
  const algorithms = options.algorithms ?? DEFAULT_ALGORITHMS;
  check(algorithms.length > 0, 'algorithms must not be empty');
  for (const alg of algorithms) check((ASYMMETRIC_ALGORITHMS as readonly string[]).includes(alg), `algorithm ${alg} is not an asymmetric JWS algorithm`);
  const needsClient = mode !== 'local';
  if (needsClient) check(typeof options.clientId === 'string' && typeof options.clientSecret === 'string', `mode ${mode} needs clientId and clientSecret (the API's introspection client)`);
  const clockToleranceSeconds = seconds(options.clockToleranceSeconds, 5, 'clockToleranceSeconds', 0, 300);
  const timeoutMs = seconds(options.requestTimeoutSeconds, 5, 'requestTimeoutSeconds', 0.1, 60) * 1000;
  const jwksCooldownSeconds = seconds(options.jwksCooldownSeconds, 30, 'jwksCooldownSeconds', 0, 3600);
  const jwksCacheMaxAgeSeconds = seconds(options.jwksCacheMaxAgeSeconds, 600, 'jwksCacheMaxAgeSeconds', 0, Infinity);
  const fetch = options.fetch ?? globalThis.fetch;
  const onError = options.onError ?? ((error: Error) => console.warn(`[tessera resource-server] ${error.message}`));

  const dpop = createDPoPVerifier(dpopSettings(options.dpop, clockToleranceSeconds));
  const discovery = createDiscovery({ issuer, fetch, timeoutMs });
  const local = mode === 'introspection' ? undefined : createLocalVerifier({ issuer, audience, algorithms, clockToleranceSeconds, jwksCooldownSeconds, jwksCacheMaxAgeSeconds, timeoutMs, discovery, fetch });
  const introspector =
    mode === 'introspection'
      ? createIntrospector({ issuer, audience, clientId: options.clientId!, clientSecret: options.clientSecret!, clockToleranceSeconds, timeoutMs, discovery, fetch })
      : undefined;

  let follower: ReturnType<typeof createFeedFollower> | undefined;
  let revocations: ReturnType<typeof createRevocationSet> | undefined;
  if (mode === 'local+feed') {
    const feed = options.feed ?? {};
    const pollWaitSeconds = seconds(feed.pollWaitSeconds, 20, 'feed.pollWaitSeconds', 0, 25);
    const maxStalenessSeconds = seconds(feed.maxStalenessSeconds, Math.max(60, 2 * pollWaitSeconds + 10), 'feed.maxStalenessSeconds', pollWaitSeconds + 2, Infinity);
    const base = issuer.replace(/\/+$/, '');
    revocations = createRevocationSet({ pruneMarginSeconds: clockToleranceSeconds + 60 });
    follower = createFeedFollower({
      issuer,
      audience,
      endpoint: feed.endpoint ? absoluteUrl(feed.endpoint, 'feed.endpoint') : `${base}/revocations/feed`,
      pollWaitSeconds,
      maxStalenessSeconds,
      startTimeoutSeconds: seconds(feed.startTimeoutSeconds, 30, 'feed.startTimeoutSeconds', 0.1, 3600),
      timeoutMs,
      token: createClientCredentialsToken({ clientId: options.clientId!, clientSecret: options.clientSecret!, resource: `${base}/revocations`, scope: FEED_SCOPE, timeoutMs, discovery, fetch }),
      revocations,
      fetch,
      onError,
      loadCheckpoint: feed.loadCheckpoint?.bind(feed),
      saveCheckpoint: feed.saveCheckpoint?.bind(feed),
      clock: feed.clock ?? systemClock,
    });
  }

  return {
    mode,
    dpopAlgorithms: dpop.algorithms,
    checkProof: dpop.verify,

    async validate(token: string): Promise<ValidationResult> {
      if (typeof token !== 'string' || token.length === 0) return { ok: false, reason: 'malformed', detail: 'no token' };
      if (introspector) return introspector.verify(token);
      const result = await local!.verify(token);
      if (!result.ok || !follower) return result;
      // Fail closed: a revocation list that may be out of date cannot vouch for the token.
      const problem = follower.problem();
      if (problem) return { ok: false, reason: 'unavailable', detail: problem };
      const revoked = revocations!.revocationOf(result.claims);
      return revoked ? { ok: false, reason: 'revoked', detail: revoked } : result;
    },

    async start(): Promise<void> {
      if (introspector) await introspector.warmUp();
      if (local) await local.warmUp();
      if (follower) await follower.start();
    },

    async stop(): Promise<void> {
      await follower?.stop();
    },

    feedStatus() {
      return follower?.status();
    },
  };
}
