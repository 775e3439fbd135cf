import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { acceptsGzip } from './http/accept-encoding';
import { HttpError } from './http/errors';
import type { HttpResponse } from './http/response';

/** The files of swagger-ui-dist the page needs; nothing else in that folder is served. */
const ASSETS: Readonly<Record<string, string>> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
  'favicon-16x16.png': 'image/png',
};

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Secure File Upload API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/swagger-initializer.js"></script>
</body>
</html>
`;

// Inline scripts are forbidden by the page's CSP, so the initializer is a file of its own.
const INITIALIZER = `window.onload = function () {
  window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true, persistAuthorization: false });
};
`;

const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'", // Swagger UI sets inline styles
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

let directory: string | undefined;

/**
 * Where swagger-ui-dist's files are: `SWAGGER_UI_DIR` when set, a `swagger-ui` folder beside
 * the bundled handler (how the CDK stack ships them), or the npm package itself.
 */
function assetDirectory(): string {
  if (directory) return directory;
  const candidates = [process.env.SWAGGER_UI_DIR, path.join(__dirname, 'swagger-ui')];
  for (const candidate of candidates) {
    if (candidate && fs.existsSync(path.join(candidate, 'swagger-ui-bundle.js'))) return (directory = candidate);
  }
  return (directory = path.dirname(require.resolve('swagger-ui-dist/package.json')));
}

const cache = new Map<string, { body: Buffer; gzipped: Buffer | undefined; type: string }>();

function load(name: string): { body: Buffer; gzipped: Buffer | undefined; type: string } | undefined {
  const cached = cache.get(name);
  if (cached) return cached;
  let entry;
  if (name === '') entry = { body: Buffer.from(PAGE), type: 'text/html; charset=utf-8' };
  else if (name === 'swagger-initializer.js') entry = { body: Buffer.from(INITIALIZER), type: 'text/javascript; charset=utf-8' };
  else if (Object.hasOwn(ASSETS, name)) entry = { body: fs.readFileSync(path.join(assetDirectory(), name)), type: ASSETS[name] ?? 'application/octet-stream' };
  else return undefined;
  const compressible = !entry.type.startsWith('image/') && entry.body.length > 1024;
  const full = { ...entry, gzipped: compressible ? gzipSync(entry.body) : undefined };
  cache.set(name, full);
  return full;
}

/**
 * One docs response: the page for `''`, else a whitelisted asset, gzipped when the client
 * accepts it (the bundle is ~1.5 MB; API Gateway does not compress by itself).
 */
export function docsAsset(name: string, acceptEncoding: string | undefined): HttpResponse {
  const asset = load(name);
  if (!asset) throw new HttpError(404, 'No such documentation asset');
  const gzip = asset.gzipped !== undefined && acceptsGzip(acceptEncoding);
  return {
    status: 200,
    body: gzip ? asset.gzipped : asset.body,
    headers: {
      'Content-Type': asset.type,
      'Cache-Control': name === '' ? 'no-cache' : 'public, max-age=86400',
      'Content-Security-Policy': PAGE_CSP,
      Vary: 'Accept-Encoding',
      ...(gzip ? { 'Content-Encoding': 'gzip' } : {}),
    },
  };
}
