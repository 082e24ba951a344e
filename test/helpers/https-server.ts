// An https server on 127.0.0.1 with a self-signed certificate made on the spot (no openssl needed), which the
// test process trusts while it runs: for metadata URIs that must be https (jwks_uri, sector_identifier_uri).
// Records every request that got past TLS, so a test can tell "fetched" from "stopped before a request".
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { getCACertificates, setDefaultCACertificates } from 'node:tls';

// DER, the few types a certificate needs (X.690).
const der = (tag: number, ...content: Buffer[]): Buffer => {
  const body = Buffer.concat(content);
  const n = body.length;
  const length = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, body]);
};
const seq = (...c: Buffer[]) => der(0x30, ...c);
const oid = (dotted: string) => {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const bytes = [a! * 40 + b!];
  for (const v of rest) {
    const chunk = [v & 0x7f];
    for (let x = v >> 7; x > 0; x >>= 7) chunk.unshift((x & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return der(0x06, Buffer.from(bytes));
};
const utcTime = (d: Date) => der(0x17, Buffer.from(d.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z'));
const name = (cn: string) => seq(der(0x31, seq(oid('2.5.4.3'), der(0x0c, Buffer.from(cn)))));

/** A self-signed ECDSA P-256 certificate for the IP address 127.0.0.1 (and `dnsNames`), valid for a day. */
function selfSignedCertificate(dnsNames: readonly string[] = []): { cert: string; key: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ecdsaWithSha256 = seq(oid('1.2.840.10045.4.3.2'));
  const now = Date.now();
  const names = [der(0x87, Buffer.from([127, 0, 0, 1])), ...dnsNames.map((n) => der(0x82, Buffer.from(n)))];
  const subjectAltName = seq(oid('2.5.29.17'), der(0x04, seq(...names)));
  const tbs = seq(
    der(0xa0, der(0x02, Buffer.from([2]))), // v3
    der(0x02, Buffer.concat([Buffer.from([0x01]), randomBytes(8)])),
    ecdsaWithSha256,
    name('tessera test'),
    seq(utcTime(new Date(now - 3_600_000)), utcTime(new Date(now + 86_400_000))),
    name('tessera test'),
    publicKey.export({ type: 'spki', format: 'der' }),
    der(0xa3, seq(subjectAltName)),
  );
  const signature = sign('sha256', tbs, privateKey);
  const certificate = seq(tbs, ecdsaWithSha256, der(0x03, Buffer.from([0]), signature));
  const base64 = certificate.toString('base64').match(/.{1,64}/g)!.join('\n');
  return { cert: `-----BEGIN CERTIFICATE-----\n${base64}\n-----END CERTIFICATE-----\n`, key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

export interface HttpsServer {
  /** https://127.0.0.1:<port> */
  url: string;
  /** "METHOD /path" of every request that reached the server. */
  requests: string[];
  close(): Promise<void>;
}

/** Starts the server and adds its certificate to the process's default trusted CAs until `close()`. */
export async function startHttpsServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  options: { /** Host names the certificate also covers (names that resolve to 127.0.0.1). */ dnsNames?: readonly string[] } = {},
): Promise<HttpsServer> {
  const { cert, key } = selfSignedCertificate(options.dnsNames);
  const trusted = getCACertificates('default');
  setDefaultCACertificates([...trusted, cert]);
  const requests: string[] = [];
  const server = createServer({ cert, key }, (req, res) => {
    requests.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `https://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        setDefaultCACertificates(trusted);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
