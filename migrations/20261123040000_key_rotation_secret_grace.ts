// Why: keys rotate on a schedule (a `next` key is published before it signs; a `retired` one stays published
// until the tokens it signed have expired), and a rotated client secret keeps working for a grace period.
// The previous secret is kept only as a SHA-256 hash: it is never needed again except to compare.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('keys', (t) => {
    // For `next` keys: when the key starts signing. For `retired` keys: when it stops being published.
    t.timestamp('activates_at', { useTz: true });
    t.timestamp('remove_after', { useTz: true });
  });
  await knex.schema.alterTable('clients', (t) => {
    t.text('previous_secret_hash');
    t.timestamp('previous_secret_expires_at', { useTz: true });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('clients', (t) => {
    t.dropColumn('previous_secret_hash');
    t.dropColumn('previous_secret_expires_at');
  });
  await knex.schema.alterTable('keys', (t) => {
    t.dropColumn('activates_at');
    t.dropColumn('remove_after');
  });
}
