/**
 * Share links (SPEC "Scan gate and share links") through the exported handlers: real v2
 * events, a real database (SQLite or PostgreSQL), the real embedded S3 server (which checks signatures).
 */
import { createHash, randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import type { ApiHandler } from '../../lib/http/handler';
import { createTestEventV2, invoke, multipartBody, type EventOptions, type InvokeResult } from '../helpers/events';
import { pdfBytes } from '../helpers/fixtures';
import { verifyPresignedUrl } from '../helpers/sigv4';
import { getDb, type SqlValue } from '../../lib/db/connection';
import { resetRuntime, startTestStorage, useFreshDatabase, type TestStorage } from '../helpers/runtime';

const APP_URL = 'https://files.example.com';
const password = 'SecurePassword123!';
const sharePassword = 'OpenSesame-2024';

let storage: TestStorage;
let output: string[];
let restoreOutput: () => void;
const handlers: Record<string, ApiHandler> = {};
/** Every share token this file saw: none may ever reach the log output. */
const seenTokens: string[] = [];

interface Account {
  readonly token: string;
  readonly id: string;
}
let alice: Account;
let bob: Account;

const call = (name: string, options: EventOptions) => invoke(handlers[name] as ApiHandler, createTestEventV2(options));

async function signUp(email: string): Promise<Account> {
  const created = await call('auth-register', { method: 'POST', path: '/auth/register', json: { email, password } });
  const tokens = await call('auth-login', { method: 'POST', path: '/auth/login', json: { email, password } });
  return { id: created.body.id, token: tokens.body.access_token };
}

async function uploadFile(owner: Account, filename = 'report.pdf', content = pdfBytes(2048)): Promise<{ id: string; content: Buffer }> {
  const { body, contentType } = multipartBody([{ name: 'file', filename, contentType: 'application/pdf', content }]);
  const result = await call('upload', { method: 'POST', path: '/upload', token: owner.token, headers: { 'content-type': contentType }, binary: body });
  expect(result.status).toBe(200);
  return { id: result.body.id, content };
}

const filePath = (fileId: string) => `/files/${fileId}/shares`;
const createShare = (owner: Account, fileId: string, json?: unknown, extra: Partial<EventOptions> = {}) =>
  call('shares-create', {
    method: 'POST',
    path: filePath(fileId),
    routeKey: 'POST /files/{id}/shares',
    pathParameters: { id: fileId },
    token: owner.token,
    ...(json === undefined ? {} : { json }),
    ...extra,
  });
const listShares = (owner: Account, fileId: string) =>
  call('shares-list', { path: filePath(fileId), routeKey: 'GET /files/{id}/shares', pathParameters: { id: fileId }, token: owner.token });
const revokeShare = (owner: Account, fileId: string, shareId: string) =>
  call('shares-delete', {
    method: 'DELETE',
    path: `${filePath(fileId)}/${shareId}`,
    routeKey: 'DELETE /files/{id}/shares/{share_id}',
    pathParameters: { id: fileId, share_id: shareId },
    token: owner.token,
  });
const openShare = (token: string, sourceIp?: string) =>
  call('share-open', { path: `/s/${token}`, routeKey: 'GET /s/{token}', pathParameters: { token }, ...(sourceIp ? { sourceIp } : {}) });
const unlockShare = (token: string, json?: unknown, sourceIp?: string) =>
  call('share-unlock', {
    method: 'POST',
    path: `/s/${token}`,
    routeKey: 'POST /s/{token}',
    pathParameters: { token },
    ...(json === undefined ? {} : { json }),
    ...(sourceIp ? { sourceIp } : {}),
  });

/** Creates a share and returns its id and token (the last path segment of its URL). */
async function share(owner: Account, fileId: string, json?: unknown): Promise<{ id: string; token: string; body: any }> {
  const created = await createShare(owner, fileId, json);
  expect(created.status).toBe(201);
  const token = String(created.body.url).split('/s/')[1] ?? '';
  seenTokens.push(token);
  return { id: created.body.id, token, body: created.body };
}

const sql = <T = Record<string, unknown>>(query: string, ...params: SqlValue[]): Promise<T[]> => getDb().all<T>(query, ...params);
/** A write a test makes behind the API's back; it must hit exactly one row. */
async function exec(query: string, ...params: SqlValue[]): Promise<void> {
  expect((await getDb().run(query, ...params)).changes).toBe(1);
}

/** The one 404 every dead share answers: same status, headers and body but for the request id. */
function expectNoSuchShare(result: InvokeResult): void {
  expect(result.status).toBe(404);
  expect(result.headers['content-type']).toBe('application/problem+json');
  expect(result.headers['cache-control']).toBe('no-store');
  expect(result.headers.location).toBeUndefined();
  expect(result.body).toEqual({ type: 'about:blank', title: 'Not Found', status: 404, detail: 'No such share', instance: expect.any(String) });
}

function expectFileNotFound(result: InvokeResult): void {
  expect(result.status).toBe(404);
  expect(result.headers['content-type']).toBe('application/problem+json');
  expect(result.body).toMatchObject({ status: 404, detail: 'No such file' });
}

const auditEvents = async (userId: string, type: string) =>
  (await sql<{ ip: string; details: string }>('SELECT ip, details FROM audit_events WHERE user_id = ? AND type = ? ORDER BY seq', userId, type)).map((row) => ({
    ip: row.ip,
    details: JSON.parse(row.details) as Record<string, unknown>,
  }));

beforeAll(async () => {
  storage = await startTestStorage();
  await useFreshDatabase();
  // Presigned URLs must be signed for the public address; share URLs start with APP_URL.
  process.env.S3_PUBLIC_ENDPOINT = `http://localhost:${new URL(storage.endpoint).port}`;
  process.env.APP_URL = APP_URL;
  process.env.IP_MAX_FAILURES = '8';
  process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG'; // read when the logger loads: before the handlers
  await resetRuntime();
  for (const name of ['auth-register', 'auth-login', 'upload', 'files-delete', 'shares-create', 'shares-list', 'shares-delete', 'share-open', 'share-unlock']) {
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
  alice = await signUp('alice-shares@example.com');
  bob = await signUp('bob-shares@example.com');
});
afterAll(async () => {
  restoreOutput();
  delete process.env.APP_URL;
  delete process.env.IP_MAX_FAILURES;
  delete process.env.S3_PUBLIC_ENDPOINT;
  await resetRuntime();
  await storage.close();
});

describe('POST /files/{id}/shares', () => {
  it('creates a share: an absolute APP_URL link with a 256-bit token, stored only as its SHA-256', async () => {
    const file = await uploadFile(alice);
    const before = Date.now();
    const created = await createShare(alice, file.id);
    expect(created.status).toBe(201);
    expect(created.headers['cache-control']).toBe('no-store');
    expect(created.body).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), url: expect.any(String), expires_at: expect.any(String), max_downloads: null });
    const match = /^https:\/\/files\.example\.com\/s\/([A-Za-z0-9_-]{43})$/.exec(created.body.url);
    expect(match).not.toBeNull();
    const token = match?.[1] ?? '';
    seenTokens.push(token);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    // Default lifetime: a day, to the second.
    const expires = Date.parse(created.body.expires_at);
    expect(expires).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 86_400_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 86_400_000);
    expect(created.body.expires_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    const [row] = await sql<Record<string, unknown>>('SELECT * FROM shares WHERE id = ?', created.body.id);
    expect(row).toEqual({
      id: created.body.id,
      file_id: file.id,
      owner_id: alice.id,
      token_hash: createHash('sha256').update(token).digest('hex'),
      password_hash: null,
      created_at: expect.any(String),
      expires_at: created.body.expires_at,
      max_downloads: null,
      downloads: 0,
    });
    expect(JSON.stringify(await sql('SELECT * FROM shares'))).not.toContain(token);
    expect((await auditEvents(alice.id, 'share.created')).at(-1)?.details).toEqual({
      share_id: created.body.id,
      file_id: file.id,
      expires_at: created.body.expires_at,
      max_downloads: null,
      protected: false,
    });

    const second = await share(alice, file.id, { expires_in: 60, max_downloads: 3 });
    expect(second.token).not.toBe(token);
    expect(second.body.max_downloads).toBe(3);
    expect(Date.parse(second.body.expires_at) - Date.now()).toBeLessThanOrEqual(60_000);
  });

  it('stores a share password bcrypt-hashed, never as given', async () => {
    const file = await uploadFile(alice);
    const created = await share(alice, file.id, { password: sharePassword });
    const [row] = await sql<{ password_hash: string }>('SELECT password_hash FROM shares WHERE id = ?', created.id);
    expect(row?.password_hash).toMatch(/^\$2[aby]\$04\$/);
    expect(await bcrypt.compare(sharePassword, row?.password_hash ?? '')).toBe(true);
    expect(JSON.stringify(await sql('SELECT * FROM shares'))).not.toContain(sharePassword);
  });

  it("answers 404 for someone else's, an unknown or a malformed file id, and 401 without a token", async () => {
    const file = await uploadFile(alice);
    expectFileNotFound(await createShare(bob, file.id));
    expectFileNotFound(await createShare(alice, '6f1c2a4e-8b9d-4c3e-a1f2-0123456789ab'));
    for (const id of ['x', '../files', 'a'.repeat(2000), '%00', file.id.toUpperCase().replace(/-/g, '')]) expectFileNotFound(await createShare(alice, id));
    const anonymous = await call('shares-create', { method: 'POST', path: filePath(file.id), routeKey: 'POST /files/{id}/shares', pathParameters: { id: file.id }, json: {} });
    expect(anonymous.status).toBe(401);
    expect(await sql('SELECT id FROM shares WHERE file_id = ?', file.id)).toEqual([]);
  });

  it.each([
    [{ expires_in: 0 }, '/expires_in'],
    [{ expires_in: -1 }, '/expires_in'],
    [{ expires_in: 2_592_001 }, '/expires_in'],
    [{ expires_in: 1.5 }, '/expires_in'],
    [{ expires_in: '3600' }, '/expires_in'],
    [{ expires_in: null }, '/expires_in'],
    [{ expires_in: true }, '/expires_in'],
    [{ expires_in: 1e308 }, '/expires_in'],
    [{ max_downloads: 0 }, '/max_downloads'],
    [{ max_downloads: -5 }, '/max_downloads'],
    [{ max_downloads: 1_000_001 }, '/max_downloads'],
    [{ max_downloads: Number.MAX_SAFE_INTEGER + 2 }, '/max_downloads'],
    [{ max_downloads: 2.5 }, '/max_downloads'],
    [{ max_downloads: '3' }, '/max_downloads'],
    [{ max_downloads: [1] }, '/max_downloads'],
    [{ password: 'short' }, '/password'],
    [{ password: 'é'.repeat(37) }, '/password'], // 74 bytes
    [{ password: 12345678 }, '/password'],
    [{ password: null }, '/password'],
  ])('refuses %j with 422 at %s', async (json, pointer) => {
    const file = await uploadFile(alice);
    const result = await createShare(alice, file.id, json);
    expect(result.status).toBe(422);
    expect(result.headers['content-type']).toBe('application/problem+json');
    expect(result.body.errors.length).toBeGreaterThan(0);
    for (const error of result.body.errors) expect(error).toEqual({ pointer, detail: expect.any(String) });
    expect(await sql('SELECT id FROM shares WHERE file_id = ?', file.id)).toEqual([]);
  });

  it('accepts the bounds, null for no limit, and answers 400, 415 and 422 for bodies that are not an object', async () => {
    const file = await uploadFile(alice);
    expect((await createShare(alice, file.id, { expires_in: 1, max_downloads: 1 })).status).toBe(201);
    expect((await createShare(alice, file.id, { expires_in: 2_592_000, max_downloads: 1_000_000, password: 'p'.repeat(72) })).status).toBe(201);
    expect((await createShare(alice, file.id, { max_downloads: null })).body.max_downloads).toBeNull();
    const raw = (text: string, contentType = 'application/json') => createShare(alice, file.id, undefined, { text, headers: { 'content-type': contentType } });
    expect((await raw('{"expires_in": ')).status).toBe(400);
    expect((await raw('{}', 'text/plain')).status).toBe(415);
    expect((await raw('[]')).status).toBe(422);
    expect((await raw('"share"')).status).toBe(422);
    expect((await raw('null')).status).toBe(422);
  });

  it('refuses a file that may not be served (scan pending or infected) with 409, and its shares stop opening', async () => {
    // The scan gate's column (both engines' migrations have it), set behind the API's back.
    const file = await uploadFile(alice);
    const live = await share(alice, file.id);
    for (const status of ['pending', 'infected']) {
      await exec('UPDATE files SET scan_status = ? WHERE id = ?', status, file.id);
      const refused = await createShare(alice, file.id);
      expect([refused.status, refused.body.detail]).toEqual([409, 'File is not available yet']);
      expectNoSuchShare(await openShare(live.token));
      expectNoSuchShare(await unlockShare(live.token));
    }
    for (const status of ['clean', 'unscanned']) {
      await exec('UPDATE files SET scan_status = ? WHERE id = ?', status, file.id);
      expect((await openShare(live.token)).status).toBe(302);
    }
    expect(await sql('SELECT downloads FROM shares WHERE id = ?', live.id)).toEqual([{ downloads: 2 }]); // refusals count nothing
  });
});

describe('GET /s/{token}', () => {
  it('redirects to a fresh presigned GET for the public host, at most 300 s, as an attachment, and counts it', async () => {
    const file = await uploadFile(alice, 'quarterly report.pdf');
    const link = await share(alice, file.id);
    const downloaderIp = '203.0.113.99';
    const result = await openShare(link.token, downloaderIp);
    expect(result.status).toBe(302);
    expect(result.body).toBe('');
    expect(result.headers['cache-control']).toBe('no-store');
    expect(result.headers['referrer-policy']).toBe('no-referrer');
    const location = new URL(result.headers.location ?? '');
    expect(location.origin).toBe(process.env.S3_PUBLIC_ENDPOINT);
    expect(Number(location.searchParams.get('X-Amz-Expires'))).toBeLessThanOrEqual(300);
    expect(Number(location.searchParams.get('X-Amz-Expires'))).toBeGreaterThan(0);
    expect(location.searchParams.get('response-content-disposition')).toBe(
      `attachment; filename="quarterly report.pdf"; filename*=UTF-8''quarterly%20report.pdf`,
    );
    expect(verifyPresignedUrl(location.toString(), process.env.S3_SECRET_ACCESS_KEY ?? '')).toBe(true);
    const download = await fetch(location);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-disposition')).toMatch(/^attachment/);
    expect(Buffer.from(await download.arrayBuffer()).equals(file.content)).toBe(true);

    expect((await listShares(alice, file.id)).body.shares).toEqual([expect.objectContaining({ id: link.id, downloads: 1 })]);
    // The owner's event, from the downloader's address.
    expect((await auditEvents(alice.id, 'share.downloaded')).at(-1)).toEqual({ ip: downloaderIp, details: { share_id: link.id, file_id: file.id } });
    expect(await auditEvents(bob.id, 'share.downloaded')).toEqual([]);
  });

  it('hands out URLs no longer-lived than PRESIGNED_URL_EXPIRE_SECONDS when that is shorter', async () => {
    const file = await uploadFile(alice);
    const link = await share(alice, file.id);
    process.env.PRESIGNED_URL_EXPIRE_SECONDS = '120';
    await resetRuntime();
    try {
      const result = await openShare(link.token);
      expect(new URL(result.headers.location ?? '').searchParams.get('X-Amz-Expires')).toBe('120');
    } finally {
      delete process.env.PRESIGNED_URL_EXPIRE_SECONDS;
      await resetRuntime();
    }
  });

  it('answers 401 "Password required" for a protected share, and counts nothing', async () => {
    const file = await uploadFile(alice);
    const link = await share(alice, file.id, { password: sharePassword });
    const result = await openShare(link.token);
    expect(result.status).toBe(401);
    expect(result.headers['www-authenticate']).toBe('SharePassword realm="share"');
    expect(result.body).toMatchObject({ status: 401, detail: 'Password required' });
    expect(await sql('SELECT downloads FROM shares WHERE id = ?', link.id)).toEqual([{ downloads: 0 }]);
  });

  it("sends a browser's page load of a protected share to the web client's password form, and counts nothing", async () => {
    const file = await uploadFile(alice);
    const link = await share(alice, file.id, { password: sharePassword });
    const result = await call('share-open', {
      path: `/s/${link.token}`,
      routeKey: 'GET /s/{token}',
      pathParameters: { token: link.token },
      headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' },
    });
    expect([result.status, result.headers.location, result.headers['cache-control']]).toEqual([303, `/#/s/${link.token}`, 'no-store']);
    expect(await sql('SELECT downloads FROM shares WHERE id = ?', link.id)).toEqual([{ downloads: 0 }]);
    // An unknown link stays a 404 for browsers too, and an open one still redirects to the file.
    const unknown = await call('share-open', { path: '/s/nope', routeKey: 'GET /s/{token}', pathParameters: { token: 'nope' }, headers: { accept: 'text/html' } });
    expect(unknown.status).toBe(404);
  });

  it('counts down max_downloads: then 404, on GET and POST alike', async () => {
    const file = await uploadFile(alice);
    const link = await share(alice, file.id, { max_downloads: 2 });
    expect((await openShare(link.token)).status).toBe(302);
    expect((await unlockShare(link.token)).status).toBe(200);
    expectNoSuchShare(await openShare(link.token));
    expectNoSuchShare(await unlockShare(link.token));
    expect(await sql('SELECT downloads FROM shares WHERE id = ?', link.id)).toEqual([{ downloads: 2 }]);
    expect((await listShares(alice, file.id)).body.shares).toEqual([]); // used up: no longer live
  });

  it('stops at expiry: expires_in 1 is dead two seconds later; an expiry moved into the past at once', async () => {
    const file = await uploadFile(alice);
    const short = await share(alice, file.id, { expires_in: 1 });
    const moved = await share(alice, file.id);
    expect((await openShare(moved.token)).status).toBe(302);
    await exec("UPDATE shares SET expires_at = '2020-01-01T00:00:00Z' WHERE id = ?", moved.id);
    expectNoSuchShare(await openShare(moved.token));
    expectNoSuchShare(await unlockShare(moved.token));
    await new Promise((resolve) => setTimeout(resolve, 2100));
    expectNoSuchShare(await openShare(short.token));
    expect((await listShares(alice, file.id)).body.shares).toEqual([]);
  });

  it('answers one identical 404 for unknown, malformed, expired, revoked and used-up tokens', async () => {
    const file = await uploadFile(alice);
    const expired = await share(alice, file.id);
    await exec("UPDATE shares SET expires_at = '2020-01-01T00:00:00Z' WHERE id = ?", expired.id);
    const revoked = await share(alice, file.id);
    expect((await revokeShare(alice, file.id, revoked.id)).status).toBe(204);
    const usedUp = await share(alice, file.id, { max_downloads: 1 });
    expect((await openShare(usedUp.token)).status).toBe(302);
    const live = await share(alice, file.id);

    const unknown = randomBytes(32).toString('base64url');
    const flipped = live.token.replace(/^./, (c) => (c === 'A' ? 'B' : 'A'));
    const malformed = [
      '',
      'a',
      live.token.slice(0, 42),
      `${live.token}A`,
      `${live.token.slice(0, 42)}=`,
      `${live.token.slice(0, 42)}+`,
      `${live.token.slice(0, 42)}/`,
      `${live.token.slice(0, 41)}é`,
      `${live.token} `,
      ' '.repeat(43),
      '..%2F..%2Fetc%2Fpasswd',
      '../../../../etc/passwd',
      '%00'.repeat(15),
      '\u0000'.repeat(43),
      'A'.repeat(100_000),
      '🙂'.repeat(22),
      randomBytes(32).toString('hex'),
      randomBytes(32).toString('base64'),
      live.token.toUpperCase() === live.token ? live.token.toLowerCase() : live.token.toUpperCase(),
      'null',
      'undefined',
      '[object Object]',
    ];
    const answers: InvokeResult[] = [];
    for (const token of [unknown, flipped, expired.token, revoked.token, usedUp.token, ...malformed]) {
      answers.push(await openShare(token), await unlockShare(token), await unlockShare(token, { password: sharePassword }));
    }
    // No path parameter at all (a route key without one): the same 404, never a crash.
    answers.push(await call('share-open', { path: '/s/', routeKey: 'GET /s/{token}' }));
    for (const answer of answers) expectNoSuchShare(answer);
    const shapes = new Set(answers.map((answer) => JSON.stringify({ ...answer.body, instance: '' })));
    expect(shapes.size).toBe(1);
    expect((await openShare(live.token)).status).toBe(302); // the live one still opens
  });
});

describe('POST /s/{token}', () => {
  it('answers {url, filename, size} for a share without a password (any password sent is ignored)', async () => {
    const file = await uploadFile(alice, 'plain.pdf');
    const link = await share(alice, file.id);
    const result = await unlockShare(link.token);
    expect(result.status).toBe(200);
    expect(result.headers['cache-control']).toBe('no-store');
    expect(result.headers['referrer-policy']).toBe('no-referrer');
    expect(result.body).toEqual({ url: expect.any(String), filename: 'plain.pdf', size: file.content.length });
    expect(Number(new URL(result.body.url).searchParams.get('X-Amz-Expires'))).toBeLessThanOrEqual(300);
    expect(Buffer.from(await (await fetch(result.body.url)).arrayBuffer()).equals(file.content)).toBe(true);
    expect((await unlockShare(link.token, { password: 'anything at all' })).status).toBe(200);
  });

  it('checks the password: missing 401 "Password required", wrong 401 "Invalid password", right 200', async () => {
    const file = await uploadFile(alice, 'secret.pdf');
    const link = await share(alice, file.id, { password: sharePassword });
    const missing = await unlockShare(link.token, {});
    expect([missing.status, missing.body.detail]).toEqual([401, 'Password required']);
    expect((await unlockShare(link.token)).body.detail).toBe('Password required');
    const wrong = await unlockShare(link.token, { password: 'not-the-password' });
    expect([wrong.status, wrong.body.detail, wrong.headers['www-authenticate']]).toEqual([401, 'Invalid password', 'SharePassword realm="share"']);
    const right = await unlockShare(link.token, { password: sharePassword });
    expect(right.status).toBe(200);
    expect(right.body).toEqual({ url: expect.any(String), filename: 'secret.pdf', size: file.content.length });
    expect((await listShares(alice, file.id)).body.shares).toEqual([expect.objectContaining({ has_password: true, downloads: 1 })]);
    // Wrong types and over-long passwords are 422, not a compare.
    for (const json of [{ password: 42 }, { password: null }, { password: 'x'.repeat(73) }, { password: '' }]) {
      expect((await unlockShare(link.token, json)).status).toBe(422);
    }
    expect((await unlockShare(link.token, undefined)).status).toBe(401);
  });

  it('throttles wrong passwords per share: the 6th attempt is 429 before any bcrypt compare, the right password included', async () => {
    const file = await uploadFile(alice);
    const link = await share(alice, file.id, { password: sharePassword });
    for (let attempt = 1; attempt <= 5; attempt++) {
      // A new address each time: the share's own count is what trips.
      expect((await unlockShare(link.token, { password: `wrong-${attempt}-password` }, `198.51.100.${attempt}`)).status).toBe(401);
    }
    const compare = jest.spyOn(bcrypt, 'compare');
    try {
      const sixth = await unlockShare(link.token, { password: sharePassword }, '198.51.100.6');
      expect(sixth.status).toBe(429);
      expect(sixth.headers['retry-after']).toMatch(/^[1-9]\d*$/);
      expect(sixth.body).toEqual({
        type: 'about:blank',
        title: 'Too Many Requests',
        status: 429,
        detail: 'Too many attempts',
        instance: expect.any(String),
        captcha_required: true,
      });
      expect(compare).not.toHaveBeenCalled();
    } finally {
      compare.mockRestore();
    }
    expect(await sql('SELECT downloads FROM shares WHERE id = ?', link.id)).toEqual([{ downloads: 0 }]);
    // Another share of the same file is not affected.
    const other = await share(alice, file.id, { password: sharePassword });
    expect((await unlockShare(other.token, { password: sharePassword }, '198.51.100.7')).status).toBe(200);
  });

  it('clears the share count on success, and counts wrong passwords per address too (IP_MAX_FAILURES=8 here)', async () => {
    const file = await uploadFile(alice);
    const first = await share(alice, file.id, { password: sharePassword });
    const second = await share(alice, file.id, { password: sharePassword });
    const third = await share(alice, file.id, { password: sharePassword });
    const ip = '192.0.2.200';
    for (let attempt = 1; attempt <= 4; attempt++) expect((await unlockShare(first.token, { password: 'wrong-password' }, ip)).status).toBe(401);
    expect((await unlockShare(first.token, { password: sharePassword }, '192.0.2.201')).status).toBe(200);
    expect(await sql("SELECT count FROM throttle_counters WHERE scope = 'share' AND key = ?", first.id)).toEqual([]);
    for (let attempt = 1; attempt <= 4; attempt++) expect((await unlockShare(second.token, { password: 'wrong-password' }, ip)).status).toBe(401);
    // 8 failures from this address: every share password from it is refused, and no CAPTCHA helps.
    const refused = await unlockShare(third.token, { password: sharePassword }, ip);
    expect(refused.status).toBe(429);
    expect(refused.body.captcha_required).toBe(false);
    expect((await unlockShare(third.token, { password: sharePassword }, '192.0.2.202')).status).toBe(200);
    // Shares without a password check nothing, so the address limit does not apply to them.
    const open = await share(alice, file.id);
    expect((await openShare(open.token, ip)).status).toBe(302);
  });
});

describe('racing resolutions', () => {
  it('never exceed max_downloads: 12 concurrent unlocks of a 3-download protected share', async () => {
    const file = await uploadFile(alice);
    const link = await share(alice, file.id, { password: sharePassword, max_downloads: 3 });
    // Each request reads the share, then awaits bcrypt: all of them read "0 of 3" before any counts.
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, index) => unlockShare(link.token, { password: sharePassword }, `192.0.2.${10 + index}`)),
    );
    const statuses = results.map((result) => result.status).sort();
    expect(statuses).toEqual([200, 200, 200, ...Array<number>(9).fill(404)]);
    for (const result of results.filter((r) => r.status === 404)) expectNoSuchShare(result);
    expect(await sql('SELECT downloads FROM shares WHERE id = ?', link.id)).toEqual([{ downloads: 3 }]);
    expect((await auditEvents(alice.id, 'share.downloaded')).filter((event) => event.details.share_id === link.id)).toHaveLength(3);
  });

  it('never exceed max_downloads: 10 concurrent redirects of a 4-download share', async () => {
    const file = await uploadFile(alice);
    const link = await share(alice, file.id, { max_downloads: 4 });
    const results = await Promise.all(Array.from({ length: 10 }, () => openShare(link.token)));
    expect(results.filter((result) => result.status === 302)).toHaveLength(4);
    expect(results.filter((result) => result.status === 404)).toHaveLength(6);
    expect(await sql('SELECT downloads FROM shares WHERE id = ?', link.id)).toEqual([{ downloads: 4 }]);
  });
});

describe('GET /files/{id}/shares and DELETE /files/{id}/shares/{share_id}', () => {
  it('lists live shares newest first, never a token or hash', async () => {
    const file = await uploadFile(alice);
    const first = await share(alice, file.id, { max_downloads: 5 });
    const second = await share(alice, file.id, { password: sharePassword, expires_in: 3600 });
    await exec("UPDATE shares SET created_at = '2020-01-01T00:00:00Z' WHERE id = ?", first.id); // order by time, not by chance
    const listed = await listShares(alice, file.id);
    expect(listed.status).toBe(200);
    expect(listed.body).toEqual({
      shares: [
        { id: second.id, created_at: expect.any(String), expires_at: second.body.expires_at, max_downloads: null, downloads: 0, has_password: true },
        { id: first.id, created_at: '2020-01-01T00:00:00Z', expires_at: first.body.expires_at, max_downloads: 5, downloads: 0, has_password: false },
      ],
    });
    const text = JSON.stringify(listed.body);
    for (const token of [first.token, second.token]) expect(text).not.toContain(token);
    expect(text).not.toMatch(/token|hash/);
  });

  it("revokes a share at once; someone else's, unknown, malformed or another file's share is 404", async () => {
    const file = await uploadFile(alice);
    const otherFile = await uploadFile(alice);
    const link = await share(alice, file.id);
    const notHere = await share(alice, otherFile.id);

    expect((await revokeShare(bob, file.id, link.id)).status).toBe(404);
    expect((await revokeShare(alice, otherFile.id, link.id)).body).toMatchObject({ status: 404, detail: 'No such share' });
    expect((await revokeShare(alice, file.id, notHere.id)).body).toMatchObject({ status: 404, detail: 'No such share' });
    for (const id of ['not-a-uuid', '', '../..', 'x'.repeat(5000), '6f1c2a4e-8b9d-4c3e-a1f2-0123456789ab']) {
      const result = await revokeShare(alice, file.id, id);
      expect([result.status, result.headers['content-type']]).toEqual([404, 'application/problem+json']);
    }
    expectFileNotFound(await revokeShare(alice, 'not-a-uuid', link.id));
    expect((await openShare(link.token)).status).toBe(302); // none of that touched it

    const revoked = await revokeShare(alice, file.id, link.id);
    expect(revoked.status).toBe(204);
    expect(revoked.body).toBe('');
    expectNoSuchShare(await openShare(link.token));
    expect((await revokeShare(alice, file.id, link.id)).status).toBe(404);
    expect((await auditEvents(alice.id, 'share.revoked')).at(-1)?.details).toEqual({ share_id: link.id, file_id: file.id });
    expect((await openShare(notHere.token)).status).toBe(302);
  });

  it("answers 404 for another user's file or a malformed id, 401 without a token", async () => {
    const file = await uploadFile(alice);
    await share(alice, file.id);
    expectFileNotFound(await listShares(bob, file.id));
    for (const id of ['x', '%2e%2e', file.id.slice(0, 35)]) expectFileNotFound(await listShares(alice, id));
    expect((await call('shares-list', { path: filePath(file.id), routeKey: 'GET /files/{id}/shares', pathParameters: { id: file.id } })).status).toBe(401);
  });
});

describe('deleting the file', () => {
  it('ends its shares', async () => {
    const file = await uploadFile(alice);
    const links = [await share(alice, file.id), await share(alice, file.id, { password: sharePassword })];
    const deleted = await call('files-delete', { method: 'DELETE', path: `/files/${file.id}`, routeKey: 'DELETE /files/{id}', pathParameters: { id: file.id }, token: alice.token });
    expect(deleted.status).toBe(204);
    for (const link of links) {
      expectNoSuchShare(await openShare(link.token));
      expectNoSuchShare(await unlockShare(link.token, { password: sharePassword }));
    }
    expect(await sql('SELECT id FROM shares WHERE file_id = ?', file.id)).toEqual([]);
    expectFileNotFound(await listShares(alice, file.id));
  });
});

describe('logs', () => {
  it('never contain a share token, a share password or a presigned URL signature', async () => {
    expect(seenTokens.length).toBeGreaterThan(20);
    const text = output.join('');
    const access = text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((record) => record.message === 'Request');
    // The access lines name route keys (lib/http/handler.ts), so the check below is not vacuous.
    expect(access.map((record) => record.route)).toEqual(expect.arrayContaining(['GET /s/{token}', 'POST /s/{token}']));
    for (const token of seenTokens) expect(text).not.toContain(token);
    expect(text).not.toContain(sharePassword);
    expect(text).not.toContain('X-Amz-Signature');
  });
});
