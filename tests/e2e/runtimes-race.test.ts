/**
 * Two `npm start` runtimes (two processes, as two Lambda containers are) on one database and
 * one storage, raced against each other over HTTP: registration, refresh rotation, quota
 * reservation and upload completion each keep one winner, on SQLite (one shared file) and on
 * PostgreSQL (one shared database), with no in-process lock to lean on.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cleanEnv, runtimeDatabaseEnv, startReadyRuntime, type LocalProcess } from './local-process';

jest.setTimeout(60_000);

const password = 'SecurePassword123!';
const QUOTA = 1_000_000;
let dataDir: string;
const servers: LocalProcess[] = [];
let apis: string[] = [];

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sua-e2e-runtimes-'));
  const database = await runtimeDatabaseEnv();
  const shared = {
    PORT: '0',
    S3_PORT: '0',
    BCRYPT_ROUNDS: '4',
    USER_QUOTA_BYTES: String(QUOTA),
    JWT_SECRET: randomBytes(32).toString('hex'),
    MFA_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
    S3_ACCESS_KEY_ID: 'RACEKEY',
    S3_SECRET_ACCESS_KEY: randomBytes(30).toString('base64url'),
    DATABASE_URL: database.DATABASE_URL ?? `sqlite:///${path.join(dataDir, 'shared.db')}`,
  };
  // The first serves the storage; the second is pointed at it, as every container shares one bucket.
  const first = await startReadyRuntime(cleanEnv({ ...shared, DATA_DIR: path.join(dataDir, 'a') }));
  servers.push(first.server);
  const storage = /^Storage:\s+(http:\/\/\S+)$/m.exec(first.server.output())?.[1] ?? '';
  const second = await startReadyRuntime(cleanEnv({ ...shared, DATA_DIR: path.join(dataDir, 'b'), S3_ENDPOINT: storage }));
  servers.push(second.server);
  apis = [first.api, second.api];
}, 190_000);

afterAll(async () => {
  for (const server of servers) server.interrupt();
  await Promise.all(servers.map((server) => server.exited(15_000).catch(() => server.kill())));
  fs.rmSync(dataDir, { recursive: true, force: true });
}, 40_000);

interface Answer {
  readonly status: number;
  readonly body: any;
}

/** `count` calls (the body may differ per call), alternating between the two runtimes, all sent at once. */
function raceOnBoth(count: number, method: string, route: string, bodyOf?: unknown, token?: string): Promise<Answer[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, index) => {
      const body = typeof bodyOf === 'function' ? bodyOf(index) : bodyOf;
      const response = await fetch(`${apis[index % 2]}${route}`, {
        method,
        headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body ? { 'Content-Type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : undefined };
    }),
  );
}

async function call(method: string, route: string, body?: unknown, token?: string): Promise<Answer> {
  const [answer] = await raceOnBoth(1, method, route, body, token);
  return answer as Answer;
}

const statuses = (answers: Answer[]) => answers.map((answer) => answer.status).sort();

async function signUp(email: string): Promise<{ access_token: string; refresh_token: string }> {
  expect((await call('POST', '/auth/register', { email, password })).status).toBe(201);
  return (await call('POST', '/auth/login', { email, password })).body;
}

test('a registration raced across both runtimes creates one account', async () => {
  const answers = await raceOnBoth(6, 'POST', '/auth/register', { email: 'racer@example.com', password });
  expect(statuses(answers)).toEqual([201, 409, 409, 409, 409, 409]);
  expect((await call('POST', '/auth/login', { email: 'RACER@example.com', password })).status).toBe(200);
});

test('a refresh token raced across both runtimes rotates once, and the replays end its session', async () => {
  const pair = await signUp('refresher@example.com');
  const answers = await raceOnBoth(6, 'POST', '/auth/refresh', { refresh_token: pair.refresh_token });
  expect(statuses(answers)).toEqual([200, 401, 401, 401, 401, 401]);
  const winner = answers.find((answer) => answer.status === 200)?.body;
  // The losers presented a rotated token: reuse, so the whole family is revoked, successor included.
  expect((await call('POST', '/auth/refresh', { refresh_token: winner.refresh_token })).status).toBe(401);
  expect((await call('GET', '/auth/me', undefined, winner.access_token)).status).toBe(401);
});

test('quota reservations raced across both runtimes never overshoot USER_QUOTA_BYTES', async () => {
  const { access_token } = await signUp('hoarder@example.com');
  const size = 300_000; // three fit in the quota, a fourth does not
  const plan = (index: number) => ({ filename: `part-${index}.txt`, content_type: 'text/plain', size });
  const answers = await raceOnBoth(8, 'POST', '/uploads', plan, access_token);
  expect(statuses(answers)).toEqual([201, 201, 201, 413, 413, 413, 413, 413]);
});

test('a completion raced across both runtimes stores the file once', async () => {
  const { access_token } = await signUp('completer@example.com');
  const bytes = Buffer.from('hello from two runtimes\n');
  const plan = await call('POST', '/uploads', { filename: 'hello.txt', content_type: 'text/plain', size: bytes.length }, access_token);
  expect(plan.status).toBe(201);
  const put = await fetch(plan.body.upload.url, { method: 'PUT', headers: plan.body.upload.headers, body: bytes });
  expect(put.status).toBe(200);

  const answers = await raceOnBoth(6, 'POST', `/uploads/${plan.body.id}/complete`, undefined, access_token);
  // Every answer is the stored file, or (a racer that waited out the one in progress) 409 retry.
  for (const answer of answers) expect([200, 409]).toContain(answer.status);
  const stored = answers.filter((answer) => answer.status === 200);
  expect(stored.length).toBeGreaterThan(0);
  for (const answer of stored) expect(answer.body).toMatchObject({ id: plan.body.id, status: 'uploaded', size: bytes.length });

  const listed = await call('GET', '/files?limit=100', undefined, access_token);
  expect(listed.body.files.map((file: { id: string }) => file.id)).toEqual([plan.body.id]);
  const download = await fetch(stored[0]?.body.url);
  expect(Buffer.from(await download.arrayBuffer()).equals(bytes)).toBe(true);
});
