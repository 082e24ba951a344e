// Client-side load balancing. Both server processes share one issuer (as behind a load balancer), so every
// URL the server hands out — discovery endpoints, redirects, form actions — names the issuer's origin. Each
// request is sent to one of the real processes instead: the operation running in the current async context
// says which one (`fixed`), or, for sign-ins, every request picks one at random (`hop`: no sticky sessions,
// so a sign-in begun on one process continues on the other).
import { AsyncLocalStorage } from 'node:async_hooks';
import type { CustomFetchOptions } from 'openid-client';

export interface Target {
  name: string;
  /** http://127.0.0.1:PORT */
  origin: string;
}

export interface Route {
  mode: 'fixed' | 'hop';
  target: Target;
  /** The process the latest request went to (for error reports). */
  last?: Target;
}

const current = new AsyncLocalStorage<Route>();

export const wallNow = (): number => performance.timeOrigin + performance.now();

export class Balancer {
  readonly issuer: URL;
  readonly targets: Target[];
  private turn = 0;

  constructor(issuer: string, targets: Target[]) {
    this.issuer = new URL(issuer);
    this.targets = targets;
  }

  /** Round robin over the processes, dead or alive: the workload sees what a naive balancer would. */
  next(): Target {
    const target = this.targets[this.turn % this.targets.length]!;
    this.turn++;
    return target;
  }

  random(): Target {
    return this.targets[Math.floor(Math.random() * this.targets.length)]!;
  }

  run<T>(mode: Route['mode'], fn: (route: Route) => Promise<T>): Promise<T> {
    const route: Route = { mode, target: this.next() };
    return current.run(route, () => fn(route));
  }

  /** The real address for a URL on the issuer's origin, for the process this context is routed to. */
  resolve(url: string | URL): URL {
    const target = new URL(url);
    if (target.origin !== this.issuer.origin) return target;
    const route = current.getStore();
    if (!route) throw new Error(`request to ${target.pathname} outside a routed operation`);
    const chosen = route.mode === 'hop' ? this.random() : route.target;
    route.last = chosen;
    const real = new URL(chosen.origin);
    target.protocol = real.protocol;
    target.host = real.host;
    return target;
  }

  /** A fetch for openid-client's customFetch and for the browser: same request, routed. */
  readonly fetch = (url: string | URL, init?: RequestInit | CustomFetchOptions): Promise<Response> => fetch(this.resolve(url), init as RequestInit);
}

export function currentRoute(): Route | undefined {
  return current.getStore();
}
