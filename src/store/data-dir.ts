// The embedded data directory (TESSERA_DATA_DIR): PGlite's files — whose tables and WAL hold argon2 hashes,
// sealed keys and sessions — the generated development secret and the control socket. Owner-only whatever
// the umask: directories 0700, files 0600. PostgreSQL refuses to start on a data directory other users can
// reach, for the same reason (src/backend/utils/init/miscinit.c, checkDataDir).
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const GROUP_AND_OTHERS = 0o077;

/** Creates the directory 0700, or makes an existing one and everything already in it owner-only. */
export function makeDataDirPrivate(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  makeEntriesPrivate(dir);
}

/**
 * Removes group and other permissions from `path` and everything under it. A umask cannot do this for PGlite:
 * its file system (Emscripten's NODEFS) chmods each file it creates to the mode asked for, past the process
 * umask — 0666 for the files of its initdb, 0644 for the relation cache file — so store/db.ts calls this
 * once PGlite is open and again once it is closed. In between, the 0700 directory keeps everyone else out.
 */
export function makeEntriesPrivate(path: string): void {
  const stat = lstatSync(path);
  if (stat.isSymbolicLink()) return; // chmod would follow it out of the directory
  if ((stat.mode & GROUP_AND_OTHERS) !== 0) {
    try {
      chmodSync(path, stat.mode & 0o700);
    } catch (error) {
      throw new Error(`cannot make ${path} private to its owner (${(error as NodeJS.ErrnoException).code}): is the data directory owned by another user?`);
    }
  }
  if (stat.isDirectory()) for (const name of readdirSync(path)) makeEntriesPrivate(join(path, name));
}

export interface OpenEntry {
  path: string;
  /** Permission bits, e.g. 0o777. */
  mode: number;
}

/** Entries under `dir` (itself included) that group or other users may access; empty when all are private. */
export function findOpenEntries(dir: string): OpenEntry[] {
  if (!existsSync(dir)) return [];
  const open: OpenEntry[] = [];
  const walk = (path: string) => {
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) return;
    if ((stat.mode & GROUP_AND_OTHERS) !== 0) open.push({ path, mode: stat.mode & 0o777 });
    if (stat.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
  };
  walk(dir);
  return open;
}
