/**
 * The seed README's whole curl flow against `npm start`'s command, run as a user runs it: a
 * child process on free ports with a fresh DATA_DIR and no JWT_SECRET, spoken to over real
 * HTTP, stopped with Ctrl-C. Steps run in order and share state (tokens, the upload).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { routes } from '../../functions/routes';
import { testDialect } from '../helpers/runtime';
import { cleanEnv, REPO_ROOT, START_COMMAND, runtimeDatabaseEnv, startLocalProcess, type LocalProcess } from './local-process';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO_SECONDS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
// Generous: tsx compiles the whole tree on a cold cache, and the machine is shared.
const START_TIMEOUT_MS = 90_000;
const STEP_TIMEOUT_MS = 60_000;

jest.setTimeout(STEP_TIMEOUT_MS);

interface UserBody {
  id: string;
  email: string;
  created_at: string;
}
interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
}
interface UploadBody {
  id: string;
  filename: string;
  key: string;
  url: string;
  status: string;
}
interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
}
interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, unknown>>;
}

let dataDir: string;
let server: LocalProcess;
let api: string;

const email = `alice-${randomBytes(4).toString('hex')}@example.com`;
const password = 'SecurePassword123!';
let user: UserBody;
let login: TokenPair;
let rotated: TokenPair;
let upload: UploadBody;
// A PDF to the sniffer (signature first), random bytes after: the API checks content types.
const fileBytes = Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(200 * 1024 - 9)]);

const CURL = ['/usr/bin/curl', '/usr/local/bin/curl', '/bin/curl'].find((candidate) => fs.existsSync(candidate));

function postJson(route: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${api}${route}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

function bearer(token: string): Record<string, string> {
  return { Authorization: `Bearer ${token}` };
}

function multipartFile(bytes: Uint8Array, filename: string, type: string): FormData {
  const form = new FormData();
  form.append('file', new Blob([bytes], { type }), filename);
  return form;
}

async function json<T>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sua-e2e-'));
  server = startLocalProcess(cleanEnv({ PORT: '0', S3_PORT: '0', DATA_DIR: dataDir, BCRYPT_ROUNDS: '4' , ...(await runtimeDatabaseEnv()) }));
  await server.waitFor(/^Ready\. Press Ctrl-C to stop\.$/m, START_TIMEOUT_MS);
  const apiLine = /^API:\s+(http:\/\/\S+)$/m.exec(server.output());
  if (!apiLine?.[1]) throw new Error(`no API URL in:\n${server.output()}`);
  api = apiLine[1];
}, START_TIMEOUT_MS + 5_000);

afterAll(async () => {
  // Normally stopped by the last test; this only cleans up after a failure.
  if (server) {
    server.kill();
    await server.exited(10_000).catch(() => undefined);
  }
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
}, 20_000);

describe('npm start, then the seed README flow over HTTP', () => {
  test('start-up generates a development JWT secret in DATA_DIR and says so', () => {
    expect(server.output()).toMatch(/Generated a development JWT secret in .*jwt-secret/);
    const secret = fs.readFileSync(path.join(dataDir, 'jwt-secret'), 'utf8').trim();
    expect(Buffer.byteLength(secret)).toBeGreaterThanOrEqual(32);
    expect(server.output()).toMatch(/^Docs:\s+http:\/\/\S+\/docs$/m);
    expect(server.output()).toMatch(/^Storage:\s+http:\/\/\S+$/m);
  });

  test('start-up names the database: the SQLite file in DATA_DIR, or DATABASE_URL\'s PostgreSQL without its password', () => {
    if (testDialect() === 'postgres') {
      expect(server.output()).toMatch(/^Database: PostgreSQL, 127\.0\.0\.1:\d+\/sua_test_\w+ as postgres$/m);
      expect(server.output()).not.toMatch(new URL(process.env.TEST_DATABASE_URL ?? '').password);
      expect(fs.existsSync(path.join(dataDir, 'dev.db'))).toBe(false);
    } else {
      expect(server.output()).toContain(`Database: SQLite, ${path.join(dataDir, 'dev.db')} (journal mode WAL)`);
    }
  });

  test('GET /health answers 200', async () => {
    const response = await fetch(`${api}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  test('1. register: 201 {id, email, created_at}', async () => {
    const response = await postJson('/auth/register', { email, password });
    expect(response.status).toBe(201);
    user = await json<UserBody>(response);
    expect(user).toEqual({ id: expect.stringMatching(UUID), email, created_at: expect.stringMatching(ISO_SECONDS) });
  });

  test('registering the same email again: 409 problem+json "Email already registered"', async () => {
    const response = await postJson('/auth/register', { email: email.toUpperCase(), password });
    expect(response.status).toBe(409);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const problem = await json<Problem>(response);
    expect(problem).toMatchObject({ status: 409, detail: 'Email already registered' });
    expect(problem.instance).toEqual(expect.any(String));
  });

  test('2. login: 200 token pair, not cacheable', async () => {
    const response = await postJson('/auth/login', { email, password });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toMatch(/no-store/);
    login = await json<TokenPair>(response);
    expect(login).toEqual({
      access_token: expect.any(String),
      refresh_token: expect.any(String),
      token_type: 'bearer',
      expires_in: 900,
    });
  });

  test('3. GET /auth/me: 200, the registered user (and whether the address is verified)', async () => {
    const response = await fetch(`${api}/auth/me`, { headers: bearer(login.access_token) });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ...user, email_verified: false });
  });

  test('4. upload document.pdf: 200 {id, filename, key, url, status}', async () => {
    const response = await fetch(`${api}/upload`, {
      method: 'POST',
      headers: bearer(login.access_token),
      body: multipartFile(fileBytes, 'document.pdf', 'application/pdf'),
    });
    expect(response.status).toBe(200);
    upload = await json<UploadBody>(response);
    expect(upload).toEqual({
      id: expect.stringMatching(UUID),
      filename: 'document.pdf',
      key: expect.stringMatching(new RegExp(`^${user.id}/.+document\\.pdf$`)),
      url: expect.stringMatching(/^http:\/\//),
      status: 'uploaded',
      scan_status: 'unscanned', // the seed's fields, plus the scan gate's (SCANNER=none here)
    });
  });

  test('the presigned url downloads the same bytes, as an attachment', async () => {
    const response = await fetch(upload.url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-disposition')).toMatch(/^attachment;.*document\.pdf/);
    const downloaded = Buffer.from(await response.arrayBuffer());
    expect(downloaded.length).toBe(fileBytes.length);
    expect(downloaded.equals(fileBytes)).toBe(true);
  });

  test('the storage refuses the url once changed: inline instead of attachment, or no signature', async () => {
    const inline = new URL(upload.url);
    inline.searchParams.set('response-content-disposition', 'inline');
    const refused = await fetch(inline);
    expect([refused.status, refused.headers.get('content-type')]).toEqual([403, 'application/xml']);
    expect(await refused.text()).toContain('<Code>SignatureDoesNotMatch</Code>');
    const anonymous = await fetch(upload.url.slice(0, upload.url.indexOf('?')));
    expect([anonymous.status, await anonymous.text()]).toEqual([403, expect.stringContaining('<Code>AccessDenied</Code>')]);
  });

  // The README's upload command itself, where curl is installed (fetch covers the rest).
  (CURL ? test : test.skip)('4b. the README\'s curl -F "file=@document.pdf" upload works unchanged', async () => {
    const file = path.join(dataDir, 'document.pdf');
    fs.writeFileSync(file, fileBytes);
    const { stdout } = await promisify(execFile)(CURL ?? 'curl', [
      '-s', '-X', 'POST', `${api}/upload`,
      '-H', `Authorization: Bearer ${login.access_token}`,
      '-F', `file=@${file}`,
      '-w', '\n%{http_code}',
    ]);
    const [body = '', status] = stdout.split(/\n(?=\d{3}$)/);
    expect(status).toBe('200');
    expect(JSON.parse(body)).toMatchObject({ filename: 'document.pdf', status: 'uploaded', key: expect.stringMatching(new RegExp(`^${user.id}/`)) });
  });

  test('5. refresh: 200 new pair; the old refresh token is spent', async () => {
    const response = await postJson('/auth/refresh', { refresh_token: login.refresh_token });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toMatch(/no-store/);
    rotated = await json<TokenPair>(response);
    expect(rotated).toMatchObject({ token_type: 'bearer', expires_in: 900 });
    expect(rotated.refresh_token).not.toBe(login.refresh_token);
    expect(rotated.access_token).not.toBe(login.access_token);

    const me = await fetch(`${api}/auth/me`, { headers: bearer(rotated.access_token) });
    expect(me.status).toBe(200);
  });

  test('6. logout with the new refresh token: 204, and it no longer refreshes', async () => {
    // Logout is checked before the old token is replayed: replaying a rotated token revokes
    // the whole family, which would make this check pass without logout doing anything.
    const logout = await postJson('/auth/logout', { refresh_token: rotated.refresh_token });
    expect(logout.status).toBe(204);
    expect(await logout.text()).toBe('');

    const refresh = await postJson('/auth/refresh', { refresh_token: rotated.refresh_token });
    expect(refresh.status).toBe(401);
    expect(refresh.headers.get('content-type')).toMatch(/^application\/problem\+json/);

    const replay = await postJson('/auth/refresh', { refresh_token: login.refresh_token });
    expect(replay.status).toBe(401);
  });

  test('replaying a rotated refresh token revokes its successor too', async () => {
    const pair = await json<TokenPair>(await postJson('/auth/login', { email, password }));
    const next = await postJson('/auth/refresh', { refresh_token: pair.refresh_token });
    expect(next.status).toBe(200);
    const successor = await json<TokenPair>(next);

    expect((await postJson('/auth/refresh', { refresh_token: pair.refresh_token })).status).toBe(401);
    expect((await postJson('/auth/refresh', { refresh_token: successor.refresh_token })).status).toBe(401);
  });

  test('GET /docs serves Swagger UI and its assets', async () => {
    const page = await fetch(`${api}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toMatch(/swagger/i);

    const bundle = await fetch(`${api}/docs/swagger-ui-bundle.js`);
    expect(bundle.status).toBe(200);
    expect((await bundle.arrayBuffer()).byteLength).toBeGreaterThan(100_000);
  });

  test('GET /openapi.json documents every route', async () => {
    const response = await fetch(`${api}/openapi.json`);
    expect(response.status).toBe(200);
    const document = await json<OpenApiDocument>(response);
    expect(document.openapi).toMatch(/^3\./);
    const documented = Object.entries(document.paths).flatMap(([route, operations]) =>
      Object.keys(operations).map((method) => `${method.toUpperCase()} ${route}`),
    );
    const expected = routes.filter((route) => !route.hidden).map((route) => `${route.method} ${route.path}`);
    expect(documented).toEqual(expect.arrayContaining(expected));
  });

  test('an unknown route: 404 {"message":"Not Found"}, as API Gateway answers', async () => {
    const response = await fetch(`${api}/no/such/route`);
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.json()).toEqual({ message: 'Not Found' });
  });

  test('a body over API Gateway\'s 10 MB: 413 {"message": ...}', async () => {
    const response = await fetch(`${api}/upload`, {
      method: 'POST',
      headers: { ...bearer(login.access_token), 'Content-Type': 'application/octet-stream' },
      body: Buffer.alloc(10 * 1024 * 1024 + 1),
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ message: expect.any(String) });
  });

  test("a ~5 MB upload (over Lambda's 6,291,456-byte event after base64): 413 problem+json", async () => {
    const response = await fetch(`${api}/upload`, {
      method: 'POST',
      headers: bearer(rotated.access_token),
      body: multipartFile(randomBytes(5 * 1024 * 1024), 'big.bin', 'application/octet-stream'),
    });
    expect(response.status).toBe(413);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await response.json()).toMatchObject({ status: 413, detail: expect.any(String) });
  });

  test('Ctrl-C stops everything and exits 0', async () => {
    // What this suite started is what `npm start` runs (one Node process, no tsx relay).
    const manifest = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(manifest.scripts.start).toBe(START_COMMAND);
    server.interrupt();
    await expect(server.exited(15_000)).resolves.toBe(0);
    // The server (and esbuild's service) are gone, not left serving.
    await expect(server.groupRemains(5_000)).resolves.toEqual([]);
    await expect(fetch(`${api}/health`)).rejects.toThrow();
  });
});
