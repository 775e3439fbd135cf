import fs from 'node:fs';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import bcrypt from 'bcryptjs';
import { handler as deleteAccount } from '../../functions/auth-account-delete';
import { handler as events } from '../../functions/auth-events';
import { handler as login } from '../../functions/auth-login';
import { handler as me } from '../../functions/auth-me';
import { handler as changePassword } from '../../functions/auth-password-change';
import { handler as forgot } from '../../functions/auth-password-forgot';
import { handler as reset } from '../../functions/auth-password-reset';
import { handler as refresh } from '../../functions/auth-refresh';
import { handler as register } from '../../functions/auth-register';
import { handler as verify } from '../../functions/auth-verify-email';
import { handler as verifyPage } from '../../functions/auth-verify-email-page';
import { handler as resend } from '../../functions/auth-verify-email-resend';
import { handler as upload } from '../../functions/upload';
import { handler as plan } from '../../functions/uploads-plan';
import { outboxDir } from '../../lib/mail/local-transports';
import { solvedCaptcha } from '../helpers/captcha';
import { createTestEventV2, invoke, multipartBody, type InvokeResult } from '../helpers/events';
import { pdfBytes } from '../helpers/fixtures';
import { mailsTo, tokenFrom } from '../helpers/outbox';
import { getDb } from '../../lib/db/connection';
import { resetRuntime, startTestStorage, testS3Client, useFreshDatabase, type TestStorage } from '../helpers/runtime';

const MiB = 1024 ** 2;
const password = 'SecurePassword123!';
const newPassword = 'EvenBetterPassword456!';
let storage: TestStorage;
let restoreOutput: () => void;

beforeAll(async () => {
  storage = await startTestStorage();
  await useFreshDatabase();
  process.env.MAIL_TRANSPORT = 'outbox';
  process.env.MULTIPART_THRESHOLD_BYTES = String(5 * MiB);
  await resetRuntime();
  // The outbox prints each message on the console; keep the test output readable.
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
  restoreOutput = () => spy.mockRestore();
});
afterAll(async () => {
  restoreOutput();
  delete process.env.MAIL_TRANSPORT;
  delete process.env.EMAIL_VERIFICATION;
  delete process.env.CAPTCHA;
  delete process.env.MULTIPART_THRESHOLD_BYTES;
  await resetRuntime();
  await storage.close();
});

const post = (path: string, json: unknown, token?: string) => createTestEventV2({ method: 'POST', path, json, ...(token ? { token } : {}) });
const signUp = (email: string) => invoke(register, post('/auth/register', { email, password }));
const logIn = (email: string, pass = password) => invoke(login, post('/auth/login', { email, password: pass }));
const whoAmI = (token: string) => invoke(me, createTestEventV2({ path: '/auth/me', token }));
const change = (token: string, json: unknown) => invoke(changePassword, post('/auth/password', json, token));
const remove = (token: string, json: unknown) =>
  invoke(deleteAccount, createTestEventV2({ method: 'DELETE', path: '/auth/me', json, token }));
const askReset = (email: string, extra: Record<string, unknown> = {}) => invoke(forgot, post('/auth/password/forgot', { email, ...extra }));

async function account(email: string): Promise<{ access: string; refresh: string; id: string }> {
  expect((await signUp(email)).status).toBe(201);
  const pair = await logIn(email);
  expect(pair.status).toBe(200);
  const profile = await whoAmI(pair.body.access_token);
  return { access: pair.body.access_token, refresh: pair.body.refresh_token, id: profile.body.id };
}

function expectProblem(result: InvokeResult, status: number, detail?: string): void {
  expect(result.status).toBe(status);
  expect(result.headers['content-type']).toBe('application/problem+json');
  expect(result.body).toMatchObject({ status, ...(detail ? { detail } : {}) });
}

function expectLocked(result: InvokeResult): void {
  expectProblem(result, 429, 'Too many attempts');
  expect(result.headers['retry-after']).toMatch(/^[1-9]\d*$/);
}

function auditTypes(userId: string): Promise<Array<{ type: string; details: string }>> {
  return getDb().all<{ type: string; details: string }>('SELECT type, details FROM audit_events WHERE user_id = ? ORDER BY seq', userId);
}

describe('POST /auth/password', () => {
  it('sets the new password and ends every other session, not this one', async () => {
    const mine = await account('change@example.com');
    const other = await logIn('change@example.com');
    expect((await change(mine.access, { current_password: password, new_password: newPassword })).status).toBe(204);

    expect((await whoAmI(mine.access)).status).toBe(200);
    expect((await whoAmI(other.body.access_token)).status).toBe(401);
    expect((await invoke(refresh, post('/auth/refresh', { refresh_token: other.body.refresh_token }))).status).toBe(401);
    // This session goes on, refresh included.
    expect((await invoke(refresh, post('/auth/refresh', { refresh_token: mine.refresh }))).status).toBe(200);
    expectProblem(await logIn('change@example.com'), 401);
    expect((await logIn('change@example.com', newPassword)).status).toBe(200);
    expect((await auditTypes(mine.id)).map((event) => event.type)).toContain('auth.password.changed');
  });

  it('answers 403 for a wrong current password, counts it, and the 6th attempt is 429 before any bcrypt', async () => {
    const mine = await account('change-wrong@example.com');
    for (let attempt = 1; attempt <= 5; attempt += 1) {
      expectProblem(await change(mine.access, { current_password: 'WrongPassword1!', new_password: newPassword }), 403, 'Current password is incorrect');
    }
    const compare = jest.spyOn(bcrypt, 'compare');
    try {
      expectLocked(await change(mine.access, { current_password: password, new_password: newPassword }));
      expect(compare).not.toHaveBeenCalled();
    } finally {
      compare.mockRestore();
    }
    // Counted per user: the same lock holds for deleting the account.
    expectLocked(await remove(mine.access, { password }));
    expect((await logIn('change-wrong@example.com')).status).toBe(200); // the password is unchanged
  });

  it("applies register's rules to the new password, and refuses bad bodies with 4xx problems", async () => {
    const mine = await account('change-rules@example.com');
    expectProblem(await change(mine.access, { current_password: password, new_password: 'short' }), 422);
    expectProblem(await change(mine.access, { current_password: password, new_password: 'é'.repeat(37) }), 422); // 74 bytes
    expectProblem(await change(mine.access, { current_password: password }), 422);
    expectProblem(await change(mine.access, { current_password: 12345678, new_password: newPassword }), 422);
    expectProblem(await change(mine.access, { current_password: 'x'.repeat(100_000), new_password: newPassword }), 422);
    expectProblem(await invoke(changePassword, createTestEventV2({ method: 'POST', path: '/auth/password', token: mine.access, text: '{"current', headers: { 'content-type': 'application/json' } })), 400);
    expectProblem(await change('not-a-token', { current_password: password, new_password: newPassword }), 401);
    expect((await logIn('change-rules@example.com')).status).toBe(200);
  });
});

describe('DELETE /auth/me', () => {
  async function objectKeys(): Promise<string[]> {
    const s3 = testS3Client(storage.endpoint);
    try {
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: storage.bucket }));
      return (listed.Contents ?? []).map((object) => object.Key ?? '');
    } finally {
      s3.destroy();
    }
  }

  it("deletes the user, sessions, files (objects and rows) and plans; audit keeps the id only; the email registers again", async () => {
    const pdf = pdfBytes(2048);
    const mine = await account('leaving@example.com');
    const bystander = await account('staying@example.com');
    const form = multipartBody([{ name: 'file', filename: 'document.pdf', contentType: 'application/pdf', content: pdf }]);
    const uploadEvent = (token: string) =>
      createTestEventV2({ method: 'POST', path: '/upload', token, headers: { 'content-type': form.contentType }, binary: form.body });
    expect((await invoke(upload, uploadEvent(mine.access))).status).toBe(200);
    expect((await invoke(upload, uploadEvent(bystander.access))).status).toBe(200);
    // A planned direct upload (PUT to staging, written but never completed) and a multipart plan.
    const planned = await invoke(plan, post('/uploads', { filename: 'later.pdf', content_type: 'application/pdf', size: pdf.length }, mine.access));
    expect(planned.status).toBe(201);
    expect((await fetch(planned.body.upload.url, { method: 'PUT', headers: planned.body.upload.headers, body: pdf })).status).toBe(200);
    const big = await invoke(plan, post('/uploads', { filename: 'big.bin', content_type: 'application/octet-stream', size: 20 * MiB }, mine.access));
    expect(big.body.upload.method).toBe('multipart');
    const mineBefore = (await objectKeys()).filter((key) => key.includes(mine.id));
    expect(mineBefore.length).toBeGreaterThanOrEqual(2);

    expectProblem(await remove(mine.access, { password: 'WrongPassword1!' }), 403, 'Password is incorrect');
    expect((await remove(mine.access, { password })).status).toBe(204);

    expect((await objectKeys()).filter((key) => key.includes(mine.id))).toEqual([]);
    expect((await objectKeys()).filter((key) => key.includes(bystander.id))).toHaveLength(1);
    expectProblem(await whoAmI(mine.access), 401);
    expectProblem(await invoke(refresh, post('/auth/refresh', { refresh_token: mine.refresh })), 401);
    const db = getDb();
    const count = async (sql: string, id: string) => Number((await db.get<{ n: unknown }>(sql, id))?.n);
    for (const [table, column] of [['users', 'id'], ['sessions', 'user_id'], ['refresh_tokens', 'user_id'], ['files', 'owner_id'], ['account_tokens', 'user_id']]) {
      expect({ table, rows: await count(`SELECT COUNT(*) AS n FROM ${table} WHERE ${column} = ?`, mine.id) }).toEqual({ table, rows: 0 });
    }
    expect(await count("SELECT COUNT(*) AS n FROM throttle_counters WHERE scope = 'user' AND key = ?", mine.id)).toBe(0);
    const audit = await db.all('SELECT * FROM audit_events WHERE user_id = ? ORDER BY seq', mine.id);
    expect(audit.map((row) => row.type)).toEqual(expect.arrayContaining(['user.registered', 'user.deleted']));
    expect(JSON.stringify(audit)).not.toMatch(/leaving@example\.com/i);
    expect((await whoAmI(bystander.access)).status).toBe(200);
    expect((await signUp('Leaving@Example.com')).status).toBe(201);
  });

  it('counts wrong passwords: the 6th attempt is 429, right password included', async () => {
    const mine = await account('delete-wrong@example.com');
    for (let attempt = 1; attempt <= 5; attempt += 1) expectProblem(await remove(mine.access, { password: 'WrongPassword1!' }), 403);
    expectLocked(await remove(mine.access, { password }));
    // ... unless a solved CAPTCHA comes with it (CAPTCHA=auto), as on login.
    expect((await remove(mine.access, { password, captcha: await solvedCaptcha() })).status).toBe(204);
  });

  it('refuses bad bodies with 4xx problems', async () => {
    const mine = await account('delete-bad@example.com');
    expectProblem(await remove(mine.access, {}), 422);
    expectProblem(await remove(mine.access, { password: ['x'] }), 422);
    expectProblem(await remove(mine.access, { password: 'p'.repeat(1_000_000) }), 422);
    expectProblem(await invoke(deleteAccount, createTestEventV2({ method: 'DELETE', path: '/auth/me', token: mine.access })), 415);
    expect((await whoAmI(mine.access)).status).toBe(200);
  });
});

describe('email verification', () => {
  afterEach(async () => {
    delete process.env.EMAIL_VERIFICATION;
    await resetRuntime();
  });

  it('register mails a link (APP_URL/auth/verify-email?token=...) that works exactly once', async () => {
    const mine = await account('verify@example.com');
    expect((await whoAmI(mine.access)).body.email_verified).toBe(false);
    const mails = mailsTo('verify@example.com');
    expect(mails).toHaveLength(1);
    expect(mails[0]?.subject).toBe('Verify your email address');
    expect(mails[0]?.text).toContain('http://127.0.0.1:8000/auth/verify-email?token=');
    const token = tokenFrom(mails[0], '/auth/verify-email');
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/); // 256 bits

    const verified = await invoke(verify, post('/auth/verify-email', { token }));
    expect(verified.status).toBe(200);
    expect(verified.body).toEqual({ id: mine.id, email: 'verify@example.com', created_at: expect.any(String), email_verified: true });
    expect((await whoAmI(mine.access)).body.email_verified).toBe(true);
    expectProblem(await invoke(verify, post('/auth/verify-email', { token })), 400, 'Invalid or expired token');
    expect((await auditTypes(mine.id)).map((event) => event.type)).toContain('auth.email.verified');
    // Only the hash is stored.
    const stored = await getDb().all('SELECT * FROM account_tokens');
    expect(stored.length).toBeGreaterThan(0);
    expect(JSON.stringify(stored)).not.toContain(token);
  });

  it('the link itself (GET, a person clicking) verifies once and answers a small HTML page', async () => {
    const mine = await account('click@example.com');
    const token = tokenFrom(mailsTo('click@example.com')[0], '/auth/verify-email');
    const click = () => invoke(verifyPage, createTestEventV2({ path: '/auth/verify-email', query: { token } }));
    const first = await click();
    expect(first.status).toBe(200);
    expect(first.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(first.headers['content-security-policy']).toContain("default-src 'none'");
    expect(first.body).toContain('Address verified');
    expect((await whoAmI(mine.access)).body.email_verified).toBe(true);
    const second = await click();
    expect(second.status).toBe(400);
    expect(second.body).toContain('Link invalid or expired');
    expect((await invoke(verifyPage, createTestEventV2({ path: '/auth/verify-email' }))).status).toBe(400);
  });

  it('resend mails a fresh link (202), nothing once verified, and at most five an hour', async () => {
    const mine = await account('resend@example.com');
    const again = await invoke(resend, post('/auth/verify-email/resend', undefined, mine.access));
    expect(again.status).toBe(202);
    expect(again.body).toEqual({ status: 'accepted' });
    expect(mailsTo('resend@example.com')).toHaveLength(2);
    for (let i = 0; i < 5; i += 1) expect((await invoke(resend, post('/auth/verify-email/resend', undefined, mine.access))).status).toBe(202);
    expect(mailsTo('resend@example.com')).toHaveLength(5); // register's and four resends: the hourly limit
    // The newest link works, and it retires the others.
    const links = mailsTo('resend@example.com').map((mail) => tokenFrom(mail, '/auth/verify-email'));
    expect((await invoke(verify, post('/auth/verify-email', { token: links.at(-1) }))).status).toBe(200);
    expectProblem(await invoke(verify, post('/auth/verify-email', { token: links[0] })), 400);
    expectProblem(await invoke(resend, post('/auth/verify-email/resend', undefined)), 401);
  });

  it('an expired or made-up token is 400; bad bodies are 4xx', async () => {
    await account('expired@example.com');
    const token = tokenFrom(mailsTo('expired@example.com')[0], '/auth/verify-email');
    expect((await getDb().run("UPDATE account_tokens SET expires_at = '2000-01-01T00:00:00Z' WHERE purpose = 'verify_email'")).changes).toBeGreaterThan(0);
    expectProblem(await invoke(verify, post('/auth/verify-email', { token })), 400, 'Invalid or expired token');
    expectProblem(await invoke(verify, post('/auth/verify-email', { token: 'made-up' })), 400, 'Invalid or expired token');
    expectProblem(await invoke(verify, post('/auth/verify-email', {})), 422);
    expectProblem(await invoke(verify, post('/auth/verify-email', { token: 42 })), 422);
    expectProblem(await invoke(verify, post('/auth/verify-email', { token: 'x'.repeat(10_000) })), 422);
  });

  it('EMAIL_VERIFICATION=off mails nothing; so does mail off', async () => {
    process.env.EMAIL_VERIFICATION = 'off';
    await resetRuntime();
    await account('no-verify@example.com');
    expect(mailsTo('no-verify@example.com')).toHaveLength(0);
  });

  it('EMAIL_VERIFICATION=required: a correct password on an unverified account is 403 (no failure, a fresh link), then 200 once verified', async () => {
    process.env.EMAIL_VERIFICATION = 'required';
    await resetRuntime();
    expect((await signUp('required@example.com')).status).toBe(201);
    for (let attempt = 1; attempt <= 6; attempt += 1) expectProblem(await logIn('required@example.com'), 403, 'Email not verified');
    // Not failures: no 429 after six. Each refusal mailed a link, five an hour at most.
    expect(mailsTo('required@example.com')).toHaveLength(5);
    expectProblem(await logIn('required@example.com', 'WrongPassword1!'), 401);
    const token = tokenFrom(mailsTo('required@example.com').at(-1), '/auth/verify-email');
    expect((await invoke(verify, post('/auth/verify-email', { token }))).status).toBe(200);
    expect((await logIn('required@example.com')).status).toBe(200);
  });
});

describe('password reset', () => {
  afterEach(async () => {
    delete process.env.CAPTCHA;
    await resetRuntime();
  });

  it('forgot answers known and unknown emails alike (status, body, about the same time) and mails only the known one', async () => {
    await account('forgetful@example.com');
    const timed = async (email: string) => {
      const started = performance.now();
      const result = await askReset(email);
      return { result, ms: performance.now() - started };
    };
    const known = await timed('forgetful@example.com');
    const unknown = await timed('nobody@example.com');
    for (const { result } of [known, unknown]) {
      expect(result.status).toBe(202);
      expect(result.body).toEqual({ status: 'accepted' });
    }
    expect(known.result.headers).toEqual({ ...unknown.result.headers });
    expect(Math.abs(known.ms - unknown.ms)).toBeLessThan(150);
    expect(Math.min(known.ms, unknown.ms)).toBeGreaterThanOrEqual(390);
    expect(mailsTo('forgetful@example.com').filter((mail) => mail.subject === 'Reset your password')).toHaveLength(1);
    expect(mailsTo('nobody@example.com')).toHaveLength(0);
  });

  it('the reset link works exactly once: every session ends, the new password works, the address counts as verified', async () => {
    const mine = await account('reset@example.com');
    const other = await logIn('reset@example.com');
    expect((await askReset('  Reset@Example.com ')).status).toBe(202);
    const mail = mailsTo('reset@example.com').find((message) => message.subject === 'Reset your password');
    expect(mail?.text).toContain('http://127.0.0.1:8000/auth/password/reset?token=');
    const token = tokenFrom(mail, '/auth/password/reset');

    expect((await invoke(reset, post('/auth/password/reset', { token, new_password: newPassword }))).status).toBe(204);
    expectProblem(await whoAmI(mine.access), 401);
    expectProblem(await whoAmI(other.body.access_token), 401);
    expectProblem(await invoke(refresh, post('/auth/refresh', { refresh_token: mine.refresh })), 401);
    expectProblem(await logIn('reset@example.com'), 401);
    const fresh = await logIn('reset@example.com', newPassword);
    expect(fresh.status).toBe(200);
    expect((await whoAmI(fresh.body.access_token)).body.email_verified).toBe(true);
    expectProblem(await invoke(reset, post('/auth/password/reset', { token, new_password: 'AThirdPassword789!' })), 400, 'Invalid or expired token');
    expect((await auditTypes(mine.id)).map((event) => event.type)).toContain('auth.password.reset');
  });

  it('sends at most five mails per account and hour; later requests still answer 202', async () => {
    await account('flooded@example.com');
    for (let i = 0; i < 7; i += 1) expect((await askReset('flooded@example.com')).status).toBe(202);
    expect(mailsTo('flooded@example.com').filter((mail) => mail.subject === 'Reset your password')).toHaveLength(5);
  });

  it('an expired, made-up or wrong-purpose token is 400; the new password follows the rules; bad bodies are 4xx', async () => {
    await account('reset-bad@example.com');
    expect((await askReset('reset-bad@example.com')).status).toBe(202);
    const token = tokenFrom(mailsTo('reset-bad@example.com').find((mail) => mail.subject === 'Reset your password'), '/auth/password/reset');
    const verification = tokenFrom(mailsTo('reset-bad@example.com')[0], '/auth/verify-email');
    expectProblem(await invoke(reset, post('/auth/password/reset', { token, new_password: 'short' })), 422);
    expectProblem(await invoke(reset, post('/auth/password/reset', { token: verification, new_password: newPassword })), 400, 'Invalid or expired token');
    expectProblem(await invoke(reset, post('/auth/password/reset', { token: 'made-up', new_password: newPassword })), 400, 'Invalid or expired token');
    expectProblem(await invoke(reset, post('/auth/password/reset', { new_password: newPassword })), 422);
    expectProblem(await invoke(reset, post('/auth/password/reset', { token: { $ne: null }, new_password: newPassword })), 422);
    expectProblem(await askReset('not-an-email'), 422);
    expectProblem(await askReset('a'.repeat(100_000) + '@example.com'), 422);
    expectProblem(await invoke(forgot, post('/auth/password/forgot', { email: 7 })), 422);

    expect((await getDb().run("UPDATE account_tokens SET expires_at = '2000-01-01T00:00:00Z' WHERE purpose = 'password_reset'")).changes).toBeGreaterThan(0);
    expectProblem(await invoke(reset, post('/auth/password/reset', { token, new_password: newPassword })), 400, 'Invalid or expired token');
    expect((await logIn('reset-bad@example.com')).status).toBe(200);
  });

  it('CAPTCHA=always: forgot needs a solution (400 "CAPTCHA required") like login and register', async () => {
    await account('captcha-forgot@example.com');
    process.env.CAPTCHA = 'always';
    await resetRuntime();
    const refused = await askReset('captcha-forgot@example.com');
    expectProblem(refused, 400, 'CAPTCHA required');
    expect(refused.body.captcha_required).toBe(true);
    expect((await askReset('captcha-forgot@example.com', { captcha: await solvedCaptcha() })).status).toBe(202);
  });

  it('the outbox holds the mails as files', () => {
    expect(fs.readdirSync(outboxDir()).some((name) => name.endsWith('.eml'))).toBe(true);
  });
});

describe('GET /auth/events after account changes', () => {
  it('lists the password change for its owner', async () => {
    const mine = await account('events@example.com');
    expect((await change(mine.access, { current_password: password, new_password: newPassword })).status).toBe(204);
    const listed = await invoke(events, createTestEventV2({ path: '/auth/events', token: mine.access }));
    expect(listed.body.events.map((event: { type: string }) => event.type)).toEqual(['auth.password.changed', 'auth.login.succeeded', 'user.registered']);
  });
});
