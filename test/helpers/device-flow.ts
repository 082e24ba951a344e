// The person's side of the device flow (RFC 8628 §3.3) over HTTP, through the real pages: the user-code
// page, "connect this device?", sign-in and consent, the confirmation. Real-browser runs are in test/e2e.
import { expect } from 'vitest';
import * as oidc from 'openid-client';
import { BrowserSession, csrfField, formAction } from './browser-session.ts';

/**
 * The device's polling, started while the person acts on another device. Its outcome is asserted later; a
 * denial can arrive before that assertion is attached, so the promise is marked handled at once (the
 * assertion still reads the same promise) instead of surfacing as an unhandled rejection in between.
 */
export function pollInBackground(config: oidc.Configuration, response: oidc.DeviceAuthorizationResponse): ReturnType<typeof oidc.pollDeviceAuthorizationGrant> {
  const polling = oidc.pollDeviceAuthorizationGrant(config, response);
  polling.catch(() => {});
  return polling;
}

/** The engine's CSRF field on the user-code forms. */
export function xsrfField(html: string): string {
  const match = html.match(/name="xsrf" value="([^"]*)"/);
  if (!match) throw new Error(`no xsrf field in page: ${html.slice(0, 400)}`);
  return match[1]!;
}

/** Opens the user-code page and submits `userCode`: the page that answers (confirmation, or the form again). */
export async function submitUserCode(session: BrowserSession, verificationUri: string, userCode: string): Promise<{ res: Response; html: string }> {
  const page = await session.follow(verificationUri);
  const html = await page.res.text();
  expect(page.res.status, html.slice(0, 300)).toBe(200);
  const res = await session.postForm(formAction(html), { xsrf: xsrfField(html), user_code: userCode });
  return { res, html: await res.text() };
}

export interface ApproveOptions {
  username?: string;
  password?: string;
  /** Where the person says no: on "connect this device?", or on the consent page. */
  deny?: 'confirm' | 'consent';
}

/**
 * Enters the code, confirms, signs in and consents (or denies), and returns the last page's HTML: the
 * "device connected" page, or the user-code page saying the request was cancelled.
 */
export async function approveDevice(session: BrowserSession, verificationUri: string, userCode: string, options: ApproveOptions = {}): Promise<string> {
  const confirm = await submitUserCode(session, verificationUri, userCode);
  expect(confirm.res.status, confirm.html.slice(0, 400)).toBe(200);
  expect(confirm.html).toContain('Connect this device?');
  const choice: Record<string, string> = options.deny === 'confirm' ? { abort: 'yes' } : { confirm: 'yes' };
  const res = await session.postForm(formAction(confirm.html), { xsrf: xsrfField(confirm.html), user_code: userCode, ...choice });
  if (options.deny === 'confirm') return res.text();
  expect(res.status).toBe(303);
  let step = await session.follow(res.headers.get('location')!);
  for (let i = 0; i < 4; i++) {
    const html = await step.res.text();
    expect(step.res.status, html.slice(0, 300)).toBe(200);
    if (!html.includes('name="csrf"')) return html;
    const csrf = csrfField(html);
    let next: Response;
    if (html.includes('name="password"')) {
      next = await session.postForm(formAction(html), { csrf, username: options.username ?? 'alice', password: options.password ?? 'correct horse battery' });
    } else if (options.deny === 'consent') {
      next = await session.postForm(formAction(html, 1), { csrf });
    } else {
      next = await session.postForm(formAction(html), { csrf, remember: '1' });
    }
    expect(next.status).toBe(303);
    step = await session.follow(next.headers.get('location')!);
  }
  throw new Error('the device flow did not end on a page without a form');
}
