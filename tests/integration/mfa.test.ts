import { createDecipheriv, randomBytes } from 'node:crypto';
import { ScureBase32Plugin } from '@otplib/plugin-base32-scure';
import { NodeCryptoPlugin } from '@otplib/plugin-crypto-node';
import { generateSync } from '@otplib/totp';
import { handler as events } from '../../functions/auth-events';
import { handler as login } from '../../functions/auth-login';
import { handler as me } from '../../functions/auth-me';
import { handler as confirm } from '../../functions/auth-mfa-totp-confirm';
import { handler as disable } from '../../functions/auth-mfa-totp-delete';
import { handler as enrol } from '../../functions/auth-mfa-totp-start';
import { handler as verify } from '../../functions/auth-mfa-verify';
import { handler as register } from '../../functions/auth-register';
import { openSecret, resetMfaKey } from '../../lib/mfa/secret-box';
import { solvedCaptcha } from '../helpers/captcha';
import { createTestEventV2, invoke, type EventOptions, type InvokeResult } from '../helpers/events';
import { getDb } from '../../lib/db/connection';
import { resetRuntime, useFreshDatabase } from '../helpers/runtime';

const password = 'SecurePassword123!';
const crypto = new NodeCryptoPlugin();
const base32 = new ScureBase32Plugin();

/**
 * The clock every module reads (`Date.now`): the middle of a 30 s step, moved only by the
 * tests, so that "the code of the next step" means the same thing from one line to the next.
 */
let clock = 0;
beforeAll(async () => {
  await useFreshDatabase();
  await resetRuntime();
  clock = (Math.floor(Date.now() / 30_000) + 0.5) * 30_000;
  jest.spyOn(Date, 'now').mockImplementation(() => clock);
});
afterAll(async () => {
  jest.restoreAllMocks();
  await resetRuntime();
});

let addressCounter = 0;
/** A fresh client address per user, so per-address counts stay apart. */
const newAddress = () => `198.51.100.${++addressCounter}`;

/** The code an authenticator app shows for `secret`, `steps` 30-second steps from now. */
const codeAt = (secret: string, steps = 0) => generateSync({ secret, crypto, base32, epoch: Math.floor(clock / 1000) + steps * 30 });

const call = (handler: typeof login, options: EventOptions) => invoke(handler, createTestEventV2(options));

interface Account {
  readonly email: string;
  readonly ip: string;
  readonly access: string;
}

async function signUp(name: string): Promise<Account> {
  const email = `${name}@example.com`;
  const ip = newAddress();
  expect((await call(register, { method: 'POST', path: '/auth/register', json: { email, password }, sourceIp: ip })).status).toBe(201);
  const tokens = await call(login, { method: 'POST', path: '/auth/login', json: { email, password }, sourceIp: ip });
  expect(tokens.status).toBe(200);
  return { email, ip, access: tokens.body.access_token as string };
}

const startEnrolment = (account: Account) => call(enrol, { method: 'POST', path: '/auth/mfa/totp', token: account.access, sourceIp: account.ip });
const confirmWith = (account: Account, json: unknown) =>
  call(confirm, { method: 'POST', path: '/auth/mfa/totp/confirm', token: account.access, json, sourceIp: account.ip });
const disableWith = (account: Account, json: unknown) =>
  call(disable, { method: 'DELETE', path: '/auth/mfa/totp', token: account.access, json, sourceIp: account.ip });
const logIn = (account: Account) => call(login, { method: 'POST', path: '/auth/login', json: { email: account.email, password }, sourceIp: account.ip });
const verifyWith = (account: Account, json: unknown) => call(verify, { method: 'POST', path: '/auth/mfa/verify', json, sourceIp: account.ip });

/** Enrols and confirms (with the previous step's code: clock drift is allowed); the secret and recovery codes. */
async function withMfa(name: string): Promise<Account & { secret: string; recovery: string[] }> {
  const account = await signUp(name);
  const started = await startEnrolment(account);
  expect(started.status).toBe(200);
  const confirmed = await confirmWith(account, { code: codeAt(started.body.secret, -1) });
  expect(confirmed.status).toBe(200);
  return { ...account, secret: started.body.secret as string, recovery: confirmed.body.recovery_codes as string[] };
}

async function mfaToken(account: Account): Promise<string> {
  const answer = await logIn(account);
  expect(answer.status).toBe(200);
  return answer.body.mfa_token as string;
}

function expectProblem(result: InvokeResult, status: number, detail?: string): void {
  expect(result.status).toBe(status);
  expect(result.headers['content-type']).toBe('application/problem+json');
  expect(result.body).toMatchObject({ status, ...(detail ? { detail } : {}) });
}

const invalidCode = (result: InvokeResult) => expectProblem(result, 400, 'Invalid code');
const deadToken = (result: InvokeResult) => expectProblem(result, 401, 'Invalid or expired MFA token');

describe('enrolment', () => {
  it('answers a base32 secret of 20 bytes and an otpauth URL; a restart replaces the pending secret; confirm turns MFA on once', async () => {
    const account = await signUp('enrol');
    const first = await startEnrolment(account);
    expect(first.status).toBe(200);
    expect(first.headers['cache-control']).toBe('no-store');
    expect(first.body).toEqual({ secret: expect.stringMatching(/^[A-Z2-7]{32}$/), otpauth_url: expect.any(String) });
    const url = new URL(first.body.otpauth_url);
    expect(url.protocol).toBe('otpauth:');
    expect(url.host).toBe('totp');
    expect(decodeURIComponent(url.pathname)).toBe('/Secure Upload API:enrol@example.com');
    expect(Object.fromEntries(url.searchParams)).toMatchObject({ secret: first.body.secret, issuer: 'Secure Upload API' });

    const second = await startEnrolment(account);
    expect(second.body.secret).not.toBe(first.body.secret);
    invalidCode(await confirmWith(account, { code: codeAt(first.body.secret) }));

    const confirmed = await confirmWith(account, { code: codeAt(second.body.secret) });
    expect(confirmed.status).toBe(200);
    expect(confirmed.body).toEqual({ recovery_codes: expect.arrayContaining([expect.stringMatching(/^[A-Z2-7]{4}(-[A-Z2-7]{4}){3}$/)]) });
    expect(new Set(confirmed.body.recovery_codes).size).toBe(10);

    expectProblem(await startEnrolment(account), 409, 'MFA is already enabled');
    expectProblem(await confirmWith(account, { code: codeAt(second.body.secret, 1) }), 409, 'MFA is already enabled');
  });

  it('refuses to confirm without a pending enrolment, and to disable MFA that is off', async () => {
    const account = await signUp('nothing-pending');
    expectProblem(await confirmWith(account, { code: '123456' }), 409);
    expectProblem(await disableWith(account, { code: '123456' }), 409, 'MFA is not enabled');
  });

  it('needs a bearer token', async () => {
    expectProblem(await call(enrol, { method: 'POST', path: '/auth/mfa/totp' }), 401);
    expectProblem(await call(confirm, { method: 'POST', path: '/auth/mfa/totp/confirm', json: { code: '123456' } }), 401);
    expectProblem(await call(disable, { method: 'DELETE', path: '/auth/mfa/totp', json: { code: '123456' } }), 401);
  });
});

describe('login with MFA on', () => {
  it('answers an mfa_token and no tokens; verify answers a token pair that works; the same code never works twice', async () => {
    const account = await withMfa('flow');
    const answer = await logIn(account);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ mfa_required: true, mfa_token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), expires_in: 300 });

    const code = codeAt(account.secret);
    const verified = await verifyWith(account, { mfa_token: answer.body.mfa_token, code });
    expect(verified.status).toBe(200);
    expect(verified.headers['cache-control']).toBe('no-store');
    expect(verified.body).toEqual({ access_token: expect.any(String), refresh_token: expect.any(String), token_type: 'bearer', expires_in: 900 });
    const who = await call(me, { path: '/auth/me', token: verified.body.access_token });
    expect(who.status).toBe(200);
    expect(who.body.email).toBe(account.email);

    // The token is used up; a new login with the same code is a replay.
    deadToken(await verifyWith(account, { mfa_token: answer.body.mfa_token, code: codeAt(account.secret, 1) }));
    const again = await mfaToken(account);
    invalidCode(await verifyWith(account, { mfa_token: again, code }));
    // The code of the step before is older than the one used: refused too.
    invalidCode(await verifyWith(account, { mfa_token: again, code: codeAt(account.secret, -1) }));
    // The next step's code (the client's clock is ahead) is new: accepted.
    expect((await verifyWith(account, { mfa_token: again, code: codeAt(account.secret, 1) })).status).toBe(200);
  });

  it('accepts a code with a space in the middle, and nothing two steps away', async () => {
    const account = await withMfa('drift');
    const token = await mfaToken(account);
    invalidCode(await verifyWith(account, { mfa_token: token, code: codeAt(account.secret, 2) }));
    clock += 30_000; // the -1 step of confirmation is now two steps back
    const code = codeAt(account.secret);
    expect((await verifyWith(account, { mfa_token: token, code: `${code.slice(0, 3)} ${code.slice(3)}` })).status).toBe(200);
  });

  it('kills the mfa_token after 5 wrong codes (then even a right code is 401); the user then needs a CAPTCHA to verify', async () => {
    const account = await withMfa('five-wrong');
    const token = await mfaToken(account);
    const right = codeAt(account.secret);
    const wrong = right === '000000' ? '111111' : '000000';
    for (let attempt = 1; attempt <= 5; attempt++) invalidCode(await verifyWith(account, { mfa_token: token, code: wrong }));
    deadToken(await verifyWith(account, { mfa_token: token, code: right }));

    // Five wrong codes are five failures for the user: past LOGIN_MAX_FAILURES, as on login.
    const next = await mfaToken(account);
    const refused = await verifyWith(account, { mfa_token: next, code: right });
    expectProblem(refused, 429, 'Too many attempts');
    expect(refused.body.captcha_required).toBe(true);
    expect((await verifyWith(account, { mfa_token: next, code: right, captcha: await solvedCaptcha() })).status).toBe(200);

    const failures = await getDb().all<{ details: string }>(
      "SELECT details FROM audit_events WHERE type = 'auth.login.failed' AND user_id = (SELECT id FROM users WHERE email = ?) ORDER BY seq",
      account.email,
    );
    expect(failures.map((row) => JSON.parse(row.details))).toEqual([...Array<unknown>(5).fill({ reason: 'mfa_failed' }), { reason: 'throttled' }]);
  });

  it('expires the mfa_token after 300 seconds', async () => {
    const account = await withMfa('expiry');
    const token = await mfaToken(account);
    clock += 301_000;
    deadToken(await verifyWith(account, { mfa_token: token, code: codeAt(account.secret) }));
    deadToken(await verifyWith(account, { mfa_token: randomBytes(32).toString('base64url'), code: codeAt(account.secret) }));
  });

  it('takes a recovery code once ever (any case, with or without hyphens)', async () => {
    const account = await withMfa('recovery');
    const [code = '', other = ''] = account.recovery;
    expect((await verifyWith(account, { mfa_token: await mfaToken(account), code: code.toLowerCase() })).status).toBe(200);
    invalidCode(await verifyWith(account, { mfa_token: await mfaToken(account), code }));
    expect((await verifyWith(account, { mfa_token: await mfaToken(account), code: other.replace(/-/g, '') })).status).toBe(200);
  });
});

describe('turning MFA off', () => {
  it('needs a valid code; then logins answer tokens again', async () => {
    const account = await withMfa('disable');
    invalidCode(await disableWith(account, { code: codeAt(account.secret, -1) })); // used for the confirmation
    invalidCode(await disableWith(account, { code: 'AAAA-AAAA-AAAA-AAAA' }));
    const pending = await mfaToken(account);
    const off = await disableWith(account, { code: codeAt(account.secret) });
    expect(off.status).toBe(204);
    // Logins waiting for a code end with MFA.
    deadToken(await verifyWith(account, { mfa_token: pending, code: codeAt(account.secret, 1) }));
    const answer = await logIn(account);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ token_type: 'bearer' });

    const types = ((await call(events, { path: '/auth/events', token: account.access })).body.events as Array<{ type: string; details: object }>).map(
      (event) => [event.type, event.details],
    );
    expect(types).toEqual(
      expect.arrayContaining([
        ['auth.mfa.enabled', { method: 'totp' }],
        ['auth.mfa.disabled', { method: 'totp' }],
      ]),
    );
  });

  it('takes a recovery code, and allows a fresh enrolment afterwards', async () => {
    const account = await withMfa('disable-recovery');
    expect((await disableWith(account, { code: account.recovery[3] })).status).toBe(204);
    expect((await startEnrolment(account)).status).toBe(200);
  });
});

describe('secrets at rest', () => {
  it('stores the TOTP secret sealed with AES-256-GCM under MFA_ENCRYPTION_KEY, and recovery codes only hashed', async () => {
    const account = await withMfa('at-rest');
    const db = getDb();
    const row = (await db.get<{ user_id: string; secret_encrypted: string; key_id: string }>(
      'SELECT user_id, secret_encrypted, key_id FROM mfa_totp WHERE user_id = (SELECT id FROM users WHERE email = ?)',
      account.email,
    ))!;
    expect(row).toBeDefined();
    const everything = JSON.stringify([
      await db.all('SELECT * FROM mfa_totp'),
      await db.all('SELECT * FROM mfa_recovery_codes'),
      await db.all('SELECT * FROM mfa_challenges'),
      await db.all('SELECT * FROM audit_events'),
    ]);
    expect(everything).not.toContain(account.secret);
    for (const code of account.recovery) expect(everything).not.toContain(code);
    expect(row.key_id).toMatch(/^[0-9a-f]{16}$/);

    // It decrypts with the configured key (and the user id as associated data) ...
    const [iv, body, tag] = row.secret_encrypted.split('.').map((part) => Buffer.from(part, 'base64url')) as [Buffer, Buffer, Buffer];
    const decrypt = (key: Buffer, aad: string) => {
      const decipher = createDecipheriv('aes-256-gcm', key, iv);
      decipher.setAAD(Buffer.from(aad));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
    };
    const key = Buffer.from(process.env.MFA_ENCRYPTION_KEY ?? '', 'hex');
    expect(decrypt(key, row.user_id)).toBe(account.secret);
    await expect(openSecret({ keyId: row.key_id, ciphertext: row.secret_encrypted }, row.user_id)).resolves.toBe(account.secret);
    // ... and with nothing else: another key, the JWT secret, or another user's id.
    expect(() => decrypt(randomBytes(32), row.user_id)).toThrow();
    expect(() => decrypt(Buffer.from(process.env.JWT_SECRET ?? '', 'hex'), row.user_id)).toThrow();
    expect(() => decrypt(key, 'someone-else')).toThrow();
  });

  it('answers a wrong MFA_ENCRYPTION_KEY with a 503 that says nothing internal, and works again with the right one', async () => {
    const account = await withMfa('wrong-key');
    const token = await mfaToken(account);
    const rightKey = process.env.MFA_ENCRYPTION_KEY;
    process.env.MFA_ENCRYPTION_KEY = randomBytes(32).toString('base64');
    await resetRuntime();
    try {
      const refused = await verifyWith(account, { mfa_token: token, code: codeAt(account.secret) });
      expect(refused.status).toBe(503);
      expect(refused.headers['content-type']).toBe('application/problem+json');
      expect(refused.body).toEqual({
        type: 'about:blank',
        title: 'Service Unavailable',
        status: 503,
        detail: 'Multi-factor authentication is temporarily unavailable',
        instance: expect.any(String),
      });
    } finally {
      process.env.MFA_ENCRYPTION_KEY = rightKey;
      await resetRuntime();
      resetMfaKey();
    }
    // Nothing was counted or used up: the same token and code work now.
    expect((await verifyWith(account, { mfa_token: token, code: codeAt(account.secret) })).status).toBe(200);
  });
});

describe('bad input is a 4xx problem, never a 500', () => {
  const huge = 'x'.repeat(1_000_000);
  const bodies: unknown[] = [
    {},
    { code: '' },
    { code: '1234567' },
    { code: '12345' },
    { code: 123456 },
    { code: ['123456'] },
    { code: null },
    { code: huge },
    { code: '12345a' },
    { code: '123456\n' + huge },
    { mfa_token: 42, code: '123456' },
    { mfa_token: huge, code: '123456' },
    { mfa_token: '', code: '123456' },
    { mfa_token: 'x', code: 'ABCD-EFGH-JKLM-NPQ1' },
    { mfa_token: 'x', code: '123456', captcha: huge },
    [],
    'code',
    null,
  ];

  it.each([
    ['verify', (account: Account, json: unknown) => verifyWith(account, json)],
    ['confirm', (account: Account, json: unknown) => confirmWith(account, json)],
    ['disable', (account: Account, json: unknown) => disableWith(account, json)],
  ])('%s', async (_name, send) => {
    const account = await withMfa(`bad-input-${_name}`);
    for (const json of bodies) {
      const result = await send(account, json);
      const sent = JSON.stringify(json).slice(0, 60);
      const problem = result.status >= 400 && result.status < 500 && result.headers['content-type'] === 'application/problem+json';
      expect({ sent, status: result.status, problem }).toEqual({ sent, status: result.status, problem: true });
    }
    const raw = (text: string, contentType = 'application/json') =>
      invoke(verify, createTestEventV2({ method: 'POST', path: '/auth/mfa/verify', text, headers: { 'content-type': contentType }, sourceIp: account.ip }));
    expectProblem(await raw('{"mfa_token":'), 400);
    expectProblem(await raw('mfa_token=x&code=123456', 'application/x-www-form-urlencoded'), 415);
    expectProblem(await call(verify, { method: 'POST', path: '/auth/mfa/verify', sourceIp: account.ip }), 415);
  });
});

describe('per-address limit on verify (IP_MAX_FAILURES)', () => {
  beforeAll(async () => {
    process.env.IP_MAX_FAILURES = '3';
    await resetRuntime();
  });
  afterAll(async () => {
    delete process.env.IP_MAX_FAILURES;
    await resetRuntime();
  });

  it('refuses every verify from an address past the limit, whatever the token, CAPTCHA or not', async () => {
    const account = await withMfa('ip-limit');
    const right = codeAt(account.secret);
    const wrong = right === '000000' ? '111111' : '000000';
    const token = await mfaToken(account);
    for (let attempt = 1; attempt <= 3; attempt++) invalidCode(await verifyWith(account, { mfa_token: token, code: wrong }));
    for (const json of [
      { mfa_token: token, code: right },
      { mfa_token: token, code: right, captcha: await solvedCaptcha() },
      { mfa_token: randomBytes(32).toString('base64url'), code: right },
    ]) {
      const refused = await verifyWith(account, json);
      expectProblem(refused, 429, 'Too many attempts');
      expect(refused.body.captcha_required).toBe(false);
    }
    // From another address the token still works (3 wrong codes < 5).
    expect((await verifyWith({ ...account, ip: newAddress() }, { mfa_token: token, code: right })).status).toBe(200);
  });
});
