import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { acceptsGzip } from './http/accept-encoding';
import { getConfig } from './config';
import { HttpError } from './http/errors';
import { HTML_PERMISSIONS_POLICY } from './http/handler';
import type { HttpResponse } from './http/response';

/**
 * The web client (`web/`, built by Vite): `index.html` at `/` and its hashed files under
 * `/assets/`. Nothing else: there is no catch-all route, so an unknown API path still answers
 * the gateway's 404 JSON.
 */

const TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};

/** Asset names as Vite writes them: a name, a hash, an extension; never a path. */
const ASSET_NAME = /^[\w.-]+$/;

let directory: string | undefined;

/**
 * Where the built client is: `WEB_DIST_DIR` when set (and then only there), a `web` folder beside the bundled handler
 * (how the CDK stack ships it), or `web/dist` of the repository (the local runtime).
 */
export function webDirectory(): string | undefined {
  if (directory) return directory;
  const candidates = process.env.WEB_DIST_DIR ? [process.env.WEB_DIST_DIR] : [path.join(__dirname, 'web'), path.resolve(__dirname, '..', 'web', 'dist')];
  for (const candidate of candidates) {
    if (candidate && fs.existsSync(path.join(candidate, 'index.html'))) return (directory = candidate);
  }
  return undefined;
}

/** For tests and the local runtime after a rebuild. */
export function resetWebAssets(): void {
  directory = undefined;
  cache.clear();
}

/**
 * The origin presigned URLs point at, which the page's `connect-src` must allow for direct
 * uploads: `S3_PUBLIC_ENDPOINT` (the embedded server or MinIO), else the bucket's
 * virtual-hosted regional endpoint, which is what the SDK signs for in AWS.
 */
export function storageOrigin(): string {
  const { s3 } = getConfig();
  if (s3.publicEndpoint) return new URL(s3.publicEndpoint).origin;
  return `https://${s3.bucket}.s3.${s3.region}.amazonaws.com`;
}

/**
 * No inline script or style anywhere (Preact sets styles through the CSSOM, which CSP allows);
 * the API and the storage origin are the only places the page may talk to.
 */
export function pageCsp(): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    `connect-src 'self' ${storageOrigin()}`,
    "manifest-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
  ].join('; ');
}

interface Entry {
  readonly body: Buffer;
  readonly gzipped: Buffer | undefined;
  readonly type: string;
}

const cache = new Map<string, Entry>();

function entry(body: Buffer, type: string): Entry {
  const compressible = !type.startsWith('image/png') && body.length > 1024;
  return { body, type, gzipped: compressible ? gzipSync(body, { level: 9 }) : undefined };
}

function load(dir: string, name: string): Entry | undefined {
  const cached = cache.get(name);
  if (cached) return cached;
  let found: Entry;
  if (name === '') {
    // The limits the page needs, as meta tags (no inline script): files up to MAX_UPLOAD_BYTES go
    // through POST /upload, larger ones straight to storage.
    const html = fs
      .readFileSync(path.join(dir, 'index.html'), 'utf8')
      .replace('</head>', `  <meta name="max-upload-bytes" content="${getConfig().maxUploadBytes}">\n  </head>`);
    found = entry(Buffer.from(html), 'text/html; charset=utf-8');
  } else {
    const type = TYPES[path.extname(name)];
    if (!type || !ASSET_NAME.test(name) || name.startsWith('.')) return undefined;
    let body: Buffer;
    try {
      body = fs.readFileSync(path.join(dir, 'assets', name));
    } catch {
      return undefined;
    }
    found = entry(body, type);
  }
  cache.set(name, found);
  return found;
}

/**
 * One response of the web client: the page for `''`, else a file of `assets/`, gzipped when the
 * client accepts it (API Gateway does not compress by itself).
 */
export function webAsset(name: string, acceptEncoding: string | undefined): HttpResponse {
  const dir = webDirectory();
  if (!dir) throw new HttpError(503, 'The web client is not built: run npm run build:web');
  const asset = load(dir, name);
  if (!asset) throw new HttpError(404, 'No such asset');
  const gzip = asset.gzipped !== undefined && acceptsGzip(acceptEncoding);
  return {
    status: 200,
    body: gzip ? asset.gzipped : asset.body,
    headers: {
      'Content-Type': asset.type,
      // Asset names carry a content hash: cache them for good; the page itself is revalidated.
      'Cache-Control': name === '' ? 'no-cache' : 'public, max-age=31536000, immutable',
      'Content-Security-Policy': pageCsp(),
      'Referrer-Policy': 'no-referrer',
      // The share dialog's "Copy link" writes to the clipboard; nothing else is allowed.
      'Permissions-Policy': HTML_PERMISSIONS_POLICY.replace('clipboard-write=()', 'clipboard-write=(self)'),
      Vary: 'Accept-Encoding',
      ...(gzip ? { 'Content-Encoding': 'gzip' } : {}),
    },
  };
}
