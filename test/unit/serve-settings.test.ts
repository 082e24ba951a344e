// bin/serve-settings.js: which settings `tessera serve` re-executes itself with (pure, from the arguments,
// node flags and environment it is given). test/core/cli.test.ts checks a real serve process has them.
import { describe, expect, it } from 'vitest';
import { REEXEC_MARKER, serveSettings } from '../../bin/serve-settings.js';

const base = { args: ['serve'], execArgv: [] as string[], env: {} as Record<string, string | undefined>, platform: 'linux', canExec: true, heapLimitMiB: 4288 };

describe('serveSettings', () => {
  it('serve: both V8 flags and the malloc tunables, and the marker that stops a second re-execution', () => {
    const settings = serveSettings(base);
    expect(settings?.flags).toEqual(['--max-semi-space-size=16', '--max-old-space-size=1024']);
    expect(settings?.env).toMatchObject({ GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=4194304:glibc.malloc.hugetlb=1', [REEXEC_MARKER]: '1' });
    expect(serveSettings({ ...base, env: settings!.env, execArgv: settings!.flags })).toBeUndefined();
  });

  it('keeps the rest of the environment', () => {
    expect(serveSettings({ ...base, env: { DATABASE_URL: 'postgres://x', PATH: '/bin' } })?.env).toMatchObject({ DATABASE_URL: 'postgres://x', PATH: '/bin' });
  });

  it('other commands, serve --help, and Nodes without process.execve run as they are', () => {
    expect(serveSettings({ ...base, args: ['user', 'list'] })).toBeUndefined();
    expect(serveSettings({ ...base, args: ['serve', '--help'] })).toBeUndefined();
    expect(serveSettings({ ...base, canExec: false })).toBeUndefined();
    expect(serveSettings({ ...base, env: { [REEXEC_MARKER]: '1' } })).toBeUndefined();
  });

  it('a setting the operator gives wins (node flags, NODE_OPTIONS, spelled with underscores, tunables, malloc env)', () => {
    expect(serveSettings({ ...base, execArgv: ['--max-old-space-size=4096'] })?.flags).toEqual(['--max-semi-space-size=16']);
    expect(serveSettings({ ...base, env: { NODE_OPTIONS: '--max_semi_space_size=64 --enable-source-maps' } })?.flags).toEqual(['--max-old-space-size=1024']);
    expect(serveSettings({ ...base, env: { GLIBC_TUNABLES: 'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=0' } })?.env.GLIBC_TUNABLES).toBe(
      'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=0:glibc.malloc.mmap_threshold=4194304',
    );
    expect(serveSettings({ ...base, env: { MALLOC_MMAP_THRESHOLD_: '131072' } })?.env.GLIBC_TUNABLES).toBe('glibc.malloc.hugetlb=1');
    const all = { execArgv: ['--max-semi-space-size=8', '--max-old-space-size=512'], env: { GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=131072:glibc.malloc.hugetlb=0' } };
    expect(serveSettings({ ...base, ...all })).toBeUndefined();
  });

  it('the old-space limit only where Node chose a heap limit of 2 GiB or more (not below a container-derived one)', () => {
    expect(serveSettings({ ...base, heapLimitMiB: 2096 })?.flags).toEqual(['--max-semi-space-size=16', '--max-old-space-size=1024']);
    expect(serveSettings({ ...base, heapLimitMiB: 1072 })?.flags).toEqual(['--max-semi-space-size=16']);
  });

  it('the malloc tunables only on Linux', () => {
    const settings = serveSettings({ ...base, platform: 'darwin' });
    expect(settings?.flags).toHaveLength(2);
    expect(settings?.env.GLIBC_TUNABLES).toBeUndefined();
  });
});
