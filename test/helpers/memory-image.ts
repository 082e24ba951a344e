// Global set-up (vitest.config.ts): once per run, an in-memory embedded database is created and migrated,
// and its image written to a temporary file; every in-memory test server then starts from that image
// (store/db.ts memoryImage) instead of spending a second creating its own cluster. Each server still runs
// the migration check, and the image is made by the same code, so nothing is skipped but initdb.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { createDatabase, migrateToLatest } from '../../src/store/db.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The image file, or '' when the run is on PostgreSQL. */
    memoryImagePath: string;
  }
}

export default async function setup(project: TestProject) {
  if (process.env.DATABASE_URL) {
    project.provide('memoryImagePath', '');
    return;
  }
  const db = createDatabase({ databaseUrl: undefined, dataDir: ':memory:' });
  const dir = mkdtempSync(join(tmpdir(), 'tessera-image-'));
  try {
    await migrateToLatest(db);
    const connection = (await db.client.acquireConnection()) as { dumpDataDir(compression: 'none'): Promise<Blob> };
    const image = await connection.dumpDataDir('none');
    await db.client.releaseConnection(connection);
    const file = join(dir, 'image.tar');
    writeFileSync(file, Buffer.from(await image.arrayBuffer()));
    project.provide('memoryImagePath', file);
  } finally {
    await db.destroy();
  }
  return () => rmSync(dir, { recursive: true, force: true });
}
