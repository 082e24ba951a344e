// A real SMTP server in the test process (smtp-server): Tessera sends to it over the wire as it would to a
// mail relay, and tests read what arrived — envelope, headers and the text and HTML parts — with a small
// MIME reader (multipart, quoted-printable, base64) enough for the messages nodemailer builds.
import { SMTPServer } from 'smtp-server';
import type { AddressInfo } from 'node:net';

export interface ReceivedMail {
  /** The envelope's recipients. */
  to: string[];
  headers: Record<string, string>;
  subject: string;
  text: string;
  html: string;
  raw: string;
}

export interface TestSmtpServer {
  /** SMTP_URL for the server under test. */
  url: string;
  received: ReceivedMail[];
  /** The next message to arrive for `to` (or already arrived and not yet taken). */
  next(to?: string): Promise<ReceivedMail>;
  /** Makes the next `n` deliveries fail with a temporary error (451). */
  failNext(n: number): void;
  close(): Promise<void>;
}

export async function startSmtpServer(): Promise<TestSmtpServer> {
  const received: ReceivedMail[] = [];
  const taken = new Set<ReceivedMail>();
  const waiters: Array<{ to: string | undefined; resolve: (m: ReceivedMail) => void }> = [];
  let failures = 0;
  const matches = (m: ReceivedMail, to: string | undefined) => !taken.has(m) && (to === undefined || m.to.includes(to.toLowerCase()));

  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (failures > 0) {
          failures--;
          const error = new Error('try again later') as Error & { responseCode: number };
          error.responseCode = 451;
          return callback(error);
        }
        const raw = Buffer.concat(chunks).toString('utf8');
        const mail = parseMail(raw, session.envelope.rcptTo.map((r) => r.address.toLowerCase()));
        received.push(mail);
        callback();
        const i = waiters.findIndex((w) => matches(mail, w.to));
        if (i >= 0) {
          taken.add(mail);
          waiters.splice(i, 1)[0]!.resolve(mail);
        }
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    received,
    next(to) {
      const waiting = received.find((m) => matches(m, to));
      if (waiting) {
        taken.add(waiting);
        return Promise.resolve(waiting);
      }
      return new Promise((resolve) => waiters.push({ to, resolve }));
    },
    failNext(n) {
      failures = n;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Headers (unfolded, lower-case names) and body of one MIME entity. */
function splitEntity(raw: string): { headers: Record<string, string>; body: string } {
  const normalized = raw.replace(/\r\n/g, '\n');
  const end = normalized.indexOf('\n\n');
  const head = end < 0 ? normalized : normalized.slice(0, end);
  const body = end < 0 ? '' : normalized.slice(end + 2);
  const headers: Record<string, string> = {};
  for (const line of head.replace(/\n[ \t]+/g, ' ').split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { headers, body };
}

function decodeBody(body: string, encoding: string | undefined): string {
  switch ((encoding ?? '7bit').toLowerCase()) {
    case 'base64':
      return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
    case 'quoted-printable': {
      const bytes = body.replace(/=\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => `%${hex}`);
      // Percent-decoding handles multi-byte UTF-8 sequences; literal % is escaped first.
      return decodeURIComponent(bytes.replace(/%(?![0-9A-Fa-f]{2})/g, '%25'));
    }
    default:
      return body;
  }
}

/** The text/plain and text/html parts, depth-first through multipart entities. */
function collectParts(entity: { headers: Record<string, string>; body: string }, into: { text: string; html: string }): void {
  const type = entity.headers['content-type'] ?? 'text/plain';
  const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
  if (/^multipart\//i.test(type) && boundary) {
    const sections = entity.body.split(`--${boundary}`).slice(1);
    for (const section of sections) {
      if (section.startsWith('--')) break;
      collectParts(splitEntity(section.replace(/^\n/, '')), into);
    }
    return;
  }
  const decoded = decodeBody(entity.body, entity.headers['content-transfer-encoding']);
  if (/^text\/html/i.test(type)) into.html += decoded;
  else if (/^text\/plain/i.test(type)) into.text += decoded;
}

/** RFC 2047 encoded words in a header (=?UTF-8?Q?…?= / =?UTF-8?B?…?=). */
function decodeHeader(value: string): string {
  return value.replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g, (_, _charset: string, mode: string, data: string) =>
    mode.toUpperCase() === 'B' ? Buffer.from(data, 'base64').toString('utf8') : decodeBody(data.replace(/_/g, ' '), 'quoted-printable'),
  );
}

export function parseMail(raw: string, to: string[] = []): ReceivedMail {
  const entity = splitEntity(raw);
  const parts = { text: '', html: '' };
  collectParts(entity, parts);
  return { to, headers: entity.headers, subject: decodeHeader(entity.headers.subject ?? ''), text: parts.text, html: parts.html, raw };
}

/** The first link to `path` on the issuer in the message's text part. */
export function linkIn(mail: ReceivedMail, path: string): string {
  const found = new RegExp(`https?://[^\\s"<>]+${path.replace(/[/?]/g, (c) => `\\${c}`)}\\?token=[A-Za-z0-9_-]+`).exec(mail.text);
  if (!found) throw new Error(`no ${path} link in the message: ${mail.text}`);
  return found[0];
}
