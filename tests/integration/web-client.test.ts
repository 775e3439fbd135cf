/**
 * The web function (GET / and GET /assets/{file}): the built client's page and assets only, a
 * strict CSP naming the storage origin, gzip, and 404 (never 500) for anything else. Runs on
 * a stand-in build in a temporary folder; the real build is what tests/browser drives.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { handler as resetPage } from '../../functions/auth-password-reset-page';
import { handler as web } from '../../functions/web';
import { routes } from '../../functions/routes';
import { acceptsGzip } from '../../lib/http/accept-encoding';
import { resetWebAssets } from '../../lib/web-assets';
import { createTestEventV2, invoke, lambdaContext } from '../helpers/events';
import { resetRuntime } from '../helpers/runtime';

const saved = { ...process.env };
let dist: string;
const SCRIPT = `console.log(${JSON.stringify('x'.repeat(4000))});\n`;

const page = () => invoke(web, createTestEventV2({ path: '/', routeKey: 'GET /' }));
const asset = (file: string, headers: Record<string, string> = {}) =>
  createTestEventV2({ path: `/assets/${file}`, routeKey: 'GET /assets/{file}', pathParameters: { file }, headers });

beforeAll(() => {
  dist = fs.mkdtempSync(path.join(os.tmpdir(), 'sua-web-dist-'));
  fs.mkdirSync(path.join(dist, 'assets'));
  fs.writeFileSync(path.join(dist, 'index.html'), '<!doctype html><html><head><script type="module" src="/assets/index-abc123.js"></script></head><body></body></html>');
  fs.writeFileSync(path.join(dist, 'assets', 'index-abc123.js'), SCRIPT);
  fs.writeFileSync(path.join(dist, 'assets', 'index-abc123.css'), 'body{margin:0}');
  fs.writeFileSync(path.join(dist, '.source-hash'), 'secret-ish\n');
});

beforeEach(async () => {
  process.env = { ...saved, WEB_DIST_DIR: dist, S3_PUBLIC_ENDPOINT: 'http://localhost:9123', MAX_UPLOAD_BYTES: '1048576' };
  resetWebAssets();
  await resetRuntime();
});

afterAll(async () => {
  process.env = saved;
  resetWebAssets();
  await resetRuntime();
  fs.rmSync(dist, { recursive: true, force: true });
});

describe('the web client routes', () => {
  it('are two exact paths, no catch-all', () => {
    expect(routes.filter((route) => route.handler === 'web').map((route) => `${route.method} ${route.path}`)).toEqual(['GET /', 'GET /assets/{file}']);
    expect(routes.some((route) => route.path.includes('+}') && route.handler === 'web')).toBe(false);
  });
});

describe('GET /', () => {
  it('serves the page under a strict CSP that names the storage origin, with the upload limit as a meta tag', async () => {
    const result = await page();
    expect(result.status).toBe(200);
    expect(result.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(result.headers['cache-control']).toBe('no-cache');
    expect(result.body).toContain('<meta name="max-upload-bytes" content="1048576">');
    const csp = String(result.headers['content-security-policy']);
    expect(csp.split('; ')).toEqual(
      expect.arrayContaining([
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self' http://localhost:9123",
        "frame-ancestors 'none'",
        "base-uri 'none'",
      ]),
    );
    expect(csp).not.toMatch(/unsafe|\*/);
    expect(result.headers['permissions-policy']).toContain('clipboard-write=(self)');
    expect(result.headers['permissions-policy']).toContain('camera=()');
    expect(result.headers['x-frame-options']).toBe('DENY');
  });

  it("names the bucket's regional endpoint in AWS (no S3_PUBLIC_ENDPOINT)", async () => {
    process.env = { ...saved, WEB_DIST_DIR: dist, NODE_ENV: 'test', S3_BUCKET: 'uploads-bucket', S3_REGION: 'eu-west-1' };
    delete process.env.S3_ENDPOINT;
    delete process.env.S3_PUBLIC_ENDPOINT;
    await resetRuntime();
    const result = await page();
    expect(result.headers['content-security-policy']).toContain("connect-src 'self' https://uploads-bucket.s3.eu-west-1.amazonaws.com;");
    // ... which is where the SDK points presigned URLs in AWS (no endpoint configured).
    const client = new S3Client({ region: 'eu-west-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' } });
    const presigned = await getSignedUrl(client, new PutObjectCommand({ Bucket: 'uploads-bucket', Key: 'user/file' }));
    expect(new URL(presigned).origin).toBe('https://uploads-bucket.s3.eu-west-1.amazonaws.com');
  });

  it('answers 503 JSON, not 500, when the client was never built', async () => {
    process.env.WEB_DIST_DIR = path.join(dist, 'nothing-here');
    resetWebAssets();
    const result = await page();
    expect(result.status).toBe(503);
    expect(result.body.detail).toMatch(/npm run build:web/);
  });
});

describe('GET /assets/{file}', () => {
  it('serves a built file for good (hashed names), gzipped for clients that accept it', async () => {
    const raw = await web(asset('index-abc123.js', { 'accept-encoding': 'gzip, br' }), lambdaContext());
    expect(raw.statusCode).toBe(200);
    expect(raw.headers?.['Content-Type']).toBe('text/javascript; charset=utf-8');
    expect(raw.headers?.['Cache-Control']).toBe('public, max-age=31536000, immutable');
    expect(raw.headers?.['Content-Encoding']).toBe('gzip');
    expect(gunzipSync(Buffer.from(raw.body ?? '', 'base64')).toString('utf8')).toBe(SCRIPT);
    const css = await invoke(web, asset('index-abc123.css'));
    expect([css.status, css.headers['content-type']]).toEqual([200, 'text/css; charset=utf-8']);
  });

  it('answers 404 JSON for anything that is not a built asset, traversal included', async () => {
    for (const file of ['../index.html', '..%2F..%2Fpackage.json', '.source-hash', 'index.html', 'missing-123.js', 'constructor', '__proto__', '..', '.js', 'a/b.js']) {
      const result = await invoke(web, asset(file));
      expect([file, result.status, result.headers['content-type']]).toEqual([file, 404, 'application/problem+json']);
    }
  });
});

describe('GET /auth/password/reset (where the reset mail links)', () => {
  const open = (query?: Record<string, string>) =>
    invoke(resetPage, createTestEventV2({ path: '/auth/password/reset', routeKey: 'GET /auth/password/reset', ...(query ? { query } : {}) }));

  it("sends the browser to the web client's form, the token in the fragment, never cached", async () => {
    const result = await open({ token: 'abc_DEF-123' });
    expect(result.status).toBe(303);
    expect(result.headers.location).toBe('/#/reset/abc_DEF-123');
    expect(result.headers['cache-control']).toBe('no-store');
    expect(result.headers['referrer-policy']).toBe('no-referrer');
  });

  it('keeps a made-up token inside the fragment (encoded), and answers 422 problem+json without one', async () => {
    const odd = await open({ token: 'a/../../evil?x=1#y' });
    expect([odd.status, odd.headers.location]).toEqual([303, `/#/reset/${encodeURIComponent('a/../../evil?x=1#y')}`]);
    for (const query of [undefined, { token: '' }, { token: 'x'.repeat(513) }]) {
      const refused = await open(query);
      expect([refused.status, refused.headers['content-type']]).toEqual([422, 'application/problem+json']);
    }
  });
});

describe('Accept-Encoding', () => {
  it('gzip only where the client admits it (q=0 refuses it; * admits it)', () => {
    expect([undefined, '', 'br', 'gzip;q=0', 'gzip; q=0, br', 'identity', '*;q=0'].map(acceptsGzip)).toEqual(Array(7).fill(false));
    expect(['gzip', 'GZIP', 'br, gzip', 'gzip;q=0.5', '*', 'deflate, *;q=0.1'].map(acceptsGzip)).toEqual(Array(6).fill(true));
  });
});
