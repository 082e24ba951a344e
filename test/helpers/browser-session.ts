// A minimal browser over HTTP: a cookie jar, manual redirects, and form posts — enough to walk the real
// login and consent pages without a browser (real-browser tests live in test/e2e).
export interface BrowserSessionOptions {
  /** How requests leave (the soak workload routes them to one of several server processes). */
  fetch?: (url: URL, init: RequestInit) => Promise<Response>;
  /** Abort any one request after this long. */
  timeoutMs?: number;
}

export class BrowserSession {
  private readonly cookies = new Map<string, string>();

  readonly origin: string;

  private readonly options: BrowserSessionOptions;

  constructor(origin: string, options: BrowserSessionOptions = {}) {
    this.origin = origin;
    this.options = options;
  }

  private store(res: Response): void {
    for (const header of res.headers.getSetCookie()) {
      const [pair] = header.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (/expires=Thu, 01 Jan 1970/i.test(header) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async request(url: string | URL, init: RequestInit = {}): Promise<Response> {
    const target = new URL(url, this.origin);
    const headers = new Headers(init.headers);
    if (target.origin === this.origin && this.cookies.size) headers.set('cookie', this.cookieHeader());
    if (!headers.has('accept')) headers.set('accept', 'text/html');
    const request: RequestInit = { ...init, headers, redirect: 'manual', ...(this.options.timeoutMs ? { signal: AbortSignal.timeout(this.options.timeoutMs) } : {}) };
    const res = await (this.options.fetch ?? fetch)(target, request);
    if (target.origin === this.origin) this.store(res);
    return res;
  }

  /** Follows redirects on our origin; stops at the first redirect elsewhere (e.g. the client's callback). */
  async follow(url: string | URL, init: RequestInit = {}): Promise<{ res: Response; url: URL }> {
    let current = new URL(url, this.origin);
    let res = await this.request(current, init);
    for (let hops = 0; hops < 10 && res.status >= 300 && res.status < 400; hops++) {
      const next = new URL(res.headers.get('location')!, current);
      if (next.origin !== this.origin) return { res, url: next };
      await res.arrayBuffer();
      current = next;
      res = await this.request(current);
    }
    return { res, url: current };
  }

  async postForm(url: string | URL, fields: Record<string, string>): Promise<Response> {
    return this.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
  }
}

export function formAction(html: string, index = 0): string {
  const actions = [...html.matchAll(/<form[^>]*action="([^"]+)"/g)].map((m) => m[1]!.replaceAll('&amp;', '&'));
  if (!actions[index]) throw new Error(`no form #${index} in page: ${html.slice(0, 400)}`);
  return actions[index];
}

export function csrfField(html: string): string {
  const match = html.match(/name="csrf" value="([^"]+)"/);
  if (!match) throw new Error('no csrf field in page');
  return match[1]!;
}
