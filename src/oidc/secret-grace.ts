// The engine compares a presented client secret with the one secret it loaded (Client#compareClientSecret
// in oidc-provider's lib/models/client.js). After a rotation, the previous secret must keep working for its
// grace period, and a new secret must work in every process at once (the adapter caches clients for a
// second), so when the engine's comparison fails we ask the database (domain/client-secrets.ts).
import type Provider from 'oidc-provider';
import type { Db } from '../store/db.ts';
import type { SecretBox } from '../domain/secret-box.ts';
import { matchesStoredSecret } from '../domain/client-secrets.ts';

type Compare = (this: { clientId: string }, actual: string) => boolean | Promise<boolean>;

export function acceptRotatedSecrets(provider: Provider, db: Db, box: SecretBox): void {
  // provider.Client is a class of this engine instance only.
  const prototype = provider.Client.prototype as unknown as { compareClientSecret: Compare };
  const engineCompare = prototype.compareClientSecret;
  prototype.compareClientSecret = async function (actual) {
    if (await engineCompare.call(this, actual)) return true;
    return matchesStoredSecret(db, box, this.clientId, actual);
  };
}
