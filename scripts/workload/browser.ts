// The test suite's cookie-jar browser (test/helpers/browser-session.ts) with its requests to the issuer
// routed to one of the server processes (routing.ts), and the sign-in walk: authorize → login form (CSRF
// field) → consent form → redirect to the client with a code.
import { BrowserSession, csrfField, formAction } from '../../test/helpers/browser-session.ts';
import { HttpFailure } from './errors.ts';
import type { Balancer } from './routing.ts';

/** The test suite's cookie-jar browser, its requests routed to one of the server processes. */
export class RoutedBrowser extends BrowserSession {
  constructor(balancer: Balancer, timeoutMs: number) {
    super(balancer.issuer.origin, { fetch: (url, init) => balancer.fetch(url, init), timeoutMs });
  }
}

function errorCode(html: string): string | undefined {
  // The error page and JSON answers both name the OAuth error code.
  return html.match(/"error"\s*:\s*"([a-z_]+)"/)?.[1] ?? html.match(/\b(temporarily_unavailable|server_error|invalid_request|access_denied|login_required)\b/)?.[1];
}

/**
 * Walks the pages from the authorization URL to the redirect back to the client: signs in with the given
 * credentials when asked, consents (remembering the decision) when asked. Returns the callback URL.
 */
export async function signIn(browser: RoutedBrowser, authorizationUrl: URL, redirectUri: string, login: { username: string; password: string }): Promise<URL> {
  let step = await browser.follow(authorizationUrl);
  const issuerOrigin = new URL(authorizationUrl).origin;
  for (let i = 0; i < 4 && step.url.origin === issuerOrigin; i++) {
    const html = await step.res.text();
    if (step.res.status !== 200) throw new HttpFailure(step.res.status, errorCode(html), `GET ${step.url.pathname.replace(/[^/]{16,}/g, ':id')} → ${step.res.status}: ${html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 160)}`);
    const csrf = csrfField(html);
    const fields: Record<string, string> = html.includes('name="password"') ? { csrf, username: login.username, password: login.password } : { csrf, remember: '1' };
    const res = await browser.postForm(formAction(html), fields);
    if (res.status !== 303) {
      const body = await res.text();
      throw new HttpFailure(res.status, errorCode(body), `POST ${step.url.pathname.replace(/[^/]{16,}/g, ':id')} → ${res.status}: ${body.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 160)}`);
    }
    step = await browser.follow(res.headers.get('location')!);
  }
  if (step.url.origin + step.url.pathname !== redirectUri) {
    const body = await step.res.text().catch(() => '');
    throw new HttpFailure(step.res.status, errorCode(body), `sign-in ended at ${step.url.pathname} with ${step.res.status}`);
  }
  await step.res.arrayBuffer().catch(() => undefined);
  return step.url;
}
