// Global set-up (vitest.config.ts): once per run, an in-memory embedded database is created and migrated,
// and its image written to a temporary file; every in-memory test server then starts from that image
// (store/db.ts memoryImage) instead of spending a second creating its own cluster. Each server still runs
// the migration check, and the image is made by the same code as the pre-built image of a first start on
// disk (store/make-embedded-image.ts), so nothing is skipped but initdb.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { makeEmbeddedImage } from '../../src/store/make-embedded-image.ts';

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
  const dir = mkdtempSync(join(tmpdir(), 'tessera-image-'));
  const file = join(dir, 'image.tar');
  writeFileSync(file, Buffer.from(await (await makeEmbeddedImage()).arrayBuffer()));
  project.provide('memoryImagePath', file);
  return () => rmSync(dir, { recursive: true, force: true });
}
