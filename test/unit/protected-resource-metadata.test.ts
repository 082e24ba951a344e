// RFC 9728 in the resource-server module (src/resource-server/protected-resource-metadata.ts): where the
// metadata lives for a resource, what it says, and the challenge parameters a refusal gains.
import { describe, expect, it } from 'vitest';
import {
  announceResourceMetadata,
  protectedResourceMetadata,
  protectedResourceMetadataResponse,
  protectedResourceMetadataUrl,
  type AccessDecision,
} from '../../src/resource-server/index.ts';

const options = { resource: 'https://mcp.example.com/mcp', authorizationServers: ['https://login.example.com'], scopesSupported: ['mcp:tools'] };

describe('protected-resource metadata (RFC 9728)', () => {
  it('puts the well-known path between the origin and the resource path (§3.1)', () => {
    expect(protectedResourceMetadataUrl('https://mcp.example.com/mcp')).toBe('https://mcp.example.com/.well-known/oauth-protected-resource/mcp');
    expect(protectedResourceMetadataUrl('https://api.example.com')).toBe('https://api.example.com/.well-known/oauth-protected-resource');
    expect(protectedResourceMetadataUrl('https://api.example.com/v1/?tenant=a')).toBe('https://api.example.com/.well-known/oauth-protected-resource/v1/?tenant=a');
    expect(() => protectedResourceMetadataUrl('https://api.example.com/#x')).toThrow(TypeError);
    expect(() => protectedResourceMetadataUrl('ftp://api.example.com/')).toThrow(TypeError);
  });

  it('describes the resource, its issuers and scopes, bearer tokens in the header only', () => {
    expect(protectedResourceMetadata(options)).toEqual({
      resource: 'https://mcp.example.com/mcp',
      authorization_servers: ['https://login.example.com'],
      scopes_supported: ['mcp:tools'],
      bearer_methods_supported: ['header'],
    });
    expect(() => protectedResourceMetadata({ ...options, authorizationServers: [] })).toThrow(TypeError);
  });

  it('answers GET, HEAD and CORS preflight at its path only', () => {
    const get = protectedResourceMetadataResponse(options, 'GET', '/.well-known/oauth-protected-resource/mcp')!;
    expect(get.status).toBe(200);
    expect(get.headers['Access-Control-Allow-Origin']).toBe('*');
    expect(JSON.parse(get.body!).resource).toBe(options.resource);
    expect(protectedResourceMetadataResponse(options, 'HEAD', '/.well-known/oauth-protected-resource/mcp')!.body).toBeUndefined();
    expect(protectedResourceMetadataResponse(options, 'OPTIONS', '/.well-known/oauth-protected-resource/mcp')!.status).toBe(204);
    expect(protectedResourceMetadataResponse(options, 'POST', '/.well-known/oauth-protected-resource/mcp')).toBeUndefined();
    expect(protectedResourceMetadataResponse(options, 'GET', '/.well-known/oauth-protected-resource')).toBeUndefined();
    expect(protectedResourceMetadataResponse(options, 'GET', '/mcp')).toBeUndefined();
  });
});

describe('announceResourceMetadata', () => {
  const metadata = 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp';
  const refusal = (status: 400 | 401 | 403 | 503, challenge?: string): AccessDecision => ({
    ok: false,
    status,
    headers: challenge ? { 'WWW-Authenticate': challenge } : { 'Retry-After': '5' },
    body: { error: 'x', error_description: 'y' },
  });

  it('names the metadata and hints the scope on a 401, keeping the Bearer challenge first', () => {
    const decided = announceResourceMetadata(refusal(401, 'Bearer realm="api"'), { scopes: ['mcp:tools'], resourceMetadata: metadata });
    expect(!decided.ok && decided.headers['WWW-Authenticate']).toBe(`Bearer resource_metadata="${metadata}", scope="mcp:tools", realm="api"`);
  });

  it('keeps the scope of an insufficient_scope answer and adds only the metadata', () => {
    const decided = announceResourceMetadata(refusal(403, 'Bearer realm="api", error="insufficient_scope", scope="mcp:tools"'), { scopes: ['mcp:tools'], resourceMetadata: metadata });
    expect(!decided.ok && decided.headers['WWW-Authenticate']).toBe(`Bearer resource_metadata="${metadata}", realm="api", error="insufficient_scope", scope="mcp:tools"`);
  });

  it('leaves answers without a challenge, or without a configured URL, alone', () => {
    expect(announceResourceMetadata(refusal(503), { resourceMetadata: metadata })).toEqual(refusal(503));
    expect(announceResourceMetadata(refusal(401, 'Bearer realm="api"'), { scopes: ['a'] })).toEqual(refusal(401, 'Bearer realm="api"'));
  });
});
