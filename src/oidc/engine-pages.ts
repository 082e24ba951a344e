// The pages the engine draws itself (its error page, the logout confirmation, "signed out"), as hooks the
// host fills in (http/engine-pages.ts renders them from views/). Its own file so that provider.ts and
// not-found.ts both use it without importing each other.
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';

export interface EnginePages {
  renderError: NonNullable<Configuration['renderError']>;
  logoutSource: (ctx: KoaContextWithOIDC, form: string) => Promise<void>;
  postLogoutSuccessSource: (ctx: KoaContextWithOIDC) => Promise<void>;
}
