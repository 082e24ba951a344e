// The pages the engine draws itself (its error page, the logout confirmation, "signed out", the device
// flow's pages), as hooks the host fills in (http/engine-pages.ts renders them from views/). Its own file so
// that provider.ts, device-flow.ts and not-found.ts all use it without importing each other.
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';

/** The user-code page (RFC 8628 §3.3): a form posting `xsrf` and `user_code` to `action`. */
export interface UserCodeInputView {
  /** Absent: no form, a link to start again (the engine's session for the form is missing). */
  action: string | undefined;
  /** The engine's CSRF token for this form (its session-bound `xsrf`). */
  xsrf: string;
  /** What the person typed, shown again after a wrong code (escaped by the view). */
  userCode?: string;
  error?: 'wrong' | 'aborted' | 'failed' | 'throttled';
  /** With `throttled`: how long until another code may be tried. */
  retryAfterSeconds?: number;
  /** The user codes are digits only (features.deviceFlow.charset). */
  digits: boolean;
}

/** "Connect this device?" for a code that was found. */
export interface UserCodeConfirmView {
  action: string;
  xsrf: string;
  /** The code as the device shows it (the engine's mask applied). */
  userCode: string;
  client: { id: string; name: string; logoUri?: string | undefined };
  /** Where the device asked from (its IP address and user agent), a hint against remote phishing (RFC 8628 §5.4). */
  requestedFrom?: string | undefined;
}

export interface EnginePages {
  renderError: NonNullable<Configuration['renderError']>;
  logoutSource: (ctx: KoaContextWithOIDC, form: string) => Promise<void>;
  postLogoutSuccessSource: (ctx: KoaContextWithOIDC) => Promise<void>;
  userCodeInput: (ctx: KoaContextWithOIDC, view: UserCodeInputView) => Promise<void>;
  userCodeConfirm: (ctx: KoaContextWithOIDC, view: UserCodeConfirmView) => Promise<void>;
  deviceSuccess: (ctx: KoaContextWithOIDC, clientName: string) => Promise<void>;
}
