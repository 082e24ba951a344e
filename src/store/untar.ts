// Extracting the tar PGlite's dumpDataDir writes: ustar, a 512-byte header per entry (name, octal size,
// checksum, type), the data padded to 512 bytes, zero blocks at the end. Only what it writes is accepted —
// directories and regular files, names inside the target — and a bad checksum or anything else is refused
// rather than guessed at (the caller then creates the cluster itself). Done here rather than by PGlite's own
// loadDataDir, which is 0.6-0.9 s slower on a 2-core machine (docs/benchmarks.md, "Pre-built embedded cluster").
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const BLOCK = 512;

/** Writes every entry of `tar` under `into` (which must exist): directories 0700, files 0600, as data-dir.ts wants them. */
export function extractTar(tar: Uint8Array, into: string): { files: number } {
  const made = new Set<string>();
  let files = 0;
  let offset = 0;
  for (;;) {
    if (offset + BLOCK > tar.length) throw new Error('the archive ends without its end-of-archive blocks');
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((byte) => byte === 0)) return { files };
    if (checksum(header) !== octal(header.subarray(148, 156))) throw new Error(`corrupt header at byte ${offset}`);
    const path = join(into, ...entryPath(header));
    const size = octal(header.subarray(124, 136));
    const type = header[156];
    offset += BLOCK;
    if (type === 0x35 /* '5' */) {
      mkdirSync(path, { recursive: true, mode: 0o700 });
      made.add(path);
    } else if (type === 0x30 /* '0' */ || type === 0) {
      if (offset + size > tar.length) throw new Error(`the archive ends inside ${path}`);
      const parent = dirname(path);
      if (!made.has(parent)) {
        mkdirSync(parent, { recursive: true, mode: 0o700 });
        made.add(parent);
      }
      writeFileSync(path, tar.subarray(offset, offset + size), { mode: 0o600 });
      files++;
    } else {
      throw new Error(`unexpected entry type ${String.fromCharCode(type!)} for ${path}`);
    }
    offset += Math.ceil(size / BLOCK) * BLOCK;
  }
}

/** The entry's path as segments (ustar prefix + name; PGlite's names start with '/'), refusing any that could leave the target. */
function entryPath(header: Uint8Array): string[] {
  const prefix = text(header.subarray(345, 500));
  const name = text(header.subarray(0, 100));
  const segments = `${prefix}/${name}`.split('/').filter((s) => s !== '');
  if (segments.length === 0 || segments.some((s) => s === '.' || s === '..' || s.includes('\\'))) throw new Error(`refused entry name ${JSON.stringify(name)}`);
  return segments;
}

function text(field: Uint8Array): string {
  const end = field.indexOf(0);
  return Buffer.from(field.subarray(0, end < 0 ? field.length : end)).toString('utf8');
}

function octal(field: Uint8Array): number {
  const digits = text(field).trim();
  if (!/^[0-7]*$/.test(digits)) throw new Error(`not an octal number: ${JSON.stringify(digits)}`);
  return digits ? parseInt(digits, 8) : 0;
}

/** The header's checksum: the sum of its bytes with the checksum field itself counted as spaces. */
function checksum(header: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
  return sum;
}
