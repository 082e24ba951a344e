// Our extra client metadata (tessera_*) as the engine's Client instance holds it: camelCased when the
// engine recognises the property, as registered otherwise. Read directly — client.metadata() would
// snake-case every key on each call, on the hot path.
import type { Client } from 'oidc-provider';

const camel = (snake: string) => snake.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
const names = new Map<string, string>();

export function clientExtra(client: Client, property: string): unknown {
  let name = names.get(property);
  if (!name) names.set(property, (name = camel(property)));
  const props = client as unknown as Record<string, unknown>;
  return props[name] ?? props[property];
}
