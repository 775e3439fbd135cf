/**
 * Issue 4 as a new user tries it after `npm start`: plan, upload straight to storage (a file
 * larger than API Gateway could ever carry, in presigned parts), complete, list, download and
 * delete; another user can neither see nor touch it.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cleanEnv, runtimeDatabaseEnv, startLocalProcess, type LocalProcess } from './local-process';

const MiB = 1024 ** 2;
let dataDir: string;
let server: LocalProcess;
let api: string;

jest.setTimeout(60_000);

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sua-e2e-direct-'));
  server = startLocalProcess(
    cleanEnv({ PORT: '0', S3_PORT: '0', DATA_DIR: dataDir, BCRYPT_ROUNDS: '4', MULTIPART_THRESHOLD_BYTES: String(8 * MiB) , ...(await runtimeDatabaseEnv()) }),
  );
  await server.waitFor(/^Ready\. Press Ctrl-C to stop\.$/m, 90_000);
  api = /^API:\s+(http:\/\/\S+)$/m.exec(server.output())?.[1] ?? '';
}, 95_000);

afterAll(async () => {
  server.interrupt();
  await server.exited(15_000).catch(() => server.kill());
  fs.rmSync(dataDir, { recursive: true, force: true });
}, 20_000);

async function call(method: string, route: string, token?: string, body?: unknown) {
  const response = await fetch(`${api}${route}`, {
    method,
    headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

async function signUp(email: string): Promise<string> {
  const credentials = { email, password: 'SecurePassword123!' };
  expect((await call('POST', '/auth/register', undefined, credentials)).status).toBe(201);
  return (await call('POST', '/auth/login', undefined, credentials)).body.access_token;
}

test('a 12 MiB file goes straight to storage in parts, and only its owner sees it', async () => {
  const alice = await signUp('alice@example.com');
  const bob = await signUp('bob@example.com');
  const bytes = Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(12 * MiB - 9)]);

  const plan = await call('POST', '/uploads', alice, { filename: 'report.pdf', content_type: 'application/pdf', size: bytes.length });
  expect(plan.status).toBe(201);
  expect(plan.body.upload).toMatchObject({ method: 'multipart', part_size: 8 * MiB });

  const parts = [];
  const [first] = plan.body.upload.parts as Array<{ url: string }>;
  // Each part URL is signed for its exact length, and the storage holds it to that.
  const oversized = await fetch(first?.url ?? '', { method: 'PUT', body: bytes.subarray(0, plan.body.upload.part_size + 1) });
  expect([oversized.status, await oversized.text()]).toEqual([403, expect.stringContaining('<Code>SignatureDoesNotMatch</Code>')]);
  for (const part of plan.body.upload.parts as Array<{ part_number: number; url: string }>) {
    const start = (part.part_number - 1) * plan.body.upload.part_size;
    const response = await fetch(part.url, { method: 'PUT', body: bytes.subarray(start, start + plan.body.upload.part_size) });
    expect(response.status).toBe(200);
    parts.push({ part_number: part.part_number, etag: response.headers.get('etag') });
  }
  const done = await call('POST', `/uploads/${plan.body.id}/complete`, alice, { parts });
  expect(done.status).toBe(200);
  expect(done.body).toMatchObject({ id: plan.body.id, filename: 'report.pdf', status: 'uploaded', size: bytes.length, content_type: 'application/pdf' });

  const listed = await call('GET', '/files?limit=10', alice);
  expect(listed.body.files.map((file: { id: string }) => file.id)).toEqual([plan.body.id]);
  expect((await call('GET', '/files', bob)).body).toEqual({ files: [], next_cursor: null });

  const read = await call('GET', `/files/${plan.body.id}`, alice);
  expect(read.status).toBe(200);
  const download = await fetch(read.body.url);
  expect(download.headers.get('content-disposition')).toMatch(/^attachment; filename="report.pdf"/);
  expect(Buffer.from(await download.arrayBuffer()).equals(bytes)).toBe(true);
  const inline = new URL(read.body.url);
  inline.searchParams.set('response-content-disposition', 'inline');
  expect((await fetch(inline)).status).toBe(403);

  expect((await call('GET', `/files/${plan.body.id}`, bob)).status).toBe(404);
  expect((await call('DELETE', `/files/${plan.body.id}`, bob)).status).toBe(404);
  expect((await call('DELETE', `/files/${plan.body.id}`, alice)).status).toBe(204);
  expect((await call('GET', `/files/${plan.body.id}`, alice)).status).toBe(404);
  expect((await fetch(read.body.url)).status).toBe(404); // the object is gone from storage too
});

test('a browser may PUT straight to the embedded storage (CORS preflight)', async () => {
  const alice = (await call('POST', '/auth/login', undefined, { email: 'alice@example.com', password: 'SecurePassword123!' })).body.access_token;
  const plan = await call('POST', '/uploads', alice, { filename: 'a.txt', content_type: 'text/plain', size: 5 });
  const preflight = await fetch(plan.body.upload.url, {
    method: 'OPTIONS',
    headers: { Origin: 'http://localhost:3000', 'Access-Control-Request-Method': 'PUT', 'Access-Control-Request-Headers': 'content-type' },
  });
  expect(preflight.status).toBe(200);
  expect(preflight.headers.get('access-control-allow-origin')).toMatch(/^(\*|http:\/\/localhost:3000)$/);
  // The upload itself, as the browser sends it: the planned headers, the planned size.
  const put = await fetch(plan.body.upload.url, { method: 'PUT', headers: { Origin: 'http://localhost:3000', ...plan.body.upload.headers }, body: 'hello' });
  expect([put.status, put.headers.get('access-control-allow-origin')]).toEqual([200, expect.stringMatching(/^(\*|http:\/\/localhost:3000)$/)]);
  const other = await fetch(plan.body.upload.url, { method: 'PUT', headers: { Origin: 'http://localhost:3000', 'Content-Type': 'text/html' }, body: 'hello' });
  expect(other.status).toBe(403);
});
