// What went wrong, as a short "kind" for the report: `http 503 temporarily_unavailable`, `network
// ECONNREFUSED`, `timeout`, `check: …` (a 2xx answer that is wrong: an inactive token that should be
// active, a refresh without a new refresh token). The detail (a body snippet, a message) is kept separately
// for the first occurrence of each kind.

/** A wrong answer noticed by the workload itself. */
export class CheckFailed extends Error {
  readonly kind: string;
  constructor(kind: string, detail: string) {
    super(detail);
    this.name = 'CheckFailed';
    this.kind = kind;
  }
}

/** A non-OAuth HTTP step (sign-in pages) answered with the wrong status. */
export class HttpFailure extends Error {
  readonly status: number;
  readonly code: string | undefined;
  constructor(status: number, code: string | undefined, detail: string) {
    super(detail);
    this.name = 'HttpFailure';
    this.status = status;
    this.code = code;
  }
}

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  status?: unknown;
  error?: unknown;
  error_description?: unknown;
  message?: unknown;
  cause?: unknown;
}

const NETWORK_CODES = /^(E[A-Z]+|UND_ERR_[A-Z_]+)$/;

function networkCode(error: unknown): string | undefined {
  for (let e = error as ErrorLike | undefined, depth = 0; e && depth < 6; e = e.cause as ErrorLike | undefined, depth++) {
    if (typeof e.code === 'string' && NETWORK_CODES.test(e.code)) return e.code;
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'timeout';
  }
  return undefined;
}

export interface Classified {
  kind: string;
  detail: string;
  status?: number;
}

export async function classify(error: unknown): Promise<Classified> {
  const e = (error ?? {}) as ErrorLike;
  const message = typeof e.message === 'string' ? e.message : String(error);
  if (error instanceof CheckFailed) return { kind: `check: ${error.kind}`, detail: message };
  if (error instanceof HttpFailure) return { kind: `http ${error.status}${error.code ? ` ${error.code}` : ''}`, detail: message, status: error.status };
  // openid-client / oauth4webapi: an OAuth error body (ResponseBodyError) …
  if (typeof e.status === 'number' && typeof e.error === 'string') {
    return { kind: `http ${e.status} ${e.error}`, detail: typeof e.error_description === 'string' ? e.error_description : message, status: e.status };
  }
  // An error sent back to the client's redirect URI (authorization response).
  if (typeof e.error === 'string') return { kind: `authorization error ${e.error}`, detail: typeof e.error_description === 'string' ? e.error_description : message };
  // … or an unexpected status without one (cause: the Response).
  // oauth4webapi reads OAuth error bodies of 4xx answers only; a 5xx body is read here.
  if (e.cause instanceof Response) {
    const res = e.cause;
    let body = '';
    try {
      body = res.bodyUsed ? '' : await res.text();
    } catch {
      // unreadable
    }
    let code: string | undefined;
    try {
      const json = JSON.parse(body) as { error?: unknown; error_description?: unknown };
      if (typeof json.error === 'string') code = json.error;
      if (typeof json.error_description === 'string') body = json.error_description;
    } catch {
      // not JSON
    }
    return { kind: `http ${res.status} ${code ?? '(no OAuth error body)'}`, detail: body.replace(/\s+/g, ' ').slice(0, 200) || message, status: res.status };
  }
  const net = networkCode(error);
  if (net === 'timeout') return { kind: 'timeout', detail: message };
  if (net) return { kind: `network ${net}`, detail: message };
  const code = typeof e.code === 'string' ? ` ${e.code}` : '';
  return { kind: `${typeof e.name === 'string' ? e.name : 'Error'}${code}`, detail: message.slice(0, 300) };
}
