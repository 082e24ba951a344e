// npm run build:embedded-image [-- --dir <directory> --force --best-effort]
//
// Makes the pre-built embedded cluster a first start copies instead of creating its own (store/embedded-image.ts):
// a new in-memory PGlite database, migrated by the code the server runs, checked to hold no row of an
// instance, written as .cache/embedded-image/pglite-<version>-<key>.tar. Run by `npm ci` / `npm install`
// (postinstall, with --best-effort) and by the Dockerfile. Images of other keys in the directory are
// removed (they match no code here any more); a current one is kept unless --force.
// --best-effort: a failure is one warning and exit 0, so an install never fails for want of an image —
// without it the first start creates its cluster as before, only slower.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { DEFAULT_IMAGE_DIR, imagePath } from '../src/store/embedded-image.ts';
import { makeEmbeddedImage } from '../src/store/make-embedded-image.ts';

const USAGE = 'usage: node scripts/build-embedded-image.ts [--dir <directory>] [--force] [--best-effort]';

function parseArgs(argv: string[]): { dir: string; force: boolean; bestEffort: boolean } {
  const args = { dir: DEFAULT_IMAGE_DIR, force: false, bestEffort: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--force') args.force = true;
    else if (arg === '--best-effort') args.bestEffort = true;
    else if (arg === '--dir' && argv[i + 1]) args.dir = resolve(argv[++i]!);
    else throw new Error(`unexpected argument ${arg}\n${USAGE}`);
  }
  return args;
}

async function build(dir: string, force: boolean): Promise<string> {
  const target = imagePath(dir);
  mkdirSync(dir, { recursive: true });
  // Stale images and the leftovers of an interrupted build.
  for (const name of readdirSync(dir)) {
    if (name !== basename(target) && /^pglite-.*\.tar(\.tmp-\d+)?$/.test(name)) rmSync(join(dir, name), { force: true });
  }
  if (existsSync(target) && !force) return `${target} is current`;
  const started = performance.now();
  const image = await makeEmbeddedImage();
  // Written aside and renamed: a start never sees half an image under the name it looks for.
  const partial = `${target}.tmp-${process.pid}`;
  writeFileSync(partial, Buffer.from(await image.arrayBuffer()));
  renameSync(partial, target);
  return `${target} written (${(image.size / 2 ** 20).toFixed(1)} MiB, ${((performance.now() - started) / 1000).toFixed(1)} s)`;
}

const { dir, force, bestEffort } = parseArgs(process.argv.slice(2));
try {
  console.log(`embedded image: ${await build(dir, force)}`);
} catch (error) {
  if (!bestEffort) throw error;
  console.warn(`embedded image not built (${(error as Error).message.split('\n')[0]}): the first start will create its database cluster itself, which is slower`);
}
