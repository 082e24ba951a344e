// The few HTTP helpers every call to the issuer shares: client_secret_basic, timeouts, JSON answers.
import type { FetchFunction } from './types.ts';

/** RFC 6749 §2.3.1: client id and secret are form-encoded before they are joined and base64-encoded. */
export function basicAuthorization(clientId: string, clientSecret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;
}

/** An error talking to the issuer (network, timeout, unexpected status or body). */
export class IssuerRequestError extends Error {
  readonly status: number | undefined;
  readonly code: string | undefined;
  constructor(message: string, options: { status?: number; code?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'IssuerRequestError';
    this.status = options.status;
    this.code = options.code;
  }
}

export interface RequestOptions {
  fetch: FetchFunction;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  form?: Record<string, string>;
}

/** Fetches a JSON object; anything but a 2xx JSON object is an IssuerRequestError (carrying `error` if sent). */
export async function requestJson(url: string, options: RequestOptions): Promise<Record<string, unknown>> {
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
  let body: string | undefined;
  if (options.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(options.form).toString();
  }
  let res: Response;
  try {
    res = await options.fetch(url, { method: options.method ?? (body ? 'POST' : 'GET'), headers, body, signal, redirect: 'error' });
  } catch (cause) {
    const reason = timeout.aborted ? 'timed out' : options.signal?.aborted ? 'was aborted' : 'failed';
    throw new IssuerRequestError(`request to ${url} ${reason}`, { cause });
  }
  let json: unknown;
  try {
    json = await res.json();
  } catch (cause) {
    throw new IssuerRequestError(`${url} answered ${res.status} without a JSON body`, { status: res.status, cause });
  }
  const object = typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>) : undefined;
  if (!res.ok || !object) {
    const code = typeof object?.error === 'string' ? object.error : undefined;
    throw new IssuerRequestError(`${url} answered ${res.status}${code ? ` ${code}` : ''}`, { status: res.status, ...(code ? { code } : {}) });
  }
  return object;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}
