// Why: a token exchange (RFC 8693) issues its token from a grant of its own for the exchanging client, made
// from the subject token's grant; `delegated_from` records that parent, so revoking a grant revokes every
// grant delegated from it, down the chain (store/revocations.ts revokeGrants).
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('grants', (t) => {
    t.text('delegated_from');
  });
  await knex.raw('CREATE INDEX grants_delegated_from_idx ON grants (delegated_from) WHERE delegated_from IS NOT NULL');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX grants_delegated_from_idx');
  await knex.schema.alterTable('grants', (t) => {
    t.dropColumn('delegated_from');
  });
}
