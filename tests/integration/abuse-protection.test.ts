import { randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { handler as captchaHandler } from '../../functions/auth-captcha';
import { handler as login } from '../../functions/auth-login';
import { handler as register } from '../../functions/auth-register';
import { getDb } from '../../lib/db/connection';
import { solvedCaptcha } from '../helpers/captcha';
import { createTestEventV2, invoke, type InvokeResult } from '../helpers/events';
import { resetRuntime, useFreshDatabase } from '../helpers/runtime';

beforeAll(async () => {
  await useFreshDatabase();
  await resetRuntime();
});
afterAll(async () => {
  delete process.env.CAPTCHA;
  await resetRuntime();
});

const password = 'SecurePassword123!';
let addressCounter = 0;
/** A fresh client address per test, so per-address counts do not leak between tests. */
const newAddress = () => `198.51.100.${++addressCounter}`;

const loginAs = (email: string, pass: string, sourceIp: string, extra: Record<string, unknown> = {}) =>
  invoke(login, createTestEventV2({ method: 'POST', path: '/auth/login', sourceIp, json: { email, password: pass, ...extra } }));
const registerAs = (email: string, sourceIp: string, extra: Record<string, unknown> = {}) =>
  invoke(register, createTestEventV2({ method: 'POST', path: '/auth/register', sourceIp, json: { email, password, ...extra } }));

function expectTooMany(result: InvokeResult, captchaRequired: boolean) {
  expect(result.status).toBe(429);
  expect(result.headers['content-type']).toBe('application/problem+json');
  expect(result.headers['retry-after']).toMatch(/^[1-9]\d*$/);
  expect(result.body).toEqual({
    type: 'about:blank',
    title: 'Too Many Requests',
    status: 429,
    detail: 'Too many attempts',
    instance: expect.any(String),
    captcha_required: captchaRequired,
  });
}

describe('per-account limit (LOGIN_MAX_FAILURES=5 in LOGIN_WINDOW_SECONDS)', () => {
  it('answers the 6th attempt with 429 for a known and an unknown email alike, right password included, without bcrypt', async () => {
    const known = 'locked@example.com';
    expect((await registerAs(known, newAddress())).status).toBe(201);
    const unknown = 'nobody-here@example.com';
    const ip = newAddress();
    for (let attempt = 1; attempt <= 5; attempt++) {
      expect((await loginAs(known, 'WrongPassword1!', ip)).status).toBe(401);
      expect((await loginAs(unknown, 'WrongPassword1!', ip)).status).toBe(401);
    }
    const compare = jest.spyOn(bcrypt, 'compare');
    try {
      const knownSixth = await loginAs(known, 'WrongPassword1!', ip);
      const unknownSixth = await loginAs(unknown, 'WrongPassword1!', ip);
      const rightPassword = await loginAs(known, password, newAddress());
      for (const result of [knownSixth, unknownSixth, rightPassword]) expectTooMany(result, true);
      expect({ ...knownSixth.body, instance: '' }).toEqual({ ...unknownSixth.body, instance: '' });
      expect(compare).not.toHaveBeenCalled();
      // The spy does see compares: an admitted attempt makes exactly one.
      expect((await loginAs('control@example.com', password, newAddress())).status).toBe(401);
      expect(compare).toHaveBeenCalledTimes(1);
    } finally {
      compare.mockRestore();
    }
    // Another email from the same address is not affected (10 failures < IP_MAX_FAILURES).
    expect((await loginAs('other@example.com', password, ip)).status).toBe(401);
  });

  it('normalizes the email: case and spacing do not give fresh attempts', async () => {
    const ip = newAddress();
    for (let attempt = 1; attempt <= 5; attempt++) {
      expect((await loginAs(attempt % 2 ? 'Mixed@Example.com' : '  mixed@example.COM ', 'nope-nope', ip)).status).toBe(401);
    }
    expectTooMany(await loginAs('MIXED@example.com', 'nope-nope', ip), true);
  });

  it('lets a solved CAPTCHA through (once), and only for the account limit', async () => {
    const email = 'captcha-user@example.com';
    expect((await registerAs(email, newAddress())).status).toBe(201);
    for (let attempt = 1; attempt <= 5; attempt++) expect((await loginAs(email, 'WrongPassword1!', newAddress())).status).toBe(401);
    expectTooMany(await loginAs(email, password, newAddress()), true);

    const captcha = await solvedCaptcha();
    const admitted = await loginAs(email, password, newAddress(), { captcha });
    expect(admitted.status).toBe(200);
    expect(admitted.body).toMatchObject({ token_type: 'bearer' });
    // The success cleared the account's failures: the next attempt needs no CAPTCHA.
    expect((await loginAs(email, password, newAddress())).status).toBe(200);

    for (let attempt = 1; attempt <= 5; attempt++) expect((await loginAs(email, 'WrongPassword1!', newAddress())).status).toBe(401);
    // The same solution a second time is worth nothing.
    expectTooMany(await loginAs(email, password, newAddress(), { captcha }), true);
    // A fresh one with a wrong password is let through to the compare: a 401, and one more failure.
    expect((await loginAs(email, 'WrongPassword1!', newAddress(), { captcha: await solvedCaptcha() })).status).toBe(401);
    expectTooMany(await loginAs(email, password, newAddress()), true);
  });

  it('clears the count on success, and writes nothing for an ordinary successful login', async () => {
    const email = 'clears@example.com';
    expect((await registerAs(email, newAddress())).status).toBe(201);
    for (let attempt = 1; attempt <= 4; attempt++) expect((await loginAs(email, 'WrongPassword1!', newAddress())).status).toBe(401);
    expect((await loginAs(email, password, newAddress())).status).toBe(200);
    const counters = () => getDb().all('SELECT scope, key, count, expires_at FROM throttle_counters ORDER BY scope, key');
    const before = await counters();
    expect(await loginAs(email, password, newAddress())).toMatchObject({ status: 200 });
    expect(await counters()).toEqual(before);
    // Four more failures are again allowed before the limit.
    for (let attempt = 1; attempt <= 5; attempt++) expect((await loginAs(email, 'WrongPassword1!', newAddress())).status).toBe(401);
    expectTooMany(await loginAs(email, password, newAddress()), true);
  });

  it('keeps the counts in the database: a new connection (a restart, another container) sees them', async () => {
    const email = 'restart@example.com';
    for (let attempt = 1; attempt <= 5; attempt++) expect((await loginAs(email, 'WrongPassword1!', newAddress())).status).toBe(401);
    await resetRuntime(); // closes the connection, forgets config and keys; DATABASE_URL stays
    expectTooMany(await loginAs(email, 'WrongPassword1!', newAddress()), true);
  });
});

describe('concurrent attempts (a burst that reads the counters before any failure is written)', () => {
  const statusCounts = (results: InvokeResult[]) => {
    const counts: Record<number, number> = {};
    for (const result of results) counts[result.status] = (counts[result.status] ?? 0) + 1;
    return counts;
  };

  it('tells at most LOGIN_MAX_FAILURES of a burst of guesses that they were wrong; the rest get the 429', async () => {
    const email = 'burst@example.com';
    expect((await registerAs(email, newAddress())).status).toBe(201);
    const results = await Promise.all(Array.from({ length: 30 }, (_, guess) => loginAs(email, `wrong-guess-${guess}`, newAddress())));
    expect(statusCounts(results)).toEqual({ 401: 5, 429: 25 });
    for (const result of results.filter((r) => r.status === 429)) expectTooMany(result, true);
  });

  it('does not let the right password in when the burst has reached the limit while it was compared', async () => {
    const email = 'burst-right@example.com';
    expect((await registerAs(email, newAddress())).status).toBe(201);
    const guesses = [...Array.from({ length: 20 }, (_, guess) => `wrong-guess-${guess}`), password];
    const results = await Promise.all(guesses.map((guess) => loginAs(email, guess, newAddress())));
    expect(statusCounts(results)).toEqual({ 401: 5, 429: 16 });
    expectTooMany(results.at(-1) as InvokeResult, true);
  });

  it('holds the per-address limit against a burst from one address', async () => {
    const ip = newAddress();
    const results = await Promise.all(Array.from({ length: 70 }, (_, guess) => loginAs(`burst-${guess}@example.com`, 'Spring2024!', ip)));
    expect(statusCounts(results)).toEqual({ 401: 50, 429: 20 });
    for (const result of results.filter((r) => r.status === 429)) expectTooMany(result, false);
  });
});

describe('per-address limit (IP_MAX_FAILURES=50)', () => {
  it('refuses login and register from the address, CAPTCHA or not, and ignores X-Forwarded-For', async () => {
    const ip = newAddress();
    for (let attempt = 0; attempt < 50; attempt++) {
      const result = await invoke(
        login,
        createTestEventV2({
          method: 'POST',
          path: '/auth/login',
          sourceIp: ip,
          headers: { 'x-forwarded-for': `203.0.113.${attempt % 250}` },
          json: { email: `spray-${attempt % 13}@example.com`, password: 'Spring2024!' },
        }),
      );
      expect(result.status).toBe(401);
    }
    expectTooMany(await loginAs('fresh-account@example.com', password, ip), false);
    expectTooMany(await loginAs('fresh-account@example.com', password, ip, { captcha: await solvedCaptcha() }), false);
    expectTooMany(await registerAs('newcomer@example.com', ip), false);
    // Other addresses are unaffected.
    expect((await registerAs('newcomer@example.com', newAddress())).status).toBe(201);
  });

  it('counts an IPv6 client by its /64', async () => {
    for (let attempt = 0; attempt < 50; attempt++) {
      const ip = `2001:db8:aaaa:bbbb:${(attempt + 1).toString(16)}::1`;
      expect((await loginAs(`v6-${attempt % 13}@example.com`, 'Spring2024!', ip)).status).toBe(401);
    }
    expectTooMany(await loginAs('v6-fresh@example.com', password, '2001:db8:aaaa:bbbb:ffff:ffff:ffff:ffff'), false);
    expect((await loginAs('v6-fresh@example.com', password, '2001:db8:aaaa:bbbc::1')).status).toBe(401);
  });
});

describe('refused attempts and the audit log', () => {
  const auditRows = async () => Number((await getDb().get<{ n: number | string }>('SELECT COUNT(*) AS n FROM audit_events'))!.n);

  it('do not grow it by a row per request: a refusing limit is recorded once in its window', async () => {
    const email = 'hammered@example.com';
    expect((await registerAs(email, newAddress())).status).toBe(201);
    for (let attempt = 1; attempt <= 5; attempt++) expect((await loginAs(email, 'WrongPassword1!', newAddress())).status).toBe(401);
    const ip = newAddress();
    for (let attempt = 0; attempt < 50; attempt++) expect((await loginAs(`sprayed-${attempt}@example.com`, 'Spring2024!', ip)).status).toBe(401);

    const before = await auditRows();
    for (let attempt = 0; attempt < 100; attempt++) {
      expectTooMany(await loginAs(email, password, newAddress()), true); // the account's limit
      expectTooMany(await loginAs(`unknown-${attempt}@example.com`, password, ip), false); // the address's limit
    }
    expect((await auditRows()) - before).toBe(2); // the first refusal by each limit: still on record, once
  });
});

describe('registration limit (REGISTER_MAX_PER_IP=20 per hour)', () => {
  it('counts 201 and 409 alike, not 422, and answers the 21st with 429', async () => {
    const ip = newAddress();
    expect((await invoke(register, createTestEventV2({ method: 'POST', path: '/auth/register', sourceIp: ip, json: { email: 'x' } }))).status).toBe(422);
    for (let attempt = 1; attempt <= 20; attempt++) {
      const result = await registerAs(attempt % 2 ? `reg-${attempt}@example.com` : 'reg-1@example.com', ip);
      expect(result.status).toBe(attempt % 2 ? 201 : 409);
    }
    expectTooMany(await registerAs('reg-21@example.com', ip), false);
    expect((await registerAs('reg-21@example.com', newAddress())).status).toBe(201);
  });
});

describe('GET /auth/captcha', () => {
  it("answers altcha-lib's signed challenge, not cacheable, expiring in 10 minutes", async () => {
    const result = await invoke(captchaHandler, createTestEventV2({ path: '/auth/captcha' }));
    expect(result.status).toBe(200);
    expect(result.headers['cache-control']).toBe('no-store');
    expect(result.body).toEqual({
      parameters: expect.objectContaining({ algorithm: 'PBKDF2/SHA-256', nonce: expect.any(String), salt: expect.any(String), keyPrefix: expect.any(String), expiresAt: expect.any(Number) }),
      signature: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    const ttl = result.body.parameters.expiresAt - Date.now() / 1000;
    expect(ttl).toBeGreaterThan(590);
    expect(ttl).toBeLessThanOrEqual(600);
  });
});

describe('CAPTCHA=always', () => {
  beforeAll(async () => {
    process.env.CAPTCHA = 'always';
    await resetRuntime();
  });
  afterAll(async () => {
    delete process.env.CAPTCHA;
    await resetRuntime();
  });

  const captchaRequired = (result: InvokeResult) => {
    expect(result.status).toBe(400);
    expect(result.body).toEqual({ type: 'about:blank', title: 'Bad Request', status: 400, detail: 'CAPTCHA required', instance: expect.any(String), captcha_required: true });
  };

  it('needs a valid solution on register and login', async () => {
    const email = 'always@example.com';
    captchaRequired(await registerAs(email, newAddress()));
    expect((await registerAs(email, newAddress(), { captcha: await solvedCaptcha() })).status).toBe(201);
    captchaRequired(await loginAs(email, password, newAddress()));
    const captcha = await solvedCaptcha();
    expect((await loginAs(email, password, newAddress(), { captcha })).status).toBe(200);
    captchaRequired(await loginAs(email, password, newAddress(), { captcha }));
  });

  it('answers malformed payloads with a 4xx, never a 500', async () => {
    const real = JSON.parse(Buffer.from(await solvedCaptcha(), 'base64').toString('utf8')) as {
      challenge: { parameters: Record<string, unknown>; signature: string };
      solution: Record<string, unknown>;
    };
    const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64');
    const odd = [null, -1, 1.5, 2 ** 53, 'zz', '', [], {}, 'ABCDEF', '0'.repeat(999), true];
    const payloads: unknown[] = ['', ' ', '====', '%%%', 'null', b64('null'), b64('[]'), b64('{}'), b64('"x"'), 42, null, [], {}, 'x'.repeat(5000)];
    for (const value of odd) {
      payloads.push(b64({ ...real, solution: { ...real.solution, counter: value } }));
      payloads.push(b64({ ...real, solution: { ...real.solution, derivedKey: value } }));
      payloads.push(b64({ ...real, challenge: { ...real.challenge, signature: value } }));
      for (const name of ['algorithm', 'nonce', 'salt', 'cost', 'keyLength', 'keyPrefix', 'keySignature', 'expiresAt']) {
        payloads.push(b64({ ...real, challenge: { ...real.challenge, parameters: { ...real.challenge.parameters, [name]: value } } }));
      }
    }
    while (payloads.length < 400) {
      const bytes = randomBytes(1 + (payloads.length % 700));
      payloads.push(payloads.length % 2 ? bytes.toString('base64') : bytes.toString('latin1'));
    }
    const ip = newAddress();
    for (const captcha of payloads) {
      const result = await loginAs('always@example.com', password, ip, { captcha });
      expect({ captcha, status: result.status }).toEqual({ captcha, status: expect.any(Number) });
      expect([400, 422]).toContain(result.status);
    }
  });
});
