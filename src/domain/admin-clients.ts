// The first admin client: `tessera admin bootstrap` registers a client_credentials client for the admin API
// (scope admin:*, default resource the admin audience) and shows its secret once.
import type { Db } from '../store/db.ts';
import { findEnabledClientIdsWithAnyScope } from '../store/clients.ts';
import { insertAuditEvent } from '../store/audit.ts';
import { Conflict } from '../errors.ts';
import { createClient, type ClientMetadata } from './clients.ts';
import type { SecretBox } from './secret-box.ts';
import { ADMIN_ALL, ADMIN_SCOPES, adminAudience } from './admin-scopes.ts';

export async function bootstrapAdminClient(db: Db, box: SecretBox, issuer: string, options: { force?: boolean | undefined } = {}): Promise<ClientMetadata> {
  const existing = await findEnabledClientIdsWithAnyScope(db, ADMIN_SCOPES);
  if (existing.length > 0 && !options.force) {
    throw new Conflict(`an admin client already exists (${existing.join(', ')}); use it, or force the creation of another`);
  }
  const client = await createClient(db, box, {
    name: 'Tessera admin',
    grantTypes: ['client_credentials'],
    scope: ADMIN_ALL,
    defaultResource: adminAudience(issuer),
  });
  await insertAuditEvent(db, { type: 'admin.bootstrap', clientId: client.client_id, details: { forced: existing.length > 0 } });
  return client;
}
