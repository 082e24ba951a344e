// Why: the admin API lists clients, users, grants and sessions page by page in (created_at, id) order
// (keyset pagination, store/pagination.ts) and filters the audit trail by client; these indexes answer each
// page directly instead of sorting the table.
import type { Knex } from 'knex';

const INDEXES: Array<[table: string, columns: string[]]> = [
  ['clients', ['created_at', 'id']],
  ['accounts', ['created_at', 'id']],
  ['grants', ['account_id', 'created_at', 'id']],
  ['grants', ['client_id', 'created_at', 'id']],
  ['sessions', ['created_at', 'uid']],
  ['sessions', ['account_id', 'created_at', 'uid']],
  ['audit_events', ['client_id', 'at']],
];

export async function up(knex: Knex): Promise<void> {
  for (const [table, columns] of INDEXES) {
    await knex.schema.alterTable(table, (t) => {
      t.index(columns);
    });
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const [table, columns] of INDEXES) {
    await knex.schema.alterTable(table, (t) => {
      t.dropIndex(columns);
    });
  }
}
