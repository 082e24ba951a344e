// A page's form post: the body read within the size limit (middleware/body-limit.ts), the CSRF token
// checked (middleware/csrf.ts), then the fields the page takes parsed by its zod shape. One value per
// field (the first, as URLSearchParams.get gives), undefined when absent; a field that fails its schema is
// a 400 page with the schema's own words.
import type { Context } from 'koa';
import { z } from 'zod';
import { BadRequest } from '../errors.ts';
import { readForm } from './middleware/body-limit.ts';
import { assertCsrf } from './middleware/csrf.ts';

/** Free text as typed ('' when absent): passwords. */
export const text = z.string().default('');
/** Text without the spaces around it ('' when absent): names, addresses. */
export const trimmed = z
  .string()
  .default('')
  .transform((s) => s.trim());

export async function readPageForm<S extends z.ZodRawShape>(ctx: Context, limitBytes: number, shape: S): Promise<z.output<z.ZodObject<S>>> {
  const form = await readForm(ctx, limitBytes);
  assertCsrf(ctx, form);
  const fields = Object.fromEntries(Object.keys(shape).map((name) => [name, form.get(name) ?? undefined]));
  const parsed = z.object(shape).safeParse(fields);
  if (!parsed.success) throw new BadRequest(parsed.error.issues[0]?.message ?? 'the form is not valid');
  return parsed.data;
}
