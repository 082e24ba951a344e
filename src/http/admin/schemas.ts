// Schemas several admin routes share: pagination, the error body, small building blocks.
import { z } from 'zod';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../../services/management.ts';

// No NUL (PostgreSQL text cannot hold one: SQLSTATE 22021) and no unpaired UTF-16 surrogate; written without
// the `u` flag so that it reads the same as a JSON Schema pattern in the OpenAPI document.
const PLAIN_TEXT = /^(?:[^\u0000\ud800-\udfff]|[\ud800-\udbff][\udc00-\udfff])*$/;
const PLAIN_TEXT_MESSAGE = 'must not contain a NUL character or an unpaired surrogate';

/** Text from a path or a query filter: 1 to `max` characters, none of them NUL or an unpaired surrogate. */
export const plainText = (max: number) => z.string().min(1).max(max).regex(PLAIN_TEXT, PLAIN_TEXT_MESSAGE);

export const pageQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE).describe(`Items per page (1-${MAX_PAGE_SIZE})`),
  cursor: z
    .string()
    .min(1)
    .max(2048)
    .regex(/^[A-Za-z0-9_-]+$/, 'must be next_cursor of the previous page, unchanged')
    .optional()
    .describe('next_cursor of the previous page; omit for the first page'),
});

/** `{ items, next_cursor }`; next_cursor is null on the last page. */
export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({
    items: z.array(item),
    next_cursor: z.string().nullable().describe('Pass as ?cursor= for the next page; null when there is none'),
  });
}

/** An operation's named list (`{ users, next_cursor }`) as the API's `{ items, next_cursor }`. */
export const asPage = <T>(items: T[], page: { next_cursor: string | null }) => ({ items, next_cursor: page.next_cursor });

export const errorBody = z
  .object({
    error: z.string().describe('Machine-readable code (invalid_request, invalid_token, insufficient_scope, not_found, conflict, …)'),
    error_description: z.string(),
    details: z.array(z.object({ path: z.array(z.union([z.string(), z.number()])), message: z.string() })).describe('What failed validation, field by field'),
  })
  .describe('Every admin API error');

export const timestamp = z.string().describe('ISO 8601 date-time (UTC)');
export const uri = plainText(2048);
export const uriList = z.array(uri).max(20);
