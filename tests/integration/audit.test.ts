import type { ApiHandler } from '../../lib/http/handler';
import { createTestEventV2, invoke, multipartBody, type EventOptions } from '../helpers/events';
import { pngBytes } from '../helpers/fixtures';
import { resetRuntime, startTestStorage, useFreshDatabase, type TestStorage } from '../helpers/runtime';

const password = 'AuditTrailPassword!7';
const sourceIp = '192.0.2.44';
const userAgent = 'audit-test/1.0';

let storage: TestStorage;
let output: string[];
let restoreOutput: () => void;
const handlers: Record<string, ApiHandler> = {};

const call = (name: string, options: EventOptions) =>
  invoke(handlers[name] as ApiHandler, createTestEventV2({ sourceIp, ...options, headers: { 'user-agent': userAgent, ...options.headers } }));
const post = (name: string, path: string, json: unknown) => call(name, { method: 'POST', path, json });
/** The handlers' database, loaded like them once the log level is set (static imports load the logger first). */
const db = async () => (await import('../../lib/db/connection')).getDb();
const events = (token: string, query?: Record<string, string>) => call('auth-events', { path: '/auth/events', token, ...(query ? { query } : {}) });

beforeAll(async () => {
  storage = await startTestStorage();
  await useFreshDatabase();
  // The logger reads its level when it loads: set it before loading the handlers.
  process.env.POWERTOOLS_LOG_LEVEL = 'INFO';
  await resetRuntime();
  for (const name of ['auth-register', 'auth-login', 'auth-refresh', 'auth-logout', 'auth-events', 'upload', 'files-delete']) {
    handlers[name] = ((await import(`../../functions/${name}`)) as { handler: ApiHandler }).handler;
  }
  output = [];
  const spies = [jest.spyOn(process.stdout, 'write'), jest.spyOn(process.stderr, 'write')];
  for (const spy of spies) {
    spy.mockImplementation((chunk: string | Uint8Array) => {
      output.push(String(chunk));
      return true;
    });
  }
  restoreOutput = () => spies.forEach((spy) => spy.mockRestore());
});
afterAll(async () => {
  restoreOutput();
  await resetRuntime();
  await storage.close();
});

describe('the audit trail of a session', () => {
  const email = 'audited@example.com';
  const secrets: string[] = [password];
  let accessToken: string;
  let failedInstance: string;

  it('records registration, logins, a failed login, upload, delete, logout and a refresh reuse', async () => {
    expect((await post('auth-register', '/auth/register', { email, password })).status).toBe(201);
    const first = await post('auth-login', '/auth/login', { email, password });
    expect(first.status).toBe(200);
    const failed = await post('auth-login', '/auth/login', { email, password: 'WrongPassword!1' });
    expect(failed.status).toBe(401);
    failedInstance = failed.body.instance;
    secrets.push('WrongPassword!1', first.body.access_token, first.body.refresh_token);
    accessToken = first.body.access_token;

    const form = multipartBody([{ name: 'file', filename: 'holiday.png', contentType: 'image/png', content: pngBytes() }]);
    const uploaded = await call('upload', { method: 'POST', path: '/upload', token: accessToken, headers: { 'content-type': form.contentType }, binary: form.body });
    expect(uploaded.status).toBe(200);
    const id = uploaded.body.id as string;
    const deleted = await call('files-delete', { method: 'DELETE', path: `/files/${id}`, routeKey: 'DELETE /files/{id}', pathParameters: { id }, token: accessToken });
    expect(deleted.status).toBe(204);

    const rotated = await post('auth-refresh', '/auth/refresh', { refresh_token: first.body.refresh_token });
    expect(rotated.status).toBe(200);
    secrets.push(rotated.body.access_token, rotated.body.refresh_token);
    expect((await post('auth-logout', '/auth/logout', { refresh_token: rotated.body.refresh_token })).status).toBe(204);
    // Logging out again ends nothing: the same 204, no event.
    expect((await post('auth-logout', '/auth/logout', { refresh_token: rotated.body.refresh_token })).status).toBe(204);

    const second = await post('auth-login', '/auth/login', { email, password });
    const next = await post('auth-refresh', '/auth/refresh', { refresh_token: second.body.refresh_token });
    secrets.push(second.body.access_token, second.body.refresh_token, next.body.access_token, next.body.refresh_token);
    expect((await post('auth-refresh', '/auth/refresh', { refresh_token: second.body.refresh_token })).status).toBe(401);

    // Logout and reuse ended both sessions (their access tokens with them): read in a new one.
    const third = await post('auth-login', '/auth/login', { email, password });
    expect(third.status).toBe(200);
    secrets.push(third.body.access_token, third.body.refresh_token);
    accessToken = third.body.access_token;
  });

  it('answers them newest first through GET /auth/events, page by page', async () => {
    const seen: Array<Record<string, unknown>> = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await events(accessToken, { limit: '3', ...(cursor ? { cursor } : {}) });
      expect(page.status).toBe(200);
      expect(page.body.events.length).toBeLessThanOrEqual(3);
      seen.push(...page.body.events);
      cursor = page.body.next_cursor ?? undefined;
      pages += 1;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen.map((event) => event.type)).toEqual([
      'auth.login.succeeded',
      'auth.refresh.reused',
      'auth.login.succeeded',
      'auth.logout',
      'file.deleted',
      'file.uploaded',
      'auth.login.failed',
      'auth.login.succeeded',
      'user.registered',
    ]);
    for (const event of seen) {
      expect(event).toEqual({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
        type: expect.any(String),
        ip: sourceIp,
        user_agent: userAgent,
        request_id: expect.any(String),
        details: expect.any(Object),
      });
    }
    const failed = seen.find((event) => event.type === 'auth.login.failed');
    expect(failed).toMatchObject({ request_id: failedInstance, details: { reason: 'wrong_password' } });
    expect(seen.find((event) => event.type === 'file.uploaded')?.details).toEqual({ file_id: expect.any(String), filename: 'holiday.png', size: expect.any(Number) });

    const all = await events(accessToken);
    expect(all.body).toEqual({ events: seen, next_cursor: null });
  });

  it("shows nobody else's events", async () => {
    const other = { email: 'someone-else@example.com', password };
    await post('auth-register', '/auth/register', other);
    const token = (await post('auth-login', '/auth/login', other)).body.access_token as string;
    const theirs = await events(token);
    expect(theirs.body.events.map((event: { type: string }) => event.type)).toEqual(['auth.login.succeeded', 'user.registered']);
  });

  it.each([
    ['limit 0', { limit: '0' }, '/query/limit'],
    ['limit 1001', { limit: '1001' }, '/query/limit'],
    ['a word for a limit', { limit: 'ten' }, '/query/limit'],
    ['a garbage cursor', { cursor: 'not-a-cursor' }, '/query/cursor'],
    ["a files listing's cursor", { cursor: Buffer.from('v1:5').toString('base64url') }, '/query/cursor'],
  ])('answers 422 for %s', async (_name, query, pointer) => {
    const result = await events(accessToken, query);
    expect(result.status).toBe(422);
    expect(result.headers['content-type']).toBe('application/problem+json');
    expect(result.body.errors).toEqual([expect.objectContaining({ pointer })]);
  });

  it('needs a Bearer token', async () => {
    expect((await call('auth-events', { path: '/auth/events' })).status).toBe(401);
  });

  it('puts no password or token into audit rows or log lines, and logs every event once', async () => {
    const rows = await (await db()).all<{ id: string }>('SELECT * FROM audit_events');
    const stored = JSON.stringify(rows);
    const logged = output.join('');
    for (const secret of secrets) {
      expect({ secret, inRows: stored.includes(secret), inLogs: logged.includes(secret) }).toEqual({ secret, inRows: false, inLogs: false });
    }
    const lines = logged.trim().split('\n').map((line) => JSON.parse(line) as { message?: string; audit?: { id: string } });
    const auditLines = lines.filter((line) => line.message === 'Audit event');
    expect(auditLines.map((line) => line.audit?.id).sort()).toEqual(rows.map((row) => row.id).sort());
  });
});

describe('retention', () => {
  it('sweeps events older than AUDIT_RETENTION_DAYS and keeps the rest', async () => {
    const { sweepAuditEvents } = await import('../../lib/audit');
    const database = await db();
    const old = new Date(Date.now() - 366 * 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    await database.run("INSERT INTO audit_events (id, user_id, at, type) VALUES ('00000000-0000-4000-8000-000000000001', NULL, ?, 'auth.logout')", old);
    const count = async () => Number((await database.get<{ n: number | string }>('SELECT COUNT(*) AS n FROM audit_events'))!.n);
    const before = await count();
    expect(await sweepAuditEvents()).toBe(1);
    expect(await count()).toBe(before - 1);
  });
});
