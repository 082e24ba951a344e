// Why: two-factor sign-in (issue 17). `account_factors` holds each person's second factors (an authenticator
// app's TOTP secret, sealed with the instance secret and bound to its row; `last_step` is the last accepted
// RFC 6238 time step, so a code is used once); `recovery_codes` holds single-use recovery codes, hashed.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('account_factors', (t) => {
    t.text('id').primary();
    t.text('account_id').notNullable().references('id').inTable('accounts').onDelete('CASCADE');
    t.text('kind').notNullable();
    t.text('label').notNullable().defaultTo('');
    t.text('secret_sealed');
    t.bigInteger('last_step').notNullable().defaultTo(-1);
    t.timestamp('confirmed_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['account_id']);
  });
  await knex.schema.createTable('recovery_codes', (t) => {
    t.text('account_id').notNullable().references('id').inTable('accounts').onDelete('CASCADE');
    t.text('code_hash').notNullable();
    t.timestamp('used_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['account_id', 'code_hash']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('recovery_codes');
  await knex.schema.dropTable('account_factors');
}
