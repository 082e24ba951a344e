// Public clients that authenticate with HTTP Basic and an empty password. oidc-agent (oidc-gen, given a
// client without a secret) sends `Authorization: Basic base64("<client_id>:")` and client_id in the body,
// to the device authorization and token endpoints alike; the engine refuses that ("client_secret must be
// provided in the Authorization header"). An empty secret proves nothing, so the request is handed on as
// what it means — client_id in the body, no credentials — and the engine's client authentication decides:
// a client registered with token_endpoint_auth_method none is accepted, any other is refused (invalid_client),
// as it would have been with the empty secret. No one gains a way in.
import type { IncomingMessage } from 'node:http';
import { formDecode } from '../../domain/wire-syntax.ts';

/** Rewrites `req`'s headers and `form` in place when they hold Basic credentials with an empty secret; whether it did. */
export function dropEmptyBasicSecret(req: IncomingMessage, form: URLSearchParams): boolean {
  const match = /^basic +([A-Za-z0-9+/=]+)$/i.exec(req.headers.authorization?.trim() ?? '');
  if (!match) return false;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 1 || colon !== decoded.length - 1) return false;
  // RFC 6749 §2.3.1: the client id is form-encoded before Basic's base64.
  const clientId = formDecode(decoded.slice(0, colon));
  if (!clientId) return false;
  const inBody = form.getAll('client_id');
  if (inBody.length > 1 || (inBody.length === 1 && inBody[0] !== clientId)) return false;
  delete req.headers.authorization;
  form.set('client_id', clientId);
  return true;
}
