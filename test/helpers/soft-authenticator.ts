// A software WebAuthn authenticator for HTTP-level tests (the real-browser tests use Chromium's virtual
// authenticator instead): an ES256 key pair per credential, "none" attestation, authenticator data and
// client data built byte by byte as WebAuthn §6.1 and §5.8.1 lay them out. Every field a relying party
// checks can be set wrong on purpose: origin, RP ID, challenge, type, flags, counter.
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';

const b64url = (bytes: Uint8Array | Buffer) => Buffer.from(bytes).toString('base64url');
const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest();

export interface SoftCredential {
  id: Buffer;
  key: KeyObject;
  userHandle: string | undefined;
  counter: number;
}

export interface CeremonyOverrides {
  origin?: string;
  rpId?: string;
  challenge?: string;
  type?: string;
  /** User verification performed (UV flag); default: the authenticator's setting. */
  uv?: boolean;
  /** The counter to sign with instead of the next one. */
  counter?: number;
}

export class SoftAuthenticator {
  readonly credentials: SoftCredential[] = [];

  readonly origin: string;
  readonly options: { uv?: boolean; backedUp?: boolean };

  constructor(origin: string, options: { uv?: boolean; backedUp?: boolean } = {}) {
    this.origin = origin;
    this.options = options;
  }

  get rpId(): string {
    return new URL(this.origin).hostname;
  }

  private flags(extra: number, over: CeremonyOverrides): number {
    const uv = over.uv ?? this.options.uv ?? true;
    const backup = this.options.backedUp ? 0x08 | 0x10 : 0; // BE and BS
    return 0x01 | (uv ? 0x04 : 0) | backup | extra; // UP always
  }

  private clientData(type: string, challenge: string, over: CeremonyOverrides): Buffer {
    return Buffer.from(JSON.stringify({ type: over.type ?? type, challenge: over.challenge ?? challenge, origin: over.origin ?? this.origin, crossOrigin: false }));
  }

  /** navigator.credentials.create() for creation options as the server sent them (JSON). */
  register(options: { challenge: string; user: { id: string } }, over: CeremonyOverrides = {}) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const id = randomBytes(32);
    const cose = isoCBOR.encode(
      new Map<number, number | Uint8Array>([
        [1, 2], // kty: EC2
        [3, -7], // alg: ES256
        [-1, 1], // crv: P-256
        [-2, new Uint8Array(Buffer.from(jwk.x!, 'base64url'))],
        [-3, new Uint8Array(Buffer.from(jwk.y!, 'base64url'))],
      ]),
    );
    const counter = over.counter ?? 0;
    const authData = Buffer.concat([
      sha256(over.rpId ?? this.rpId),
      Buffer.from([this.flags(0x40, over)]), // AT: attested credential data follows
      u32(counter),
      Buffer.alloc(16), // AAGUID
      Buffer.from([id.length >> 8, id.length & 0xff]),
      id,
      Buffer.from(cose),
    ]);
    const attestationObject = isoCBOR.encode(new Map<string, string | Map<string, string> | Uint8Array>([['fmt', 'none'], ['attStmt', new Map<string, string>()], ['authData', new Uint8Array(authData)]]));
    const credential: SoftCredential = { id, key: createPrivateKey(privateKey.export({ format: 'pem', type: 'pkcs8' })), userHandle: options.user.id, counter };
    this.credentials.push(credential);
    return {
      id: b64url(id),
      rawId: b64url(id),
      type: 'public-key',
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
      response: {
        clientDataJSON: b64url(this.clientData('webauthn.create', options.challenge, over)),
        attestationObject: b64url(attestationObject),
        transports: ['internal'],
      },
    };
  }

  /** navigator.credentials.get() with the given (or the first) credential. */
  assert(options: { challenge: string }, over: CeremonyOverrides & { credential?: SoftCredential } = {}) {
    const credential = over.credential ?? this.credentials[0];
    if (!credential) throw new Error('no credential to assert with');
    credential.counter = over.counter ?? credential.counter + 1;
    const authData = Buffer.concat([sha256(over.rpId ?? this.rpId), Buffer.from([this.flags(0, over)]), u32(credential.counter)]);
    const clientDataJSON = this.clientData('webauthn.get', options.challenge, over);
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), credential.key);
    return {
      id: b64url(credential.id),
      rawId: b64url(credential.id),
      type: 'public-key',
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
      response: {
        clientDataJSON: b64url(clientDataJSON),
        authenticatorData: b64url(authData),
        signature: b64url(signature),
        ...(credential.userHandle ? { userHandle: credential.userHandle } : {}),
      },
    };
  }
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
