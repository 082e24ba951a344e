// argon2id password hashing (OWASP Password Storage Cheat Sheet: m=19 MiB, t=2, p=1 as the floor).
// Hashes carry their parameters, so raising them later re-hashes each account at its next sign-in.
import argon2 from 'argon2';

export interface PasswordPolicy {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 1024;

/**
 * `signIns`: passwords are checked here (a server), so the dummy hash is made at once and even the first
 * unknown name costs what a known one does. A CLI command checks none and skips that work (one argon2 hash).
 */
export function createPasswordHasher(policy: PasswordPolicy, { signIns = true }: { signIns?: boolean } = {}) {
  const options = { type: argon2.argon2id, ...policy } as const;
  // Verified against when the username is unknown, so both paths cost the same (no user enumeration).
  let dummyHash: Promise<string> | undefined;
  const dummy = () => (dummyHash ??= argon2.hash('tessera-dummy-password', options));
  if (signIns) void dummy();

  return {
    hash: (password: string) => argon2.hash(password, options),
    async verify(hash: string | undefined, password: string): Promise<boolean> {
      try {
        return await argon2.verify(hash ?? (await dummy()), password);
      } catch {
        return false;
      }
    },
    needsRehash: (hash: string) => argon2.needsRehash(hash, options),
  };
}

export type PasswordHasher = ReturnType<typeof createPasswordHasher>;

/**
 * The password hash of accounts that sign in only through an upstream identity provider. It never verifies;
 * authenticate() checks such accounts against the dummy hash, so they answer as slowly as any other.
 */
export const NO_PASSWORD = '!upstream-only';
