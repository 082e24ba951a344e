// Why: accounts, sign-in pages and SSO need an audit trail, remembered consent, and brute-force counters
// shared by every server process (rate-limiter-flexible's PostgreSQL store, table created here so the
// schema stays in migrations).
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('audit_events', (t) => {
    t.bigIncrements('id');
    t.timestamp('at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.text('type').notNullable();
    t.text('account_id');
    t.text('client_id');
    t.text('ip');
    t.text('user_agent');
    t.jsonb('details').notNullable().defaultTo('{}');
    t.index(['at']);
    t.index(['type', 'at']);
    t.index(['account_id', 'at']);
  });

  // Consent the person asked us to remember; other grants still carry tokens but do not skip consent.
  await knex.schema.alterTable('grants', (t) => {
    t.boolean('consent_remembered').notNullable().defaultTo(false);
  });

  await knex.schema.createTable('login_attempts', (t) => {
    t.string('key', 255).primary();
    t.integer('points').notNullable().defaultTo(0);
    t.bigInteger('expire');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('login_attempts');
  await knex.schema.alterTable('grants', (t) => {
    t.dropColumn('consent_remembered');
  });
  await knex.schema.dropTableIfExists('audit_events');
}
