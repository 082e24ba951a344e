// The messages Tessera sends, from views/email/: each kind has a plain-text and an HTML template (eta), sent
// together as multipart/alternative. The HTML is rendered with auto-escaping (an account's name is text a
// person typed); the plain text is not HTML and is not escaped. Subjects are fixed per kind: no request
// input reaches a header. eta is loaded with the first message, so a CLI command that sends none (most)
// does not load the pages' template engine (test/core/cli-loading.test.ts).
import { fileURLToPath } from 'node:url';

const VIEWS_DIR = fileURLToPath(new URL('../../views/email/', import.meta.url));

let engines: Promise<{ html: import('eta').Eta; text: import('eta').Eta }> | undefined;
const load = () =>
  (engines ??= import('eta').then(({ Eta }) => ({
    html: new Eta({ views: VIEWS_DIR, autoEscape: true, cache: true, autoTrim: false }),
    text: new Eta({ views: VIEWS_DIR, autoEscape: false, cache: true, autoTrim: false }),
  })));

export interface RenderedEmail {
  subject: string;
  text: string;
  html: string;
}

const SUBJECTS = {
  'password-reset': 'Reset your password',
  'verify-email': 'Confirm your email address',
  'account-notice': 'A change to your account',
} as const;

export type EmailKind = keyof typeof SUBJECTS;

const oneLine = (s: string) => s.replace(/[\p{Cc}\p{Cf}\u2028\u2029]/gu, ' ');

/** `data` is what the templates read as `it` (plus `product`, the name shown to people). */
export async function renderEmail(kind: EmailKind, data: Record<string, unknown>): Promise<RenderedEmail> {
  const { html, text } = await load();
  // Text a person chose (a name) may hold line breaks or invisible characters: one line of visible text.
  const it = { ...Object.fromEntries(Object.entries(data).map(([k, v]) => [k, typeof v === 'string' ? oneLine(v) : v])), product: 'Tessera' };
  return { subject: `Tessera: ${SUBJECTS[kind]}`, text: text.render(`./${kind}.txt.eta`, it), html: html.render(`./${kind}.html.eta`, it) };
}
