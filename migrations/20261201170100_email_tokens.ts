// Why: password reset and email verification links are single-use bearer secrets sent by email; only
// their SHA-256 is stored (store/bearer-hash.ts), with the address they were sent to (a link stops working
// when the account's address changes), an expiry and the moment of use. "Forgot password?" also looks
// accounts up by email address, case-insensitively.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('email_tokens', (t) => {
    t.text('token_hash').primary();
    t.text('purpose').notNullable();
    t.text('account_id').notNullable().references('id').inTable('accounts').onDelete('CASCADE');
    t.text('email').notNullable();
    // The sign-in (interaction uid) a reset was asked from, to lead back to it afterwards.
    t.text('interaction_uid');
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('used_at', { useTz: true });
    t.index(['account_id', 'purpose']);
    t.index(['expires_at']);
  });
  await knex.raw('CREATE INDEX accounts_email_lower_idx ON accounts (lower(email)) WHERE email IS NOT NULL');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS accounts_email_lower_idx');
  await knex.schema.dropTableIfExists('email_tokens');
}
