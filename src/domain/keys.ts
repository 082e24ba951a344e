// Signing keys (one per algorithm) and cookie-signing keys, kept in the database with their private parts
// sealed, and their life cycle: `next` (published, not signing) → `current` (signing) → `retired`
// (published until every token it signed has expired) → removed. A rotation is staged ahead of time so that
// resource servers caching our JWKS already hold the new key when it starts signing; every process reads
// the key set from the database (see key-watch.ts), so one process rotating is enough for all.
import { randomBytes } from 'node:crypto';
import type { JWK } from 'jose';
import type { Db } from '../store/db.ts';
import {
  deleteExpiredRetiredKeys,
  deleteKey,
  findKey,
  insertKey,
  keySetFingerprint,
  listKeys,
  makeKeyCurrent,
  retireKeyRow,
  tryWithKeyLock,
  withKeyLock,
  type KeyPurpose,
  type KeyRow,
  type NewKey,
} from '../store/keys.ts';
import { insertAuditEvent } from '../store/audit.ts';
import { noticeChange } from '../store/change-notices.ts';
import { longestAccessTokenTtl } from '../store/resource-servers.ts';
import { NotFound, ValidationError } from '../errors.ts';
import type { SecretBox } from './secret-box.ts';

/** ES256 signs access tokens by default; RS256 is OpenID Connect's default for ID tokens; EdDSA on request. */
export const SIGNING_ALGORITHMS = ['ES256', 'RS256', 'EdDSA'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

/** A set of keys that rotate together: the signing keys of one algorithm, or the cookie keys. */
export type KeyGroup = { purpose: 'signing'; alg: SigningAlgorithm } | { purpose: 'cookie'; alg: null };
export const KEY_GROUPS: readonly KeyGroup[] = [
  ...SIGNING_ALGORITHMS.map((alg) => ({ purpose: 'signing' as const, alg })),
  { purpose: 'cookie', alg: null },
];

export interface RotationPolicy {
  /** How long a key signs before the next one takes over. */
  intervalSeconds: number;
  /** How long a new key is published before it signs: at least the JWKS cache lifetime we advertise. */
  prepublishSeconds: number;
  /** How long a retired signing key stays published: the longest lifetime of anything we sign. */
  signingRetainSeconds: number;
  /** How long a retired cookie key still verifies cookies: the absolute session lifetime. */
  cookieRetainSeconds: number;
}

/** The settings the rotation policy is made from (a part of Config). */
export interface RotationSettings {
  ttl: { accessToken: number; idToken: number; session: number };
  keys: { rotationIntervalSeconds: number; prepublishSeconds: number };
  clockToleranceSeconds: number;
}

/** The policy from settings; a retired signing key outlives the longest-lived token any API may get. */
export async function rotationPolicy(db: Db, config: RotationSettings): Promise<RotationPolicy> {
  // 300 s: the revocation feed's own bearer tokens (oidc/resources.ts).
  const longestToken = Math.max(config.ttl.accessToken, config.ttl.idToken, 300, await longestAccessTokenTtl(db));
  return {
    intervalSeconds: config.keys.rotationIntervalSeconds,
    prepublishSeconds: config.keys.prepublishSeconds,
    signingRetainSeconds: longestToken + config.clockToleranceSeconds,
    cookieRetainSeconds: config.ttl.session,
  };
}

/**
 * `scheduled` publishes a next key now and lets it sign after the pre-publication window; `now` makes a
 * key sign at once (the old one stays published until its tokens expire); `emergency` does the same and
 * stops publishing the old key at once, so everything it signed stops validating (a compromised key).
 */
export type RotationMode = 'scheduled' | 'now' | 'emergency';

export interface KeyChange {
  kid: string;
  purpose: KeyPurpose;
  alg: string | null;
  change: 'created' | 'staged' | 'activated' | 'retired' | 'removed';
}

const sealContext = (kid: string) => `key:${kid}`;
const inGroup = (group: KeyGroup) => (k: KeyRow) => k.purpose === group.purpose && (group.purpose === 'cookie' || k.alg === group.alg);
const later = (date: Date, seconds: number) => new Date(date.getTime() + seconds * 1000);

async function generateKey(box: SecretBox, group: KeyGroup): Promise<Omit<NewKey, 'state'>> {
  if (group.purpose === 'cookie') {
    const kid = `cookie-${randomBytes(8).toString('hex')}`;
    return { kid, purpose: 'cookie', alg: null, publicJwk: null, privateSealed: box.seal(randomBytes(32).toString('base64url'), sealContext(kid)) };
  }
  const { alg } = group;
  // jose only where a key is made: listing keys (a CLI command on its own connection) does without it.
  const { calculateJwkThumbprint, exportJWK, generateKeyPair } = await import('jose');
  const options = alg === 'RS256' ? { modulusLength: 2048, extractable: true } : { extractable: true };
  const { privateKey, publicKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { ...options, crv: 'Ed25519' } : options);
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const meta = { kid, alg, use: 'sig' };
  const privateJwk = { ...(await exportJWK(privateKey)), ...meta };
  return { kid, purpose: 'signing', alg, publicJwk: { ...publicJwk, ...meta }, privateSealed: box.seal(JSON.stringify(privateJwk), sealContext(kid)) };
}

/** One life-cycle step applied inside the key lock; records what changed in the audit log too. */
function changeRecorder(trx: Db, changes: KeyChange[]) {
  return async (key: Pick<KeyRow, 'kid' | 'purpose' | 'alg'>, change: KeyChange['change'], actor: string) => {
    changes.push({ kid: key.kid, purpose: key.purpose, alg: key.alg, change });
    await insertAuditEvent(trx, { type: `key.${change}`, details: { kid: key.kid, purpose: key.purpose, alg: key.alg, by: actor } });
    // Every process reloads its key set when this commits (PostgreSQL delivers one notice per transaction).
    await noticeChange(trx, { kind: 'keys' });
  };
}

/**
 * Creates whatever keys are missing. Safe when several processes start at once (advisory lock). The missing
 * keys are generated together (on a first start all four, RSA the slowest: the others cost nothing more).
 */
export async function ensureKeys(db: Db, box: SecretBox): Promise<{ created: string[] }> {
  return withKeyLock(db, async (trx) => {
    const keys = await listKeys(trx);
    const missing = KEY_GROUPS.filter((group) => !keys.some((k) => inGroup(group)(k) && k.state === 'current'));
    const generated = await Promise.all(missing.map((group) => generateKey(box, group)));
    const created: string[] = [];
    for (const [i, key] of generated.entries()) {
      await insertKey(trx, { ...key, state: 'current' });
      created.push(`${missing[i]!.alg ?? missing[i]!.purpose}:${key.kid}`);
    }
    return { created };
  });
}

interface Step {
  trx: Db;
  box: SecretBox;
  policy: RotationPolicy;
  now: Date;
  record: ReturnType<typeof changeRecorder>;
  actor: string;
}

const retainSeconds = (group: KeyGroup, policy: RotationPolicy) =>
  group.purpose === 'cookie' ? policy.cookieRetainSeconds : policy.signingRetainSeconds;

/** The group's next key (an already-published one if there is, so caches know it) starts signing now. */
async function activate(step: Step, group: KeyGroup, keys: KeyRow[], mode: Exclude<RotationMode, 'scheduled'>): Promise<void> {
  const { trx, now, record, actor } = step;
  const current = keys.filter((k) => k.state === 'current');
  let next = keys.find((k) => k.state === 'next');
  if (!next) {
    const key = await generateKey(step.box, group);
    await insertKey(trx, { ...key, state: 'next' });
    next = { ...key, state: 'next' } as KeyRow;
    await record(next, 'created', actor);
  }
  await makeKeyCurrent(trx, next.kid, now);
  await record(next, 'activated', actor);
  for (const old of current) {
    if (mode === 'emergency') {
      await deleteKey(trx, old.kid);
      await record(old, 'removed', actor);
    } else {
      await retireKeyRow(trx, old.kid, now, later(now, retainSeconds(group, step.policy)));
      await record(old, 'retired', actor);
    }
  }
}

/** Publishes a next key for the group that will sign from `activatesAt` on. */
async function stage(step: Step, group: KeyGroup, activatesAt: Date): Promise<void> {
  const key = await generateKey(step.box, group);
  await insertKey(step.trx, { ...key, state: 'next', activatesAt });
  await step.record(key, 'staged', step.actor);
}

export type ScheduledAction = { kind: 'none' } | { kind: 'activate' } | { kind: 'stage'; activatesAt: Date };

/**
 * What the schedule asks of one group's keys at `now` (a pure rule; the clock is the caller's): activate the
 * next key when there is no current one or the next one's time has come; stage a next key once the current
 * one is due within the pre-publication window; otherwise nothing.
 */
export function scheduledAction(keys: ReadonlyArray<Pick<KeyRow, 'state' | 'activatesAt' | 'activatedAt' | 'createdAt'>>, policy: Pick<RotationPolicy, 'intervalSeconds' | 'prepublishSeconds'>, now: Date): ScheduledAction {
  const current = keys.find((k) => k.state === 'current');
  const next = keys.find((k) => k.state === 'next');
  if (!current) return { kind: 'activate' };
  if (next) return next.activatesAt && next.activatesAt <= now ? { kind: 'activate' } : { kind: 'none' };
  const due = later(current.activatedAt ?? current.createdAt, policy.intervalSeconds);
  const earliest = later(now, policy.prepublishSeconds);
  // Published for the whole pre-publication window before it signs, however late this check runs.
  return earliest >= due ? { kind: 'stage', activatesAt: new Date(Math.max(due.getTime(), earliest.getTime())) } : { kind: 'none' };
}

async function scheduledStep(step: Step, group: KeyGroup, keys: KeyRow[]): Promise<void> {
  const action = scheduledAction(keys, step.policy, step.now);
  if (action.kind === 'activate') await activate(step, group, keys, 'now');
  if (action.kind === 'stage') await stage(step, group, action.activatesAt);
}

/**
 * The scheduled rotation, run by every process on its poll; the advisory lock makes exactly one of them
 * act (the others get undefined and simply pick up the result on their next poll).
 */
export async function runScheduledRotation(db: Db, box: SecretBox, policy: RotationPolicy, now: Date): Promise<KeyChange[] | undefined> {
  return tryWithKeyLock(db, async (trx) => {
    const changes: KeyChange[] = [];
    const step: Step = { trx, box, policy, now, record: changeRecorder(trx, changes), actor: 'schedule' };
    const keys = await listKeys(trx);
    for (const group of KEY_GROUPS) await scheduledStep(step, group, keys.filter(inGroup(group)));
    for (const kid of await deleteExpiredRetiredKeys(trx, now)) {
      const key = keys.find((k) => k.kid === kid)!;
      changes.push({ kid, purpose: key.purpose, alg: key.alg, change: 'removed' });
      await insertAuditEvent(trx, { type: 'key.removed', details: { kid, purpose: key.purpose, alg: key.alg, by: 'schedule' } });
    }
    return changes;
  });
}

function selectGroups(selection: { alg?: string | undefined; purpose?: KeyPurpose | undefined }): KeyGroup[] {
  if (selection.alg !== undefined && !(SIGNING_ALGORITHMS as readonly string[]).includes(selection.alg)) {
    throw new ValidationError(`alg must be one of ${SIGNING_ALGORITHMS.join(', ')}`);
  }
  return KEY_GROUPS.filter((g) => (!selection.purpose || g.purpose === selection.purpose) && (!selection.alg || g.alg === selection.alg));
}

/** An operator's rotation (CLI, admin API) of every key group, one purpose, or one algorithm. */
export async function rotateKeys(
  db: Db,
  box: SecretBox,
  policy: RotationPolicy,
  request: { mode: RotationMode; alg?: string | undefined; purpose?: KeyPurpose | undefined; actor?: string | undefined },
  now: Date,
): Promise<KeyChange[]> {
  const groups = selectGroups(request);
  return withKeyLock(db, async (trx) => {
    const changes: KeyChange[] = [];
    const step: Step = { trx, box, policy, now, record: changeRecorder(trx, changes), actor: request.actor ?? 'operator' };
    const keys = await listKeys(trx);
    for (const group of groups) {
      const own = keys.filter(inGroup(group));
      if (request.mode !== 'scheduled') await activate(step, group, own, request.mode);
      else if (!own.some((k) => k.state === 'next')) await stage(step, group, later(now, policy.prepublishSeconds));
    }
    return changes;
  });
}

/**
 * Retires one key. A current key hands over to a successor at once; with `immediately` (or for a key that
 * never signed) it also stops being published at once.
 */
export async function retireKey(
  db: Db,
  box: SecretBox,
  policy: RotationPolicy,
  request: { kid: string; immediately?: boolean | undefined; actor?: string | undefined },
  now: Date,
): Promise<KeyChange[]> {
  return withKeyLock(db, async (trx) => {
    const key = await findKey(trx, request.kid);
    if (!key) throw new NotFound(`no key "${request.kid}"`);
    const changes: KeyChange[] = [];
    const step: Step = { trx, box, policy, now, record: changeRecorder(trx, changes), actor: request.actor ?? 'operator' };
    const group = KEY_GROUPS.find((g) => inGroup(g)(key))!;
    if (key.state === 'current') {
      const own = (await listKeys(trx)).filter(inGroup(group)).filter((k) => k.state !== 'current' || k.kid === key.kid);
      await activate(step, group, own, request.immediately ? 'emergency' : 'now');
    } else if (key.state === 'next' || request.immediately) {
      await deleteKey(trx, key.kid);
      await step.record(key, 'removed', step.actor);
    } else {
      throw new ValidationError(`key "${key.kid}" is already retired; it is removed at ${key.removeAfter?.toISOString()} (use immediately to remove it now)`);
    }
    return changes;
  });
}

/** Keys as shown to operators: never a private part. */
export function publicKey(k: KeyRow) {
  const iso = (d: Date | null) => (d ? d.toISOString() : null);
  return {
    kid: k.kid,
    purpose: k.purpose,
    alg: k.alg,
    state: k.state,
    created_at: iso(k.createdAt),
    activated_at: iso(k.activatedAt),
    activates_at: iso(k.activatesAt),
    retired_at: iso(k.retiredAt),
    remove_after: iso(k.removeAfter),
  };
}

export async function listKeyStatus(db: Db) {
  return (await listKeys(db)).map(publicKey);
}

export { keySetFingerprint };

/** Private JWKs for the engine, current keys first (the engine signs with the first key of an algorithm). */
export async function loadSigningKeys(db: Db, box: SecretBox): Promise<JWK[]> {
  const rows = await listKeys(db, 'signing');
  return rows.map((row) => JSON.parse(box.open(row.privateSealed, sealContext(row.kid))) as JWK);
}

/** Cookie-signing secrets, the signing one first (Koa/keygrip verify with any, sign with the first). */
export async function loadCookieKeys(db: Db, box: SecretBox): Promise<string[]> {
  const rows = await listKeys(db, 'cookie');
  return rows.map((row) => box.open(row.privateSealed, sealContext(row.kid)));
}
