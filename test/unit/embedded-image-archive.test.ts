// Copying the pre-built cluster into a new data directory (store/embedded-image.ts restoreImage): the archive
// is read by node-tar, which keeps every entry inside the target; the copy is owner-only, and anything that is
// not a whole cluster is refused without leaving a partial copy behind.
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { currentImageInputs, imageFileName, restoreImage } from '../../src/store/embedded-image.ts';

/** One ustar entry as PGlite's writer lays it out (name with a leading '/', octal size, checksum, type). */
function entry(name: string, data: string | undefined, type = data === undefined ? '5' : '0'): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 'utf8');
  header.write(type === '5' ? '0000755\0' : '0000644\0', 100);
  const body = Buffer.from(data ?? '');
  header.write(`${body.length.toString(8).padStart(11, '0')}\0`, 124);
  header.write(type, 156);
  if (type === '2') header.write('/etc/passwd', 157, 'utf8');
  header.write('ustar\x0000', 257, 'latin1');
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return Buffer.concat([header, body, Buffer.alloc((512 - (body.length % 512)) % 512)]);
}
const archive = (...entries: Buffer[]) => Buffer.concat([...entries, Buffer.alloc(1024)]);

let dir: string;
let images: string;
let target: string;
const writeImage = (tar: Buffer) => writeFileSync(join(images, imageFileName(currentImageInputs())), tar);

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-image-'));
  images = join(dir, 'images');
  mkdirSync(images);
  mkdirSync(join(dir, 'data'), { mode: 0o700 });
  target = join(dir, 'data', 'pgdata');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('restoreImage', () => {
  it('copies directories and files into the target, owner-only whatever modes the archive carries', () => {
    writeImage(archive(entry('/base', undefined), entry('/base/1', undefined), entry('/base/1/112', 'x'.repeat(1000)), entry('/PG_VERSION', '18\n')));
    expect(restoreImage(images, target)).toBeDefined();
    expect(readFileSync(join(target, 'PG_VERSION'), 'utf8')).toBe('18\n');
    expect(readFileSync(join(target, 'base/1/112'), 'utf8')).toBe('x'.repeat(1000));
    for (const path of [join(target, 'base'), join(target, 'base/1')]) expect(lstatSync(path).mode & 0o077).toBe(0);
    for (const path of [join(target, 'PG_VERSION'), join(target, 'base/1/112')]) expect(lstatSync(path).mode & 0o077).toBe(0);
  });

  it('writes nothing outside the target, takes no links, and leaves no partial copy of what is not a cluster', () => {
    writeImage(archive(entry('/../escaped', 'x'), entry('base/../../escaped2', 'x'), entry('/link', undefined, '2')));
    expect(() => restoreImage(images, target)).toThrow();
    expect(readdirSync(join(dir, 'data'))).toEqual([]);
    expect(existsSync(join(dir, 'escaped')) || existsSync(join(dir, 'escaped2')) || existsSync(join(dir, 'data', 'escaped'))).toBe(false);
  });

  it('refuses a damaged archive without leaving a partial copy', () => {
    const damaged = archive(entry('/PG_VERSION', '18\n'));
    damaged[10] = 0x41;
    writeImage(damaged);
    expect(() => restoreImage(images, target)).toThrow();
    expect(readdirSync(join(dir, 'data'))).toEqual([]);
  });

  it('does nothing when there is no image of this code', () => {
    expect(restoreImage(images, target)).toBeUndefined();
    expect(existsSync(target)).toBe(false);
  });
});
