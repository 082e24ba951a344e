// Explicit migration list: the same names are recorded whether we run from TypeScript sources, vitest or
// built JavaScript. Append-only once landed.
import type { Knex } from 'knex';
import * as initialSchema from './20261123000000_initial_schema.ts';
import * as accountsSessionsAudit from './20261123010000_accounts_sessions_audit.ts';
import * as resourceServersRevocationFeed from './20261123020000_resource_servers_revocation_feed.ts';
import * as dynamicRegistration from './20261123030000_dynamic_registration.ts';
import * as keyRotationSecretGrace from './20261123040000_key_rotation_secret_grace.ts';
import * as upstreamIdentity from './20261123060000_upstream_identity.ts';
import * as adminListIndexes from './20261123050000_admin_list_indexes.ts';
import * as usernameKey from './20261123070000_username_key.ts';
import * as delegatedGrants from './20261201160000_delegated_grants.ts';
import * as secondFactors from './20261201170000_second_factors.ts';
import * as emailTokens from './20261201170100_email_tokens.ts';
import * as webauthnCredentials from './20261201171500_webauthn_credentials.ts';

interface Migration {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

export const migrations: ReadonlyArray<readonly [string, Migration]> = [
  ['20261123000000_initial_schema', initialSchema],
  ['20261123010000_accounts_sessions_audit', accountsSessionsAudit],
  ['20261123020000_resource_servers_revocation_feed', resourceServersRevocationFeed],
  ['20261123030000_dynamic_registration', dynamicRegistration],
  ['20261123040000_key_rotation_secret_grace', keyRotationSecretGrace],
  ['20261123050000_admin_list_indexes', adminListIndexes],
  ['20261123060000_upstream_identity', upstreamIdentity],
  ['20261123070000_username_key', usernameKey],
  ['20261201160000_delegated_grants', delegatedGrants],
  ['20261201170000_second_factors', secondFactors],
  ['20261201170100_email_tokens', emailTokens],
  ['20261201171500_webauthn_credentials', webauthnCredentials],
];
