// The name of the pre-built embedded image (store/embedded-image.ts) is its key: it must change with everything
// that shapes the image, so an image made by other code is never loaded, and stay the same otherwise, so a
// current one is found. Pure: the inputs are given.
import { describe, expect, it } from 'vitest';
import { currentImageInputs, imageFileName, type ImageInputs } from '../../src/store/embedded-image.ts';
import { migrations } from '../../migrations/index.ts';

const inputs: ImageInputs = {
  pglite: '0.5.16',
  knex: '3.3.0',
  migrations: [
    { name: '20261123000000_initial_schema.ts', content: 'create table a' },
    { name: '20261123010000_more.ts', content: 'create table b' },
    { name: 'index.ts', content: 'the list' },
  ],
};

describe('the embedded image key', () => {
  it('names the PGlite version and a hash', () => {
    expect(imageFileName(inputs)).toMatch(/^pglite-0\.5\.16-[0-9a-f]{16}\.tar$/);
  });

  it('changes with PGlite, knex, a migration changed, added, removed or renamed', () => {
    const [first, second, list] = inputs.migrations as [ImageInputs['migrations'][0], ImageInputs['migrations'][0], ImageInputs['migrations'][0]];
    const variants: ImageInputs[] = [
      { ...inputs, pglite: '0.5.17' },
      { ...inputs, knex: '3.4.0' },
      { ...inputs, migrations: [{ ...first, content: 'create table a2' }, second, list] },
      { ...inputs, migrations: [...inputs.migrations, { name: '20261123020000_new.ts', content: 'create table c' }] },
      { ...inputs, migrations: [first, list] },
      { ...inputs, migrations: [first, { ...second, name: '20261123010000_renamed.ts' }, list] },
      { ...inputs, migrations: [first, second, { ...list, content: 'the list, reordered' }] },
    ];
    const names = new Set([imageFileName(inputs), ...variants.map(imageFileName)]);
    expect(names.size).toBe(variants.length + 1);
  });

  it('does not depend on the order the files were listed in', () => {
    expect(imageFileName({ ...inputs, migrations: [...inputs.migrations].reverse() })).toBe(imageFileName(inputs));
  });

  it('reads this checkout: the installed PGlite and knex, and every migration file including the list', () => {
    const current = currentImageInputs();
    expect(current.pglite).toMatch(/^\d+\.\d+\.\d+/);
    expect(current.knex).toMatch(/^\d+\.\d+\.\d+/);
    const names = current.migrations.map((m) => m.name);
    expect(names).toContain('index.ts');
    for (const [name] of migrations) expect(names).toContain(`${name}.ts`);
  });
});
