/**
 * Round two as a person uses it after `npm start`, over HTTP against the real local runtime:
 * mail read from the outbox, TOTP codes computed here (RFC 6238 written out independently of
 * the server's library, so the two must agree), a CAPTCHA solved the way the ALTCHA widget
 * does. From registration to deletion, with the audit trail read back.
 */
import { createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { solveChallenge, type Challenge } from 'altcha-lib';
import { deriveKey } from 'altcha-lib/algorithms/pbkdf2';
import { cleanEnv, runtimeDatabaseEnv, startLocalProcess, type LocalProcess } from './local-process';

let dataDir: string;
let server: LocalProcess;
let api: string;

jest.setTimeout(120_000);

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sua-e2e-accounts-'));
  server = startLocalProcess(cleanEnv({ PORT: '0', S3_PORT: '0', DATA_DIR: dataDir, BCRYPT_ROUNDS: '4' , ...(await runtimeDatabaseEnv()) }));
  await server.waitFor(/^Ready\. Press Ctrl-C to stop\.$/m, 90_000);
  api = /^API:\s+(http:\/\/\S+)$/m.exec(server.output())?.[1] ?? '';
}, 95_000);

afterAll(async () => {
  server.interrupt();
  await server.exited(15_000).catch(() => server.kill());
  fs.rmSync(dataDir, { recursive: true, force: true });
}, 20_000);

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  /** Parsed JSON (as the helpers' InvokeResult has it), else the text. */
  readonly body: any;
}

async function call(method: string, route: string, options: { token?: string; json?: unknown; form?: FormData } = {}): Promise<Answer> {
  const response = await fetch(`${api}${route}`, {
    method,
    headers: {
      ...(options.token ? { Authorization: `Bearer ${options.token}` } : {}),
      ...(options.json !== undefined ? { 'Content-Type': 'application/json' } : {}),
    },
    body: options.form ?? (options.json !== undefined ? JSON.stringify(options.json) : undefined),
    redirect: 'manual',
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: kept as text
  }
  return { status: response.status, headers: response.headers, body };
}

/** The newest mail to `to` in the outbox, and the `token` of the link in it. */
function lastMailTo(to: string): { subject: string; token: string } {
  const dir = path.join(dataDir, 'mail');
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((name) => name.endsWith('.eml')).sort() : [];
  for (const name of files.reverse()) {
    const raw = fs.readFileSync(path.join(dir, name), 'utf8');
    if (!new RegExp(`^To: ${to.replace(/[.+]/g, '\\$&')}$`, 'm').test(raw)) continue;
    // The text part is quoted-printable: undo soft line breaks and =XX escapes before reading the link.
    const decoded = raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    const token = /[?&]token=([A-Za-z0-9_-]+)/.exec(decoded)?.[1];
    const subject = /^Subject: (.*)$/m.exec(raw)?.[1] ?? '';
    if (token) return { subject, token };
  }
  throw new Error(`no mail with a token to ${to} in the outbox`);
}

/** RFC 4648 base32 decoding (the TOTP secret's encoding). */
function base32Decode(text: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const char of text.replace(/=+$/, '').toUpperCase()) {
    const index = alphabet.indexOf(char);
    if (index < 0) throw new Error(`not base32: ${char}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** RFC 6238 TOTP: HMAC-SHA-1 over the 30-second step, dynamic truncation, 6 digits. */
function totp(secret: string, step = Math.floor(Date.now() / 30_000)): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const offset = (mac[mac.length - 1] ?? 0) & 0x0f;
  const code = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(code).padStart(6, '0');
}

async function solvedCaptcha(): Promise<string> {
  const challenge = (await call('GET', '/auth/captcha')).body as Challenge;
  const solution = await solveChallenge({ challenge, deriveKey });
  if (!solution) throw new Error('could not solve the CAPTCHA');
  return Buffer.from(JSON.stringify({ challenge, solution })).toString('base64');
}

const email = `carol.${randomBytes(3).toString('hex')}@example.com`;
const password = 'SecurePassword123!';
const newPassword = 'EvenMoreSecure456!';

test('an account from registration to deletion: verification, sessions, lockout, reset, MFA, audit', async () => {
  // Register: the verification mail lands in the outbox; the link works exactly once.
  expect((await call('POST', '/auth/register', { json: { email, password } })).status).toBe(201);
  const verification = lastMailTo(email);
  const login = await call('POST', '/auth/login', { json: { email, password } });
  expect(login.status).toBe(200);
  const firstSession = login.body as { access_token: string; refresh_token: string };
  expect((await call('GET', '/auth/me', { token: firstSession.access_token })).body).toMatchObject({ email, email_verified: false });
  const verified = await call('POST', '/auth/verify-email', { json: { token: verification.token } });
  expect(verified).toMatchObject({ status: 200, body: { email, email_verified: true } });
  expect((await call('POST', '/auth/verify-email', { json: { token: verification.token } })).status).toBe(400);

  // A file, so that deleting the account has something to delete from storage.
  const form = new FormData();
  form.append('file', new Blob([Buffer.from('%PDF-1.7\nhello\n')], { type: 'application/pdf' }), 'notes.pdf');
  const upload = await call('POST', '/upload', { token: firstSession.access_token, form });
  expect(upload.status).toBe(200);
  const downloadUrl = upload.body.url as string;
  expect((await fetch(downloadUrl)).status).toBe(200);

  // Sessions: a second login is listed; ending it kills its access token at once.
  const second = (await call('POST', '/auth/login', { json: { email, password } })).body as { access_token: string; refresh_token: string };
  const listed = await call('GET', '/auth/sessions', { token: firstSession.access_token });
  expect(listed.status).toBe(200);
  expect(listed.body.sessions).toHaveLength(2);
  const other = (listed.body.sessions as Array<{ id: string; current: boolean }>).find((session) => !session.current);
  expect((await call('DELETE', `/auth/sessions/${other?.id}`, { token: firstSession.access_token })).status).toBe(204);
  expect((await call('GET', '/auth/me', { token: second.access_token })).status).toBe(401);

  // Lockout: five wrong passwords, then 429 even for the right one, until a solved CAPTCHA.
  for (let attempt = 0; attempt < 5; attempt += 1) {
    expect((await call('POST', '/auth/login', { json: { email, password: 'wrong-password' } })).status).toBe(401);
  }
  const locked = await call('POST', '/auth/login', { json: { email, password } });
  expect(locked.status).toBe(429);
  expect(locked.headers.get('retry-after')).toMatch(/^\d+$/);
  expect(locked.body).toMatchObject({ status: 429, captcha_required: true });
  const unlocked = await call('POST', '/auth/login', { json: { email, password, captcha: await solvedCaptcha() } });
  expect(unlocked.status).toBe(200);

  // Password reset: 202 alike for a stranger; the link works once; every session ends.
  expect((await call('POST', '/auth/password/forgot', { json: { email: 'nobody@example.com' } })).status).toBe(202);
  expect((await call('POST', '/auth/password/forgot', { json: { email } })).status).toBe(202);
  const reset = lastMailTo(email);
  expect(reset.token).not.toBe(verification.token);
  expect((await call('POST', '/auth/password/reset', { json: { token: reset.token, new_password: newPassword } })).status).toBe(204);
  expect((await call('POST', '/auth/password/reset', { json: { token: reset.token, new_password: newPassword } })).status).toBe(400);
  expect((await call('GET', '/auth/me', { token: firstSession.access_token })).status).toBe(401);
  expect((await call('POST', '/auth/login', { json: { email, password } })).status).toBe(401);
  let tokens = (await call('POST', '/auth/login', { json: { email, password: newPassword } })).body as { access_token: string };

  // TOTP MFA: enrol, confirm, then a login needs a code, and a code works once.
  const enrolment = await call('POST', '/auth/mfa/totp', { token: tokens.access_token });
  expect(enrolment.status).toBe(200);
  expect(enrolment.body.otpauth_url).toMatch(/^otpauth:\/\/totp\//);
  const secret = enrolment.body.secret as string;
  const confirmed = await call('POST', '/auth/mfa/totp/confirm', { token: tokens.access_token, json: { code: totp(secret) } });
  expect(confirmed.status).toBe(200);
  expect(confirmed.body.recovery_codes).toHaveLength(10);
  const challenge = await call('POST', '/auth/login', { json: { email, password: newPassword } });
  expect(challenge.body).toMatchObject({ mfa_required: true, expires_in: 300 });
  expect(challenge.body.access_token).toBeUndefined();
  // The confirmation used this step's code: wait for the next step rather than replay it.
  const step = Math.floor(Date.now() / 30_000);
  const replay = await call('POST', '/auth/mfa/verify', { json: { mfa_token: challenge.body.mfa_token, code: totp(secret, step) } });
  let answer = replay;
  if (replay.status !== 200) {
    expect(replay.status).toBe(400); // the confirmation's code, replayed
    await new Promise((resolve) => setTimeout(resolve, (step + 1) * 30_000 - Date.now() + 200));
    answer = await call('POST', '/auth/mfa/verify', { json: { mfa_token: challenge.body.mfa_token, code: totp(secret) } });
  }
  expect(answer.status).toBe(200);
  tokens = answer.body as { access_token: string };
  expect((await call('GET', '/auth/me', { token: tokens.access_token })).status).toBe(200);

  // The audit trail, newest first, with nothing secret in it.
  const events = await call('GET', '/auth/events?limit=100', { token: tokens.access_token });
  expect(events.status).toBe(200);
  const types = (events.body.events as Array<{ type: string }>).map((event) => event.type);
  for (const type of ['user.registered', 'auth.email.verified', 'auth.login.succeeded', 'auth.login.failed', 'auth.session.revoked', 'auth.password.reset', 'auth.mfa.enabled', 'file.uploaded']) {
    expect({ type, present: types.includes(type) }).toEqual({ type, present: true });
  }
  const trail = JSON.stringify(events.body);
  for (const secretValue of [password, newPassword, secret, verification.token, reset.token, firstSession.refresh_token]) expect(trail).not.toContain(secretValue);

  // Deleting the account: wrong password 403; then the files are gone from storage and the email is free.
  expect((await call('DELETE', '/auth/me', { token: tokens.access_token, json: { password: 'not-my-password' } })).status).toBe(403);
  expect((await call('DELETE', '/auth/me', { token: tokens.access_token, json: { password: newPassword } })).status).toBe(204);
  expect((await call('GET', '/auth/me', { token: tokens.access_token })).status).toBe(401);
  expect((await fetch(downloadUrl)).status).toBe(404);
  expect((await call('POST', '/auth/register', { json: { email, password } })).status).toBe(201);
});
