// What the engine did with a request, for the request log and the metrics: its route name, the client and
// the account (never a token or code), tokens issued by grant type, introspection and revocation outcomes.
// Engine middleware (provider.use) runs around every engine request; the host reads the fields back from
// the Node request object once the engine has answered (http/middleware/request-log.ts).
import type { IncomingMessage } from 'node:http';
import type Provider from 'oidc-provider';
import type { Metrics } from '../metrics.ts';
import type { AuditBuffer } from '../domain/audit-buffer.ts';

export interface EngineLogFields {
  route: string;
  client_id?: string;
  sub?: string;
  /** Answered by the host on the engine's behalf (oidc/introspection-fast-path.ts). */
  via?: 'fast-path';
}

const FIELDS = Symbol('tessera.engineLogFields');

export function engineLogFields(req: IncomingMessage): EngineLogFields | undefined {
  return (req as IncomingMessage & { [FIELDS]?: EngineLogFields })[FIELDS];
}

export function setEngineLogFields(req: IncomingMessage, fields: EngineLogFields): void {
  (req as IncomingMessage & { [FIELDS]?: EngineLogFields })[FIELDS] = fields;
}

export function observeEngine(provider: Provider, metrics: Metrics | undefined, audit: AuditBuffer | undefined): void {
  provider.use(async (ctx, next) => {
    await next();
    const route = ctx.oidc?.route;
    if (!route) return;
    const entities = (ctx.oidc.entities ?? {}) as { Account?: { accountId?: string }; Session?: { accountId?: string } };
    const fields: EngineLogFields = { route };
    const clientId = ctx.oidc.client?.clientId;
    if (clientId) fields.client_id = clientId;
    const sub = entities.Account?.accountId ?? entities.Session?.accountId;
    if (sub) fields.sub = sub;
    setEngineLogFields(ctx.req, fields);

    // The audit trail: every token issued (by grant type) and every token revoked at the endpoint.
    if ((route === 'token' || route === 'revocation') && ctx.status === 200) {
      audit?.record({
        type: route === 'token' ? 'token.issued' : 'token.revoked',
        clientId: clientId ?? null,
        accountId: sub ?? null,
        ip: ctx.ip,
        userAgent: ctx.get('user-agent'),
        details: route === 'token' ? { grant_type: String(ctx.oidc.params?.grant_type ?? 'unknown') } : {},
      });
    }

    if (!metrics) return;
    if (route === 'token' && ctx.status === 200) {
      metrics.tokensIssued.inc({ grant_type: String(ctx.oidc.params?.grant_type ?? 'unknown') });
    } else if (route === 'introspection' && ctx.status === 200) {
      const body = ctx.body as { active?: unknown } | string | undefined;
      // A signed (RFC 9701) response is a JWT string; its activity is inside the signature.
      metrics.introspections.inc({ active: typeof body === 'object' && body ? String(body.active === true) : 'signed' });
    } else if (route === 'revocation') {
      metrics.revocations.inc({ outcome: ctx.status === 200 ? 'revoked' : 'refused' });
    }
  });
}
