// Why: usernames were compared by the database's lower() (locale-dependent: 'İRİNA' = 'irina') while the
// sign-in lock-out keyed them by JavaScript's toLowerCase() ('İRİNA' ≠ 'irina'), so a locked account signed
// in under another spelling. Every comparison now uses one form computed by the application
// (src/domain/usernames.ts), stored here as username_key with a unique index; lower(username) goes.
import type { Knex } from 'knex';

// The form as of this migration, copied rather than imported so that this migration keeps its meaning if
// the application's rule ever changes (a change of rule comes with a migration of its own).
const usernameKey = (username: string) => username.normalize('NFKC').trim().replace(/\u0130/g, 'I').toLowerCase();

const BATCH = 1000;

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('accounts', (t) => {
    t.text('username_key');
  });

  const rows = ((await knex('accounts').select('id', 'username').orderBy('id')) as Array<{ id: string; username: string }>).map((r) => ({
    ...r,
    key: usernameKey(r.username),
  }));
  const holders = new Map<string, string[]>();
  for (const r of rows) holders.set(r.key, [...(holders.get(r.key) ?? []), r.username]);
  // Two names the old index told apart may be one name now (e.g. 'ｉｒｉｎａ' and 'irina'): an operator decides.
  const clashes = [...holders.values()].filter((names) => names.length > 1);
  if (clashes.length > 0) {
    throw new Error(
      `these usernames are the same name once normalized; rename all but one of each group, then migrate again: ${clashes
        .slice(0, 20)
        .map((names) => names.map((n) => JSON.stringify(n)).join(' = '))
        .join('; ')}`,
    );
  }
  for (let i = 0; i < rows.length; i += BATCH) {
    const batch = rows.slice(i, i + BATCH);
    await knex.raw(
      `UPDATE accounts SET username_key = v.key FROM (VALUES ${batch.map(() => '(?::text, ?::text)').join(', ')}) AS v(id, key) WHERE accounts.id = v.id`,
      batch.flatMap((r) => [r.id, r.key]),
    );
  }

  await knex.raw('ALTER TABLE accounts ALTER COLUMN username_key SET NOT NULL');
  await knex.raw('CREATE UNIQUE INDEX accounts_username_key_idx ON accounts (username_key)');
  await knex.raw('DROP INDEX accounts_username_lower_idx');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('CREATE UNIQUE INDEX accounts_username_lower_idx ON accounts (lower(username))');
  await knex.raw('DROP INDEX accounts_username_key_idx');
  await knex.schema.alterTable('accounts', (t) => {
    t.dropColumn('username_key');
  });
}
