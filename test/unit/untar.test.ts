// Extracting PGlite's dumps (store/untar.ts): what a first start copies its cluster from. It writes only inside
// the target, owner-only, and refuses what PGlite never writes or a damaged archive instead of guessing.
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { extractTar } from '../../src/store/untar.ts';

/** One ustar entry as PGlite's writer lays it out (name, octal size, checksum over the header with its field as spaces, type). */
function entry(name: string, data: string | undefined, type = data === undefined ? '5' : '0'): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 'utf8');
  header.write('0000600\0', 100);
  const body = Buffer.from(data ?? '');
  header.write(`${body.length.toString(8).padStart(11, '0')}\0`, 124);
  header.write(type, 156);
  header.write('ustar\x0000', 257, 'latin1');
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return Buffer.concat([header, body, Buffer.alloc((512 - (body.length % 512)) % 512)]);
}
const archive = (...entries: Buffer[]) => Buffer.concat([...entries, Buffer.alloc(1024)]);

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-untar-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('extractTar', () => {
  it('writes directories and files under the target, owner-only, names as PGlite writes them (leading /)', () => {
    const result = extractTar(archive(entry('/base', undefined), entry('/base/1', undefined), entry('/base/1/112', 'x'.repeat(1000)), entry('/PG_VERSION', '18\n')), dir);
    expect(result.files).toBe(2);
    expect(readFileSync(join(dir, 'PG_VERSION'), 'utf8')).toBe('18\n');
    expect(readFileSync(join(dir, 'base/1/112'), 'utf8')).toBe('x'.repeat(1000));
    for (const path of [join(dir, 'base'), join(dir, 'base/1')]) expect(lstatSync(path).mode & 0o777).toBe(0o700);
    for (const path of [join(dir, 'PG_VERSION'), join(dir, 'base/1/112')]) expect(lstatSync(path).mode & 0o777).toBe(0o600);
  });

  it('refuses a name that would leave the target', () => {
    for (const name of ['/../escaped', 'base/../../escaped', '/.', 'a\\..\\b']) {
      expect(() => extractTar(archive(entry(name, 'x')), join(dir, 'inner')), name).toThrow(/refused entry name/);
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses a damaged header, an archive cut short, and entry types PGlite never writes (links)', () => {
    const damaged = archive(entry('/PG_VERSION', '18\n'));
    damaged[10] = 0x41;
    expect(() => extractTar(damaged, dir)).toThrow(/corrupt header/);
    const whole = archive(entry('/big', 'y'.repeat(2000)));
    expect(() => extractTar(whole.subarray(0, 1024), dir)).toThrow(/ends/);
    expect(() => extractTar(archive(entry('/link', '', '2')), dir)).toThrow(/unexpected entry type/);
  });
});
