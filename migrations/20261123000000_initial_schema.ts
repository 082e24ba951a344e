// Why: the first schema — everything the engine stores (clients, grants, sessions, interactions, tokens),
// revocations, accounts, and encrypted keys. Bearer values (token ids, session ids) are stored only as
// SHA-256 hashes so a database dump cannot be replayed as tokens or cookies.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('clients', (t) => {
    t.text('id').primary();
    t.jsonb('metadata').notNullable();
    t.text('secret_sealed');
    t.boolean('disabled').notNullable().defaultTo(false);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('grants', (t) => {
    t.text('id').primary();
    t.text('account_id');
    t.text('client_id').notNullable();
    t.jsonb('payload').notNullable();
    t.timestamp('expires_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['account_id']);
    t.index(['client_id']);
    t.index(['expires_at']);
  });

  await knex.schema.createTable('sessions', (t) => {
    t.text('id_hash').primary();
    t.text('uid').notNullable().unique();
    t.text('account_id');
    t.jsonb('payload').notNullable();
    t.timestamp('expires_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['account_id']);
    t.index(['expires_at']);
  });

  await knex.schema.createTable('interactions', (t) => {
    t.text('id_hash').primary();
    t.jsonb('payload').notNullable();
    t.timestamp('expires_at', { useTz: true });
    t.index(['expires_at']);
  });

  // Authorization codes, refresh tokens, opaque access tokens, client-credentials tokens, device codes,
  // registration/initial access tokens, PAR requests, replay-detection entries: one table, keyed by model.
  await knex.schema.createTable('tokens', (t) => {
    t.text('id_hash').primary();
    t.text('model').notNullable();
    t.text('grant_id');
    t.text('user_code_hash');
    t.jsonb('payload').notNullable();
    t.timestamp('consumed_at', { useTz: true });
    t.timestamp('expires_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['grant_id']);
    t.index(['expires_at']);
  });
  await knex.raw('CREATE UNIQUE INDEX tokens_user_code_hash_idx ON tokens (user_code_hash) WHERE user_code_hash IS NOT NULL');

  // Revoked grants and (later) JWT access-token ids, kept until the tokens they cover have expired.
  await knex.schema.createTable('revocations', (t) => {
    t.bigIncrements('id');
    t.text('kind').notNullable();
    t.text('value').notNullable();
    t.text('reason').notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['kind', 'value']);
    t.index(['expires_at']);
  });

  await knex.schema.createTable('accounts', (t) => {
    t.text('id').primary();
    t.text('username').notNullable();
    t.text('email');
    t.boolean('email_verified').notNullable().defaultTo(false);
    t.text('name');
    t.text('password_hash').notNullable();
    t.boolean('disabled').notNullable().defaultTo(false);
    t.jsonb('roles').notNullable().defaultTo('[]');
    t.jsonb('groups').notNullable().defaultTo('[]');
    t.timestamp('password_changed_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw('CREATE UNIQUE INDEX accounts_username_lower_idx ON accounts (lower(username))');

  // Signing keys (one per algorithm) and cookie-signing keys; private parts sealed with the instance secret.
  await knex.schema.createTable('keys', (t) => {
    t.text('kid').primary();
    t.text('purpose').notNullable();
    t.text('alg');
    t.text('state').notNullable();
    t.jsonb('public_jwk');
    t.text('private_sealed').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('activated_at', { useTz: true });
    t.timestamp('retired_at', { useTz: true });
    t.index(['purpose', 'state']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['keys', 'accounts', 'revocations', 'tokens', 'interactions', 'sessions', 'grants', 'clients']) {
    await knex.schema.dropTableIfExists(table);
  }
}
