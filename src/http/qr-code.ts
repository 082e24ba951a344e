// The enrolment page's QR code, drawn here as an SVG data: URI (no third party sees the secret; the pages'
// CSP allows img-src data:, middleware/security-headers.ts).
import QRCode from 'qrcode';

export async function qrCodeDataUri(text: string): Promise<string> {
  const svg = await QRCode.toString(text, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
  return `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;
}
