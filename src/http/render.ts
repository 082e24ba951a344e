// Server-rendered pages from views/ (eta, auto-escaping on: anything echoed from a request is HTML-escaped).
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import { strings } from './strings.ts';

const VIEWS_DIR = fileURLToPath(new URL('../../views/', import.meta.url));

const eta = new Eta({ views: VIEWS_DIR, autoEscape: true, cache: true, autoTrim: false });

export function renderPage(view: string, data: Record<string, unknown>): string {
  return eta.render(`./${view}`, { ...data, t: strings });
}
