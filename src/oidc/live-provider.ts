// The engine fixes its signing keys and cookie keys when it is constructed, so a key rotation builds a new
// engine and swaps it in here. Everything that talks to the engine reads it through this holder; requests
// already in flight finish on the engine they started with. Sessions, grants and interactions live in the
// database, so nothing is lost in the swap.
import type Provider from 'oidc-provider';

type EngineCallback = ReturnType<Provider['callback']>;

export interface LiveProvider {
  readonly current: Provider;
  /** The current engine's request handler (built once per engine, not per request). */
  readonly callback: EngineCallback;
  replace(provider: Provider): void;
}

export function createLiveProvider(initial: Provider): LiveProvider {
  let provider = initial;
  let callback = initial.callback();
  return {
    get current() {
      return provider;
    },
    get callback() {
      return callback;
    },
    replace(next) {
      provider = next;
      callback = next.callback();
    },
  };
}
