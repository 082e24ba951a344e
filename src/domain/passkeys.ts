// Passkeys (W3C WebAuthn Level 3) as rules: who the relying party is, what a browser's credential JSON may
// look like, what a counter says about a clone, and which RFC 8176 `amr` values a passkey proves.
// Pure: the ceremonies themselves run in services/passkeys.ts with @simplewebauthn/server.
import { z } from 'zod';

/** How long a ceremony's challenge stays good (WebAuthn §15.1 recommends 5 minutes for UV ceremonies). */
export const CHALLENGE_TTL_SECONDS = 300;

export interface RelyingParty {
  /** The RP ID: the issuer's host name (WebAuthn §5.1.4: a registrable domain suffix of the origin's host). */
  id: string;
  /** The only origin a ceremony may come from: the issuer's. */
  origin: string;
  /** What authenticators show next to the credential. */
  name: string;
}

/**
 * The relying party of an issuer. Credentials are bound to the RP ID: when the issuer's host changes,
 * passkeys registered under the old host no longer work (docs/accounts.md, "Passkeys").
 */
export function relyingPartyOf(issuer: string): RelyingParty {
  const url = new URL(issuer);
  return { id: url.hostname, origin: url.origin, name: url.hostname };
}

const b64url = z.string().max(16_384).regex(/^[A-Za-z0-9_-]*$/, 'not base64url');
const shortB64url = b64url.max(1_366); // credential IDs are at most 1023 bytes (WebAuthn §4, Credential ID)

/** What a PublicKeyCredential's JSON holds around its `response`, for either ceremony (WebAuthn §5.1). */
const publicKeyCredentialFields = {
  id: shortB64url.min(1),
  rawId: shortB64url.min(1),
  type: z.literal('public-key'),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
};

/** navigator.credentials.create() as JSON (WebAuthn §5.1, RegistrationResponseJSON), with sizes bounded. */
export const registrationResponseSchema = z.object({
  ...publicKeyCredentialFields,
  response: z.object({
    clientDataJSON: b64url.min(1),
    attestationObject: b64url.min(1),
    transports: z.array(z.string().max(32)).max(10).optional(),
  }),
});

/** navigator.credentials.get() as JSON (WebAuthn §5.1, AuthenticationResponseJSON), with sizes bounded. */
export const authenticationResponseSchema = z.object({
  ...publicKeyCredentialFields,
  response: z.object({
    clientDataJSON: b64url.min(1),
    authenticatorData: b64url.min(1),
    signature: b64url.min(1),
    userHandle: b64url.optional(),
  }),
});

export type RegistrationResponse = z.output<typeof registrationResponseSchema>;
export type AuthenticationResponse = z.output<typeof authenticationResponseSchema>;

/** The JSON a page posted in its `credential` field, parsed by `schema`; undefined when it is not that. */
export function parseCredentialJson<T>(schema: z.ZodType<T>, text: string): T | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/** The transports WebAuthn defines (§5.8.4); anything else a browser reports is dropped. */
const TRANSPORTS = new Set(['ble', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb']);
export const knownTransports = (transports: readonly string[] | undefined): string[] => [...new Set((transports ?? []).filter((t) => TRANSPORTS.has(t)))];

/**
 * WebAuthn §6.1.1 signature counter: once an authenticator has counted (the stored value is not zero), a
 * genuine one always presents a larger value. Anything else means the credential's private key exists twice.
 */
export function isClonedCounter(stored: number, presented: number): boolean {
  return stored > 0 && presented <= stored;
}

/**
 * RFC 8176 `amr` of a verified passkey assertion: `swk` when the credential is backed up (synced between
 * devices: a software-held key), `hwk` when it is bound to one authenticator; `user` for the user-presence
 * test every assertion carries. Passwordless sign-in adds `mfa` (the caller does): user verification is a
 * second factor on the authenticator — docs/accounts.md explains why `user` and not `pin`.
 */
export function passkeyAmr(backedUp: boolean): string[] {
  return [backedUp ? 'swk' : 'hwk', 'user'];
}

/** A passkey's name as a person types it: trimmed, 1–64 characters, no control characters. */
export function checkPasskeyName(name: string): { ok: true; name: string } | { ok: false; problem: string } {
  const trimmed = name.trim();
  if (trimmed.length === 0) return { ok: false, problem: 'give the passkey a name' };
  if ([...trimmed].length > 64) return { ok: false, problem: 'a passkey name has at most 64 characters' };
  if (/\p{Cc}/u.test(trimmed)) return { ok: false, problem: 'a passkey name cannot hold control characters' };
  return { ok: true, name: trimmed };
}

/** The WebAuthn user handle of an account (§14.6.1: opaque, no personal information): its id's bytes. */
export const userHandleOf = (accountId: string): Uint8Array<ArrayBuffer> => new Uint8Array(Buffer.from(accountId, 'utf8'));
