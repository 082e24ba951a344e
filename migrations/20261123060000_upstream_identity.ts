// Why: people sign in through upstream identity providers (any OpenID Connect provider, Google, GitHub).
// Providers are configured in the database (client secret sealed like every other); a person's upstream
// identity is linked to a local account by the upstream's stable subject, never by email.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('upstream_providers', (t) => {
    t.text('id').primary();
    t.text('kind').notNullable();
    t.text('display_name').notNullable();
    t.text('issuer');
    t.text('client_id').notNullable();
    t.text('client_secret_sealed');
    t.text('scopes').notNullable();
    t.jsonb('claim_mapping').notNullable().defaultTo('{}');
    t.text('provisioning').notNullable();
    t.jsonb('default_roles').notNullable().defaultTo('[]');
    t.boolean('enabled').notNullable().defaultTo(true);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.schema.createTable('account_identities', (t) => {
    t.text('upstream_id').notNullable().references('id').inTable('upstream_providers').onDelete('CASCADE');
    t.text('subject').notNullable();
    t.text('account_id').notNullable().references('id').inTable('accounts').onDelete('CASCADE');
    t.text('email');
    t.timestamp('linked_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('last_used_at', { useTz: true });
    t.primary(['upstream_id', 'subject']);
    t.index(['account_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('account_identities');
  await knex.schema.dropTableIfExists('upstream_providers');
}
