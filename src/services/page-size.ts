// How many items a page of a list operation holds: management.ts enforces it, the admin API's schemas and
// the CLI's lists (which fetch whole pages) name it. A module of its own, so the CLI loads no service for it.
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;
