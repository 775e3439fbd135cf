import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ApiHandler } from '../../lib/http/handler';
import { createTestEventV2, invoke } from '../helpers/events';
import { resetRuntime, testDialect, useFreshDatabase } from '../helpers/runtime';

const password = 'VerySecretPassword!42';
let lines: string[];
let restore: () => void;
let login: ApiHandler;
let register: ApiHandler;

beforeAll(async () => {
  await useFreshDatabase();
  // The logger reads its level at load time: set it (and a careless operator's switch to log
  // every event) before loading the handlers.
  process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
  process.env.POWERTOOLS_LOGGER_LOG_EVENT = 'true';
  await resetRuntime();
  ({ handler: login } = await import('../../functions/auth-login'));
  ({ handler: register } = await import('../../functions/auth-register'));
});
beforeEach(() => {
  lines = [];
  const spies = [jest.spyOn(process.stdout, 'write'), jest.spyOn(process.stderr, 'write')];
  for (const spy of spies) {
    spy.mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
  }
  restore = () => spies.forEach((spy) => spy.mockRestore());
});
afterEach(() => restore());
afterAll(() => resetRuntime());

it('logs unexpected errors with the request id, as JSON, without the request body or tokens', async () => {
  const credentials = { email: 'logs@example.com', password };
  await invoke(register, createTestEventV2({ method: 'POST', path: '/auth/register', json: credentials }));
  const tokens = await invoke(login, createTestEventV2({ method: 'POST', path: '/auth/login', json: credentials }));
  expect(tokens.status).toBe(200);

  // Break the database, so that opening it fails inside the handler. SQLite: its directory is
  // a regular file. PostgreSQL: the server is up but the database does not exist (not a 503:
  // nothing a retry would fix).
  let internals: RegExp;
  if (testDialect() === 'sqlite') {
    const notADirectory = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sua-db-')), 'test.db');
    fs.writeFileSync(notADirectory, 'not a directory');
    process.env.DATABASE_URL = `sqlite:///${notADirectory}/app.db`;
    internals = /app\.db|sqlite|ENOTDIR|\.ts/i;
  } else {
    const missing = new URL(process.env.DATABASE_URL!);
    missing.pathname = '/sua_missing_app_db';
    process.env.DATABASE_URL = missing.toString();
    internals = /sua_missing_app_db|does not exist|3D000|127\.0\.0\.1|\.ts/i;
  }
  await resetRuntime();
  const failed = await invoke(login, createTestEventV2({ method: 'POST', path: '/auth/login', json: credentials }));
  expect(failed.status).toBe(500);
  expect(failed.body.detail).toBe('An unexpected error occurred. Quote the instance id when reporting it.');
  expect(JSON.stringify(failed.body)).not.toMatch(internals);

  const output = lines.join('');
  const records = output.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  const error = records.find((record) => record.message === 'Unhandled error');
  expect(error).toMatchObject({ level: 'ERROR', service: 'secure-upload-api', function_request_id: failed.body.instance });
  expect(output).not.toContain(password);
  expect(output).not.toContain(tokens.body.access_token);
  expect(output).not.toContain(tokens.body.refresh_token);
});

it('logs one access line per request: route key, status, request id, and the 4xx reason without the body', async () => {
  await useFreshDatabase();
  await resetRuntime();
  const credentials = { email: 'access@example.com', password };
  const failed = await invoke(login, createTestEventV2({ method: 'POST', path: '/auth/login', json: credentials }));
  expect(failed.status).toBe(401);
  const records = lines.join('').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  const access = records.filter((record) => record.message === 'Request');
  expect(access).toEqual([
    expect.objectContaining({
      level: 'INFO',
      route: 'POST /auth/login',
      status: 401,
      request_id: failed.body.instance,
      function_request_id: failed.body.instance,
      reason: 'Invalid email or password',
      duration_ms: expect.any(Number),
    }),
  ]);
  expect(lines.join('')).not.toContain(password);
});
