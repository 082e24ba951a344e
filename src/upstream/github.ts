// GitHub as an upstream: OAuth 2 (no OpenID Connect), so who the person is comes from its REST API. The
// stable subject is the numeric user id (a login can be renamed); an email counts only if GitHub lists it
// as verified — the primary one when there is one.
import type { ServerMetadata } from 'openid-client';
import type { UpstreamProfile } from '../domain/federated-sign-in.ts';

export const GITHUB_SERVER: ServerMetadata = {
  issuer: 'https://github.com',
  authorization_endpoint: 'https://github.com/login/oauth/authorize',
  token_endpoint: 'https://github.com/login/oauth/access_token',
};

const API = 'https://api.github.com';

async function getJson(path: string, token: string, timeoutSeconds: number): Promise<unknown> {
  const res = await fetch(`${API}${path}`, {
    headers: { authorization: `Bearer ${token}`, accept: 'application/vnd.github+json', 'user-agent': 'tessera' },
    signal: AbortSignal.timeout(timeoutSeconds * 1000),
  });
  if (!res.ok) throw new Error(`GitHub ${path} answered ${res.status}`);
  return res.json();
}

export async function fetchGitHubProfile(accessToken: string, timeoutSeconds: number): Promise<UpstreamProfile> {
  const user = (await getJson('/user', accessToken, timeoutSeconds)) as Record<string, unknown>;
  if (typeof user.id !== 'number' && typeof user.id !== 'string') throw new Error('GitHub user has no id');
  const emails = ((await getJson('/user/emails', accessToken, timeoutSeconds).catch(() => [])) ?? []) as Array<{ email: string; primary: boolean; verified: boolean }>;
  const verified = emails.filter((e) => e.verified);
  const chosen = verified.find((e) => e.primary) ?? verified[0];
  const email = chosen?.email ?? (typeof user.email === 'string' ? user.email : undefined);
  return { subject: String(user.id), claims: { ...user, email }, email, emailVerified: Boolean(chosen) };
}
