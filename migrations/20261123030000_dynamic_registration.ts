// Why: dynamic client registration (RFC 7591) behind operator-issued initial access tokens, each with its
// own rules (uses, allowed scopes and grant types); the rules of the token a client registered with keep
// applying to its RFC 7592 updates.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('initial_access_token_rules', (t) => {
    // bearerHash of the token value, like its row in `tokens`.
    t.text('id_hash').primary();
    t.integer('max_uses');
    t.integer('uses').notNullable().defaultTo(0);
    t.jsonb('allowed_scopes');
    t.jsonb('allowed_grant_types');
    t.timestamp('expires_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['expires_at']);
  });
  await knex.schema.createTable('client_registration_rules', (t) => {
    t.text('client_id').primary();
    t.jsonb('allowed_scopes');
    t.jsonb('allowed_grant_types');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('client_registration_rules');
  await knex.schema.dropTableIfExists('initial_access_token_rules');
}
