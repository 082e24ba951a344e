// The pre-built embedded cluster ("image"): a PGlite data directory already created (initdb) and migrated,
// made ahead of time by scripts/build-embedded-image.ts (after `npm ci`, and in the Dockerfile). A first
// start on a new data directory is copied from it (store/db.ts) instead of spending most of its time in
// initdb and the migrations (docs/benchmarks.md, "Pre-built embedded cluster"). It holds the schema and
// knex's record of the migrations, nothing of an instance (store/make-embedded-image.ts checks): keys, the
// development secret and every row are made by the first start, as without it.
// The file name carries a key of everything that shapes the image — PGlite's version (its on-disk format),
// knex's (its migration tables) and every migration file's contents — so an image made by other code is
// simply not found, and the first start creates its cluster as before. Correctness never depends on it.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { x as extractTar } from 'tar';
import { makeEntriesPrivate } from './data-dir.ts';

/**
 * Where the image is kept: in the checkout (or /app in the container image), next to what it is made from,
 * never committed (.gitignore). Not under node_modules/.cache, so checkouts sharing one node_modules (a
 * worktree with a link to it) do not share or remove each other's images.
 */
export const DEFAULT_IMAGE_DIR = fileURLToPath(new URL('../../.cache/embedded-image', import.meta.url));

const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));

/** Raised when the way an image is made or read changes, so older images stop matching. */
const IMAGE_FORMAT = 1;

/** What the key is made of; `currentImageInputs()` reads it from the installed packages and the migrations folder. */
export interface ImageInputs {
  pglite: string;
  knex: string;
  /** Every file of migrations/ (index.ts too: it orders them), by name. */
  migrations: ReadonlyArray<{ name: string; content: string }>;
}

/** The image's file name for these inputs: PGlite's version (for people) and a hash of all of them. */
export function imageFileName(inputs: ImageInputs): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ format: IMAGE_FORMAT, pglite: inputs.pglite, knex: inputs.knex }));
  for (const { name, content } of [...inputs.migrations].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    hash.update(`\0${name}\0${createHash('sha256').update(content).digest('hex')}`);
  }
  return `pglite-${inputs.pglite}-${hash.digest('hex').slice(0, 16)}.tar`;
}

export function currentImageInputs(): ImageInputs {
  return {
    pglite: packageVersion('@electric-sql/pglite'),
    knex: packageVersion('knex'),
    migrations: readdirSync(MIGRATIONS_DIR)
      .filter((name) => !name.startsWith('.'))
      .map((name) => ({ name, content: readFileSync(join(MIGRATIONS_DIR, name), 'utf8') })),
  };
}

/** The path of the image this code would copy from `dir`, whether or not it is there. */
export function imagePath(dir: string = DEFAULT_IMAGE_DIR, inputs: ImageInputs = currentImageInputs()): string {
  return join(dir, imageFileName(inputs));
}

/**
 * Makes `target` (a PGlite data directory that does not exist or is empty) a copy of the image in `imageDir`
 * that matches this code, and returns the image's path; undefined, and nothing done, when there is none.
 * Extracted beside the target and renamed into place, so an interrupted copy never leaves half a cluster
 * where PGlite would open it; on any failure the partial copy is removed and the error thrown.
 */
export function restoreImage(imageDir: string, target: string): string | undefined {
  const path = imagePath(imageDir);
  if (!existsSync(path)) return undefined;
  const partial = `${target}.partial`;
  rmSync(partial, { recursive: true, force: true }); // left by an interrupted first start
  mkdirSync(partial, { mode: 0o700 });
  try {
    // node-tar keeps every entry inside `cwd` (the leading '/' PGlite writes is stripped, with a note; `..` is
    // refused). Any other warning — a damaged header, a skipped entry — means a cluster missing a file: refused.
    // PGlite writes only directories and files, so nothing else is taken.
    const problems: string[] = [];
    extractTar({
      file: path,
      cwd: partial,
      sync: true,
      filter: (_path, entry) => 'type' in entry && (entry.type === 'File' || entry.type === 'Directory'),
      onwarn: (code, message) => void (code === 'TAR_ENTRY_INFO' ? undefined : problems.push(`${code}: ${String(message)}`)),
    });
    if (problems.length > 0) throw new Error(`${path} is damaged (${problems[0]})`);
    makeEntriesPrivate(partial); // the archive's modes, past the umask: owner-only again, as data-dir.ts keeps it
    if (!existsSync(join(partial, 'PG_VERSION'))) throw new Error(`${path} holds no database cluster`);
    if (existsSync(target)) rmdirSync(target); // empty (the caller checked); rename would not replace it everywhere
    renameSync(partial, target);
  } catch (error) {
    rmSync(partial, { recursive: true, force: true });
    throw error;
  }
  return path;
}

/** The installed version of a package (PGlite exports no ./package.json: found above its entry point). */
function packageVersion(name: string): string {
  let dir = dirname(createRequire(import.meta.url).resolve(name));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === name && pkg.version) return pkg.version;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the package.json of ${name}`);
    dir = parent;
  }
}
