// Types of serve-settings.js (plain JavaScript: it runs before Node loads its TypeScript support).
export declare const SERVE_NODE_FLAGS: string[];
export declare const SERVE_GLIBC_TUNABLES: Record<string, string>;
export declare const REEXEC_MARKER: string;
export declare const HEAP_LIMIT_FOR_OLD_SPACE_MIB: number;
export declare function serveSettings(input: {
  args: string[];
  execArgv: string[];
  env: Record<string, string | undefined>;
  platform: string;
  canExec: boolean;
  heapLimitMiB: number;
}): { flags: string[]; env: Record<string, string | undefined> } | undefined;
