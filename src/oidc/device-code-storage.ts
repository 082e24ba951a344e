// A device code is a bearer value (whoever holds it polls for the tokens, RFC 8628 §5.2), so like every
// token it is stored only as its hash. But the engine needs it back in two places where it has no code in
// hand: a DeviceCode found by its user code (the user-code page), which it then saves under its id, and an
// Interaction, which names the DeviceCode it belongs to (`deviceCode`). In both, the id is kept sealed
// (AES-256-GCM, domain/secret-box.ts) and bound to its row — the DeviceCode's to its user code, the
// Interaction's to the interaction id — so a dump holds no usable code and a ciphertext moved to another
// row does not open.
import type { Payload } from '../store/engine-records.ts';
import type { SecretBox } from '../domain/secret-box.ts';

const SEALED_ID = 'tessera_sealed_id';
const SEALED_DEVICE_CODE = 'tessera_sealed_device_code';

const deviceCodeContext = (userCode: string) => `device_code:${userCode}`;
const interactionContext = (interactionId: string) => `interaction_device_code:${interactionId}`;

/** The payload as stored: the DeviceCode's own id, or an Interaction's device code, sealed. */
export function sealDeviceCodes(box: SecretBox, model: string, id: string, payload: Payload): Payload {
  if (model === 'DeviceCode' && typeof payload.userCode === 'string') {
    return { ...payload, [SEALED_ID]: box.seal(id, deviceCodeContext(payload.userCode)) };
  }
  if (model === 'Interaction' && typeof payload.deviceCode === 'string') {
    const { deviceCode, ...rest } = payload;
    return { ...rest, [SEALED_DEVICE_CODE]: box.seal(deviceCode, interactionContext(id)) };
  }
  return payload;
}

/** The payload as the engine expects it back when read by id. */
export function openDeviceCodes(box: SecretBox, model: string, id: string, payload: Payload | undefined): Payload | undefined {
  if (!payload) return payload;
  if (model === 'DeviceCode' && SEALED_ID in payload) {
    const { [SEALED_ID]: _sealed, ...rest } = payload;
    return rest;
  }
  if (model === 'Interaction' && typeof payload[SEALED_DEVICE_CODE] === 'string') {
    const { [SEALED_DEVICE_CODE]: sealed, ...rest } = payload;
    return { ...rest, deviceCode: box.open(sealed as string, interactionContext(id)) };
  }
  return payload;
}

/** A DeviceCode found by its (normalised) user code, with its id opened for the engine to save it under. */
export function openFoundByUserCode(box: SecretBox, userCode: string, payload: Payload | undefined): Payload | undefined {
  const sealed = payload?.[SEALED_ID];
  if (!payload || typeof sealed !== 'string') return undefined;
  const { [SEALED_ID]: _sealed, ...rest } = payload;
  try {
    return { ...rest, jti: box.open(sealed, deviceCodeContext(userCode)) };
  } catch {
    // Sealed under another user code (a copied row) or another secret: not this code.
    return undefined;
  }
}
