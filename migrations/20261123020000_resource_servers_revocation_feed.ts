// Why: APIs that accept our tokens are registered as resource servers (RFC 8707 audiences with their own
// scopes and token format), and every revocation is also appended to a feed with a durable cursor, so an
// API that validates JWTs locally can learn of revocations without calling introspection.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('resource_servers', (t) => {
    t.text('identifier').primary();
    t.text('name').notNullable();
    t.jsonb('scopes').notNullable().defaultTo('[]');
    t.text('access_token_format').notNullable().defaultTo('jwt');
    t.integer('access_token_ttl').notNullable();
    t.text('signing_alg').notNullable().defaultTo('ES256');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('revocation_events', (t) => {
    t.bigIncrements('id');
    t.text('type').notNullable();
    t.text('jti');
    t.text('grant_id');
    t.text('client_id');
    t.text('sub');
    // Audiences the event concerns; NULL means every audience.
    t.jsonb('audiences');
    t.text('reason').notNullable();
    t.timestamp('occurred_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.index(['expires_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('revocation_events');
  await knex.schema.dropTableIfExists('resource_servers');
}
