// The pure rules of client ID metadata documents (src/domain/client-id-metadata-documents.ts) and their
// settings (src/config.ts): host lists, the per-host fetch budget, negative caching — on a clock the test moves.
import { describe, expect, it } from 'vitest';
import { createFailureMemory, createHostFetchBudget, documentUrlOf, hostRefusal, isHostPattern } from '../../src/domain/client-id-metadata-documents.ts';
import { parseConfig } from '../../src/config.ts';

describe('client ID metadata document rules', () => {
  it('recognises only https client_ids as documents', () => {
    expect(documentUrlOf('https://app.example.com/client.json')?.host).toBe('app.example.com');
    for (const id of ['http://app.example.com/client.json', 'Xy7dG2', '', 'https:nothing', 42, undefined]) expect(documentUrlOf(id)).toBeUndefined();
  });

  it('lets the deny-list win and an empty allow-list allow every host', () => {
    const lists = { allowedHosts: ['*.example.com', 'tools.example.org'], deniedHosts: ['evil.example.com'] };
    expect(hostRefusal('app.example.com', lists)).toBeUndefined();
    expect(hostRefusal('TOOLS.example.org', lists)).toBeUndefined();
    expect(hostRefusal('example.com', lists)).toMatch(/not on this server's list/); // *.x is subdomains only
    expect(hostRefusal('badexample.com', lists)).toMatch(/not on this server's list/);
    expect(hostRefusal('evil.example.com', lists)).toMatch(/not allowed/);
    expect(hostRefusal('anything.example.net', { allowedHosts: [], deniedHosts: [] })).toBeUndefined();
  });

  it('accepts host patterns only in their two shapes', () => {
    for (const ok of ['example.com', '*.example.com', '127.0.0.1', 'a-b.example']) expect(isHostPattern(ok)).toBe(true);
    for (const bad of ['*', '*.', 'ex*ample.com', 'https://example.com', 'example.com/path', '-x.com', 'a..b']) expect(isHostPattern(bad)).toBe(false);
  });

  it('allows a host a number of fetches per minute, then says how long to wait', () => {
    let now = 1_000_000;
    const take = createHostFetchBudget(2, () => now);
    expect([take('a.example'), take('a.example'), take('b.example')]).toEqual([0, 0, 0]);
    expect(take('a.example')).toBe(60);
    now += 45_000;
    expect(take('a.example')).toBe(15);
    now += 15_000;
    expect(take('a.example')).toBe(0);
  });

  it('remembers a failure for its time, then forgets it', () => {
    let now = 0;
    const memory = createFailureMemory<string>(30, 2, () => now);
    memory.remember('https://a.example/c', 'fetch failed');
    expect(memory.recall('https://a.example/c')).toBe('fetch failed');
    now += 30_000;
    expect(memory.recall('https://a.example/c')).toBeUndefined();
    memory.remember('1', 'x');
    memory.remember('2', 'y');
    memory.remember('3', 'z'); // bounded: the oldest goes
    expect([memory.recall('1'), memory.recall('2'), memory.recall('3')]).toEqual([undefined, 'y', 'z']);
  });
});

describe('client ID metadata document settings', () => {
  it('are off by default', () => {
    const result = parseConfig({});
    expect(result.ok && result.config.clientIdMetadataDocuments).toEqual({ enabled: false, allowedHosts: [], deniedHosts: [], scopes: [], fetchesPerHostPerMinute: 20 });
  });

  it('read host lists and scopes, and refuse privileged scopes and malformed hosts', () => {
    const result = parseConfig({ CLIENT_ID_METADATA_DOCUMENTS: 'true', CLIENT_ID_METADATA_DOCUMENT_ALLOWED_HOSTS: 'Tools.Example.com, *.agents.example', CLIENT_ID_METADATA_DOCUMENT_SCOPES: 'mcp:tools mcp:read' });
    expect(result.ok && result.config.clientIdMetadataDocuments).toMatchObject({ enabled: true, allowedHosts: ['tools.example.com', '*.agents.example'], scopes: ['mcp:tools', 'mcp:read'] });
    const bad = (env: Record<string, string>) => (parseConfig(env) as { problems?: string[] }).problems?.join('\n');
    expect(bad({ CLIENT_ID_METADATA_DOCUMENT_SCOPES: 'mcp:tools admin:*' })).toMatch(/CLIENT_ID_METADATA_DOCUMENT_SCOPES: must not name admin/);
    expect(bad({ CLIENT_ID_METADATA_DOCUMENT_SCOPES: 'revocations:read' })).toMatch(/CLIENT_ID_METADATA_DOCUMENT_SCOPES/);
    expect(bad({ CLIENT_ID_METADATA_DOCUMENT_DENIED_HOSTS: 'https://evil.example' })).toMatch(/CLIENT_ID_METADATA_DOCUMENT_DENIED_HOSTS: must be host names/);
  });
});
