// Read-change-write operations on one row, run at once, must not lose a change: each runs in a transaction
// holding the row (domain/accounts.ts changeRoles, domain/clients.ts updateClient). Before, ten parallel role
// additions on PostgreSQL kept only some of the ten roles.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, migrateToLatest, type Db } from '../../src/store/db.ts';
import { changeRoles, createAccount, requireAccount } from '../../src/domain/accounts.ts';
import { createClient, requireClient, updateClient } from '../../src/domain/clients.ts';
import { createSecretBox } from '../../src/domain/secret-box.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { TEST_SECRET } from '../helpers/server.ts';

let database: TestDatabase;
let db: Db;
const hasher = { hash: async (p: string) => `plain:${p}`, verify: async (h: string, p: string) => h === `plain:${p}`, needsRehash: () => false };

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDatabase({ databaseUrl: database.databaseUrl, dataDir: ':memory:' });
  await migrateToLatest(db);
});

afterAll(async () => {
  await db?.destroy();
  await database?.drop();
});

describe('concurrent changes to one row', () => {
  it('keeps every role of ten role changes made at once', async () => {
    const account = await createAccount(db, hasher as never, { username: 'parallel', password: 'a long enough password' });
    const roles = Array.from({ length: 10 }, (_, i) => `role-${i}`);
    await Promise.all(roles.map((role) => changeRoles(db, account.id, { add: [role] })));
    expect((await requireAccount(db, account.id)).roles).toEqual([...roles].sort());
  });

  it('keeps the last of concurrent client updates whole (no mix of two versions), and audits each', async () => {
    const box = createSecretBox(TEST_SECRET);
    const client = await createClient(db, box, { name: 'parallel', redirectUris: ['https://app.example.com/cb'] });
    const names = Array.from({ length: 8 }, (_, i) => `name ${i}`);
    await Promise.all(names.map((name, i) => updateClient(db, client.client_id, { name, logoUri: `https://app.example.com/logo-${i}.png` })));
    const after = (await requireClient(db, client.client_id)).metadata;
    const i = names.indexOf(String(after.client_name));
    expect(i).toBeGreaterThanOrEqual(0);
    expect(after.logo_uri).toBe(`https://app.example.com/logo-${i}.png`);
    const audited = await db('audit_events').where({ type: 'client.updated', client_id: client.client_id }).count('* as n');
    expect(Number((audited as Array<{ n: unknown }>)[0]!.n)).toBe(names.length);
  });
});
