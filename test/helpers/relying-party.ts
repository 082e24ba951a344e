// A stand-in relying party for tests: records back-channel logout tokens posted to it.
import { createServer, type Server } from 'node:http';

export interface RelyingParty {
  url: string;
  logoutTokens: string[];
  close(): Promise<void>;
  waitForLogoutTokens(count: number): Promise<string[]>;
}

export async function startRelyingParty(): Promise<RelyingParty> {
  const logoutTokens: string[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.method === 'POST' && req.url?.startsWith('/backchannel')) {
        const token = new URLSearchParams(body).get('logout_token');
        if (token) logoutTokens.push(token);
        res.writeHead(200).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end('callback');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    logoutTokens,
    close: () => new Promise((resolve) => server.close(() => resolve())),
    async waitForLogoutTokens(count) {
      for (let i = 0; i < 100 && logoutTokens.length < count; i++) await new Promise((r) => setTimeout(r, 50));
      return logoutTokens;
    },
  };
}
