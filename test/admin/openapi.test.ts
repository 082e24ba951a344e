// The OpenAPI document: valid OpenAPI 3.1, generated from the routes the router really serves (compared with
// the router's own route table, both ways), every operation protected by the oauth2 scheme with a known scope.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { Validator } from '@seriousme/openapi-schema-validator';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { createLogger } from '../../src/logger.ts';
import { createAccessTokenVerifier } from '../../src/domain/access-token-verifier.ts';
import { ADMIN_SCOPES } from '../../src/http/admin/auth.ts';
import { ADMIN_BASE_PATH, createAdminRouter, servedRoutes, toRouterPath } from '../../src/http/admin/router.ts';
import { adminApi } from './helpers.ts';
import { createClient, createUser } from '../helpers/oauth.ts';

let server: TestServer;
let doc: any;

beforeAll(async () => {
  server = await startTestServer();
  const res = await fetch(`${server.issuer}/admin/v1/openapi.json`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/application\/json/);
  doc = await res.json();
});
afterAll(() => server?.stop());

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];
const documented = () =>
  Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, operation]) => ({ method, path, operation })),
  );

describe('the OpenAPI document', () => {
  it('is valid OpenAPI 3.1', async () => {
    const validator = new Validator();
    const result = await validator.validate(doc);
    expect(result.errors, JSON.stringify(result.errors, null, 2)).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('lists exactly the routes the router serves', () => {
    const router = createAdminRouter({
      config: server.config,
      logger: createLogger('silent', new Writable({ write: (_c, _e, cb) => cb() })),
      verifier: createAccessTokenVerifier(server.runtime.db, server.issuer),
      operations: server.operations,
    });
    const served = servedRoutes(router).map((r) => `${r.method} ${r.path}`).sort();
    const inDocument = documented().map((r) => `${r.method.toUpperCase()} ${ADMIN_BASE_PATH}${toRouterPath(r.path)}`).sort();
    expect(served.length).toBeGreaterThan(30);
    expect(inDocument).toEqual(served);
  });

  it('documents every path parameter, and only those', () => {
    for (const { path, operation } of documented()) {
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      const declared = (operation.parameters ?? []).filter((p: any) => p.in === 'path').map((p: any) => p.name).sort();
      expect(declared, path).toEqual(inPath);
    }
  });

  it('protects every operation but the document itself with the oauth2 client_credentials scheme and a listed scope', () => {
    const scheme = doc.components.securitySchemes.adminOAuth;
    expect(scheme.type).toBe('oauth2');
    expect(scheme.flows.clientCredentials.tokenUrl).toBe(`${server.issuer}/token`);
    expect(Object.keys(scheme.flows.clientCredentials.scopes).sort()).toEqual([...ADMIN_SCOPES].sort());
    for (const { method, path, operation } of documented()) {
      if (path === '/openapi.json') {
        expect(operation.security).toEqual([]);
        continue;
      }
      expect(operation.security, `${method} ${path}`).toHaveLength(1);
      const [scope] = operation.security[0].adminOAuth;
      expect(ADMIN_SCOPES, `${method} ${path}`).toContain(scope);
      expect(operation.responses['401'].content['application/json'].schema.$ref).toBe('#/components/schemas/Error');
    }
    expect(doc.servers).toEqual([{ url: `${server.issuer}/admin/v1` }]);
  });

  it('gives every operation a unique operationId, request schemas that refuse unknown fields, and response schemas', () => {
    const ids = documented().map((r) => r.operation.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { method, path, operation } of documented()) {
      const body = operation.requestBody?.content['application/json'].schema;
      if (body) expect(body.additionalProperties, `${method} ${path}`).toBe(false);
      const success = Object.keys(operation.responses).find((s) => s.startsWith('2'))!;
      expect(operation.responses[success].content['application/json'].schema.type, `${method} ${path}`).toBe('object');
    }
  });

  it('describes routes the live server answers: each asks for a token rather than not existing', async () => {
    const anonymous = adminApi(server, undefined);
    for (const { method, path } of documented()) {
      if (path === '/openapi.json') continue;
      const res = await anonymous.request(method.toUpperCase(), path.replace(/\{\w+\}/g, 'x'));
      expect(res.status, `${method} ${path}`).toBe(401);
    }
  });

  it('is public on purpose (docs/admin-api.md): served without a token, it describes routes and never data', async () => {
    await createClient(server, { name: 'Project Zebra Payroll' });
    await createUser(server, 'zebra-operator');
    const res = await fetch(`${server.issuer}/admin/v1/openapi.json`); // no Authorization header
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).not.toMatch(/zebra/i);
    // The same document as before any data existed: nothing in it comes from the database.
    expect(JSON.parse(text)).toEqual(doc);
  });
});
