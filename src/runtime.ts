// The pieces every entry point needs (server, CLI): database, instance secret, password hasher.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import { systemClock, type Clock } from './clock.ts';
import { createDatabase, migrateToLatest, type Db } from './store/db.ts';
import { DEFAULT_IMAGE_DIR } from './store/embedded-image.ts';
import { createSecretBox, type SecretBox } from './domain/secret-box.ts';
import { createPasswordHasher, type PasswordHasher } from './domain/password.ts';

export interface Runtime {
  db: Db;
  box: SecretBox;
  hasher: PasswordHasher;
  /** What scheduled work (key rotation) takes as now. */
  clock: Clock;
  close(): Promise<void>;
}

/**
 * TESSERA_SECRET, or — only in embedded mode — a development secret kept under the data directory,
 * with a warning, so a first `npm start` needs no setup.
 */
export function resolveInstanceSecret(config: Config, logger: Logger): string {
  if (config.secret) return config.secret;
  if (config.databaseUrl) throw new Error('TESSERA_SECRET is required when DATABASE_URL is set');
  if (config.dataDir === ':memory:') return randomBytes(32).toString('base64url');
  const file = join(config.dataDir, 'dev-secret');
  if (!existsSync(file)) {
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 }); // store/data-dir.ts: owner-only
    writeFileSync(file, randomBytes(48).toString('base64url'), { mode: 0o600 });
  }
  logger.warn(
    { file },
    'TESSERA_SECRET is not set: using a generated development secret. Set TESSERA_SECRET (and DATABASE_URL) in production.',
  );
  return readFileSync(file, 'utf8').trim();
}

export interface RuntimeOptions {
  /** Apply pending migrations (default); `migrate` itself opens the database without. */
  migrate?: boolean;
  clock?: Clock;
  /** In-memory embedded database only: start from this image (store/db.ts). */
  memoryImage?: Blob;
  /** Embedded database on disk: where a new data directory's pre-built image is looked for (default: the checkout's). */
  imageDir?: string;
  /** People sign in through this process (default); a CLI command's runtime checks no password (password.ts). */
  signIns?: boolean;
}

export async function openRuntime(config: Config, logger: Logger, { migrate = true, clock = systemClock, memoryImage, imageDir, signIns = true }: RuntimeOptions = {}): Promise<Runtime> {
  const db = createDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    poolMax: config.databasePoolMax,
    memoryImage,
    // The image is a migrated database: only an opening that migrates anyway may start from it, and gains
    // nothing but time. `migrate` and doctor open unmigrated to report what a new database lacks, so a new
    // directory they open is created empty, as before.
    imageDir: migrate ? (imageDir ?? DEFAULT_IMAGE_DIR) : undefined,
    log: (level, message) => logger[level]({ component: 'database' }, message),
  });
  try {
    if (migrate) {
      const applied = await migrateToLatest(db);
      if (applied.length) logger.info({ applied }, 'database migrated');
    }
    return {
      db,
      box: createSecretBox(resolveInstanceSecret(config, logger)),
      hasher: createPasswordHasher(config.argon2, { signIns }),
      clock,
      close: () => db.destroy(),
    };
  } catch (error) {
    await db.destroy();
    throw error;
  }
}
