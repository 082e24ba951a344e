// How `tessera serve` starts Node: memory settings for a long-running server, measured under `npm run soak`
// (docs/benchmarks.md, "Memory"). They must be in place when the process starts (V8 sizes its heap and
// glibc reads its malloc settings once, at start-up), so bin/tessera.js re-executes itself with them
// (process.execve: the same process id, so supervisors and signals see no difference). Plain JavaScript:
// it runs before Node has loaded its TypeScript support.
//
// - --max-semi-space-size=16: Node 24 lets V8's young generation grow to two 64 MiB halves on a 64-bit
//   build, and a busy server fills them (128 MiB of RSS). 16 MiB halves — the default of Node 18 — keep
//   the short-lived garbage of a request where it dies, at a few more (cheap) scavenges.
// - --max-old-space-size=1024, only where Node's own heap limit is 2 GiB or more (any machine or container
//   with more than about 4 GiB of memory): there V8 lets the old generation grow to four times what survived
//   the last full collection before collecting again; below 2 GiB, at most about 1.6 times. Tessera holds
//   about 40 MiB of live objects (a heap snapshot under the soak), so 1 GiB is ample headroom, not a tight
//   bound; a smaller limit Node derived from a container's memory is left as it is.
// - GLIBC_TUNABLES glibc.malloc.mmap_threshold=4 MiB and glibc.malloc.hugetlb=1: argon2 takes
//   ARGON2_MEMORY_KIB (19 MiB) per password hash from malloc, on a libuv thread. glibc's adaptive threshold
//   moves above 19 MiB once the first hash is freed, so later hashes come from per-thread arenas that keep
//   the memory: up to four × 19 MiB (one per libuv thread) held for good. A fixed threshold gives each hash a
//   mapping of its own, returned when the hash is done; hugetlb=1 asks for transparent huge pages for such
//   mappings, so mapping 19 MiB afresh costs about 1 ms instead of 10 (4 KiB page faults), where the
//   kernel's transparent_hugepage setting is madvise or always (with never: the 10 ms).
// A setting the operator gives (in NODE_OPTIONS, on the node command line, or in the environment) wins.

/** V8 flags serve adds, unless the same flag is already given (the second only above HEAP_LIMIT_FOR_OLD_SPACE_MIB). */
export const SERVE_NODE_FLAGS = ['--max-semi-space-size=16', '--max-old-space-size=1024'];

/** Node's default heap limit (MiB) from which V8 grows the old generation fourfold (2 GiB without pointer compression). */
export const HEAP_LIMIT_FOR_OLD_SPACE_MIB = 2048;

/** glibc tunables serve adds on Linux (other C libraries ignore them), each unless already given. */
export const SERVE_GLIBC_TUNABLES = { 'glibc.malloc.mmap_threshold': String(4 * 1024 * 1024), 'glibc.malloc.hugetlb': '1' };

/** Marks the re-executed process, so it never re-executes again (removed from its environment at once). */
export const REEXEC_MARKER = 'TESSERA_SERVE_SETTINGS_APPLIED';

const flagName = (flag) => flag.split('=')[0].replace(/_/g, '-');

/**
 * What `tessera <args>` should re-execute itself with, or undefined to run as it is: only `serve` (not its
 * --help), only where process.execve exists (Node 22.15 / 23.11 and later, not on Windows), only once, and
 * only for settings not already given. heapLimitMiB: this process's heap limit, as Node chose it.
 */
export function serveSettings({ args, execArgv, env, platform, canExec, heapLimitMiB }) {
  if (args[0] !== 'serve' || args.includes('--help') || args.includes('-h')) return undefined;
  if (!canExec || env[REEXEC_MARKER]) return undefined;
  const given = new Set([...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)].filter(Boolean).map(flagName));
  const wanted = SERVE_NODE_FLAGS.filter((flag) => flagName(flag) !== '--max-old-space-size' || heapLimitMiB >= HEAP_LIMIT_FOR_OLD_SPACE_MIB);
  const flags = wanted.filter((flag) => !given.has(flagName(flag)));
  // Also given: the same setting by its older environment variable (MALLOC_MMAP_THRESHOLD_).
  const tunables = (env.GLIBC_TUNABLES ?? '').split(':').filter(Boolean);
  const tunableGiven = (name) => tunables.some((t) => t.startsWith(`${name}=`)) || (name === 'glibc.malloc.mmap_threshold' && env.MALLOC_MMAP_THRESHOLD_ !== undefined);
  const added = platform === 'linux' ? Object.entries(SERVE_GLIBC_TUNABLES).filter(([name]) => !tunableGiven(name)) : [];
  if (flags.length === 0 && added.length === 0) return undefined;
  const extraEnv = added.length ? { GLIBC_TUNABLES: [...tunables, ...added.map(([name, value]) => `${name}=${value}`)].join(':') } : {};
  return { flags, env: { ...env, ...extraEnv, [REEXEC_MARKER]: '1' } };
}
