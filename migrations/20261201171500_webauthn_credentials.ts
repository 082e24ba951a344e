// Why: passkeys (WebAuthn, issue 17). A person's registered credentials — public key, signature counter,
// transports, backup flags, a name they chose — and the challenge of each ceremony in progress, kept
// server-side (one row per purpose and binding, taken once, short-lived) so the browser never supplies it.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('webauthn_credentials', (t) => {
    t.text('id').primary();
    t.text('account_id').notNullable().references('id').inTable('accounts').onDelete('CASCADE');
    // The credential ID as the browser reports it (base64url); unique across accounts (WebAuthn §7.1 step 25).
    t.text('credential_id').notNullable().unique();
    t.binary('public_key').notNullable();
    t.bigInteger('counter').notNullable().defaultTo(0);
    t.jsonb('transports').notNullable().defaultTo('[]');
    t.boolean('backup_eligible').notNullable().defaultTo(false);
    t.boolean('backup_state').notNullable().defaultTo(false);
    t.text('name').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('last_used_at', { useTz: true });
  });
  await knex.raw('CREATE INDEX webauthn_credentials_account_idx ON webauthn_credentials (account_id, created_at)');

  await knex.schema.createTable('webauthn_challenges', (t) => {
    // `<purpose>:<binding>`: a new ceremony for the same session or interaction replaces the one before.
    t.text('id').primary();
    t.text('challenge').notNullable();
    t.text('account_id');
    t.timestamp('expires_at', { useTz: true }).notNullable();
  });
  await knex.raw('CREATE INDEX webauthn_challenges_expires_idx ON webauthn_challenges (expires_at)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('webauthn_challenges');
  await knex.schema.dropTable('webauthn_credentials');
}
