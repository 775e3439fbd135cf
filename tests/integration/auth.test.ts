import { createHash } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { handler as login } from '../../functions/auth-login';
import { handler as logout } from '../../functions/auth-logout';
import { handler as me } from '../../functions/auth-me';
import { handler as refresh } from '../../functions/auth-refresh';
import { handler as register } from '../../functions/auth-register';
import { keyIdOf } from '../../lib/auth/signing-key';
import { createTestEventV2, invoke } from '../helpers/events';
import { getDb } from '../../lib/db/connection';
import { resetRuntime, useFreshDatabase } from '../helpers/runtime';

beforeAll(async () => {
  await useFreshDatabase();
  await resetRuntime();
});
afterAll(() => resetRuntime());

const post = (path: string, json: unknown) => createTestEventV2({ method: 'POST', path, json });
const password = 'SecurePassword123!';

async function registerAndLogin(email: string) {
  const created = await invoke(register, post('/auth/register', { email, password }));
  expect(created.status).toBe(201);
  const tokens = await invoke(login, post('/auth/login', { email, password }));
  expect(tokens.status).toBe(200);
  return { user: created.body, tokens: tokens.body as { access_token: string; refresh_token: string } };
}

function expectProblem(result: { status: number; headers: Record<string, string>; body: any }, status: number, detail?: string | RegExp) {
  expect(result.status).toBe(status);
  expect(result.headers['content-type']).toBe('application/problem+json');
  expect(result.body).toMatchObject({ type: 'about:blank', status, title: expect.any(String), instance: expect.any(String) });
  if (typeof detail === 'string') expect(result.body.detail).toBe(detail);
  else if (detail) expect(result.body.detail).toMatch(detail);
  expect(JSON.stringify(result.body)).not.toMatch(/at .*\.(ts|js):\d+|SQLITE|node_modules/);
}

describe('POST /auth/register', () => {
  it('creates a user with the seed response shape', async () => {
    const result = await invoke(register, post('/auth/register', { email: '  alice@example.com ', password }));
    expect(result.status).toBe(201);
    expect(result.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
      email: 'alice@example.com',
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
    });
    const row = (await getDb().get<{ email: string; hashed_password: string }>('SELECT email, hashed_password FROM users WHERE id = ?', result.body.id))!;
    expect(row.email).toBe('alice@example.com');
    expect(row.hashed_password).toMatch(/^\$2[aby]\$04\$/);
    expect(row.hashed_password).not.toContain(password);
  });

  it('refuses a second account for the same email, whatever its case', async () => {
    const result = await invoke(register, post('/auth/register', { email: 'ALICE@Example.com', password }));
    expectProblem(result, 409, 'Email already registered');
  });

  it.each([
    ['a missing password', { email: 'bob@example.com' }, '/password'],
    ['a short password', { email: 'bob@example.com', password: 'short' }, '/password'],
    ['a password over 72 UTF-8 bytes', { email: 'bob@example.com', password: 'é'.repeat(37) }, '/password'],
    ['a malformed email', { email: 'not-an-email', password }, '/email'],
    ['a number for an email', { email: 42, password }, '/email'],
  ])('answers 422 with a pointer for %s', async (_name, body, pointer) => {
    const result = await invoke(register, post('/auth/register', body));
    expectProblem(result, 422);
    expect(result.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ pointer })]));
  });

  it('accepts a password of exactly 72 bytes', async () => {
    const result = await invoke(register, post('/auth/register', { email: 'max@example.com', password: 'é'.repeat(36) }));
    expect(result.status).toBe(201);
  });

  it('answers 400 for malformed JSON and 415 for another content type', async () => {
    const malformed = createTestEventV2({ method: 'POST', path: '/auth/register', headers: { 'content-type': 'application/json' }, text: '{"email": ' });
    expectProblem(await invoke(register, malformed), 400, 'The request body is not valid JSON');
    const empty = createTestEventV2({ method: 'POST', path: '/auth/register', headers: { 'content-type': 'application/json' } });
    expectProblem(await invoke(register, empty), 400);
    const form = createTestEventV2({
      method: 'POST',
      path: '/auth/register',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      text: 'email=a@b.c&password=12345678',
    });
    expectProblem(await invoke(register, form), 415, 'Content-Type must be application/json');
    expectProblem(await invoke(register, post('/auth/register', ['alice@example.com'])), 422);
  });
});

describe('POST /auth/login and GET /auth/me', () => {
  it('issues the seed token pair, not cacheable, and the access token opens /auth/me', async () => {
    const result = await invoke(login, post('/auth/login', { email: 'Alice@Example.com', password }));
    expect(result.status).toBe(200);
    expect(result.headers['cache-control']).toBe('no-store');
    expect(result.body).toEqual({ access_token: expect.any(String), refresh_token: expect.any(String), token_type: 'bearer', expires_in: 900 });
    const claims = jwt.decode(result.body.access_token, { complete: true });
    expect(claims?.header).toMatchObject({ alg: 'HS256', typ: 'at+jwt' });
    expect(claims?.payload).toMatchObject({ type: 'access', iss: 'secure-upload-api', aud: 'secure-upload-api', jti: expect.any(String) });

    const profile = await invoke(me, createTestEventV2({ path: '/auth/me', token: result.body.access_token }));
    expect(profile.status).toBe(200);
    expect(profile.body).toEqual({ id: expect.any(String), email: 'alice@example.com', created_at: expect.any(String), email_verified: false });
  });

  it('gives unknown email and wrong password the same 401', async () => {
    const wrong = await invoke(login, post('/auth/login', { email: 'alice@example.com', password: 'WrongPassword1!' }));
    const unknown = await invoke(login, post('/auth/login', { email: 'nobody@example.com', password }));
    for (const result of [wrong, unknown]) {
      expectProblem(result, 401, 'Invalid email or password');
      expect(result.headers['www-authenticate']).toBe('Bearer');
    }
    expect({ ...wrong.body, instance: '' }).toEqual({ ...unknown.body, instance: '' });
  });

  it('answers 401 with a Bearer challenge for missing, malformed, forged, expired and wrong-type tokens', async () => {
    const { tokens, user } = await registerAndLogin('tokens@example.com');
    const secret = process.env.JWT_SECRET ?? '';
    const kid = keyIdOf(secret);
    const base = { sub: user.id, jti: 'x', iss: 'secure-upload-api', aud: 'secure-upload-api' };
    const cases: Array<[string, Record<string, string>, string]> = [
      ['missing', {}, 'Not authenticated'],
      ['not bearer', { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, 'Could not validate credentials'],
      ['garbage', { authorization: 'Bearer not.a.jwt' }, 'Could not validate credentials'],
      ['refresh token', { authorization: `Bearer ${tokens.refresh_token}` }, 'Could not validate credentials'],
      [
        'forged',
        { authorization: `Bearer ${jwt.sign({ ...base, type: 'access' }, 'x'.repeat(32), { header: { alg: 'HS256', typ: 'at+jwt' } })}` },
        'Could not validate credentials',
      ],
      [
        'right secret, no kid',
        { authorization: `Bearer ${jwt.sign({ ...base, type: 'access' }, secret, { header: { alg: 'HS256', typ: 'at+jwt' }, expiresIn: 60 })}` },
        'Could not validate credentials',
      ],
      ['alg none', { authorization: `Bearer ${jwt.sign({ ...base, type: 'access' }, '', { algorithm: 'none' })}` }, 'Could not validate credentials'],
      [
        'expired',
        {
          authorization: `Bearer ${jwt.sign({ ...base, type: 'access', exp: Math.floor(Date.now() / 1000) - 60 }, secret, {
            header: { alg: 'HS256', typ: 'at+jwt', kid },
          })}`,
        },
        'Token has expired',
      ],
      [
        'wrong audience',
        { authorization: `Bearer ${jwt.sign({ ...base, type: 'access', aud: 'other' }, secret, { header: { alg: 'HS256', typ: 'at+jwt', kid }, expiresIn: 60 })}` },
        'Could not validate credentials',
      ],
      [
        'unknown user',
        {
          // a live session's id, so only the user is unknown
          authorization: `Bearer ${jwt.sign({ ...base, sub: '00000000-0000-4000-8000-000000000000', sid: (jwt.decode(tokens.access_token) as { sid: string }).sid, type: 'access' }, secret, {
            header: { alg: 'HS256', typ: 'at+jwt', kid },
            expiresIn: 60,
          })}`,
        },
        'Could not validate credentials',
      ],
    ];
    for (const [name, headers, detail] of cases) {
      const result = await invoke(me, createTestEventV2({ path: '/auth/me', headers }));
      expect([name, result.status, result.body.detail]).toEqual([name, 401, detail]);
      expect(result.headers['www-authenticate']).toMatch(/^Bearer/);
    }
  });
});

describe('POST /auth/refresh', () => {
  it('rotates: the new pair works, the old refresh token is refused, and nothing is stored in clear', async () => {
    const { tokens } = await registerAndLogin('rotate@example.com');
    const rotated = await invoke(refresh, post('/auth/refresh', { refresh_token: tokens.refresh_token }));
    expect(rotated.status).toBe(200);
    expect(rotated.headers['cache-control']).toBe('no-store');
    expect(rotated.body.refresh_token).not.toBe(tokens.refresh_token);
    expect((await invoke(me, createTestEventV2({ path: '/auth/me', token: rotated.body.access_token }))).status).toBe(200);

    const hash = createHash('sha256').update(tokens.refresh_token).digest('hex');
    expect(await getDb().get('SELECT revoked FROM refresh_tokens WHERE token_hash = ?', hash)).toEqual({ revoked: 1 });
    const stored = await getDb().all<{ token_hash: string }>('SELECT token_hash FROM refresh_tokens');
    expect(stored.some((row) => row.token_hash.includes('.'))).toBe(false);
  });

  it('treats a replayed rotated token as theft and revokes the whole family', async () => {
    const { tokens } = await registerAndLogin('reuse@example.com');
    const first = await invoke(refresh, post('/auth/refresh', { refresh_token: tokens.refresh_token }));
    expect(first.status).toBe(200);
    const replay = await invoke(refresh, post('/auth/refresh', { refresh_token: tokens.refresh_token }));
    expectProblem(replay, 401, 'Could not validate credentials');
    // The successor minted before the replay is dead too.
    const successor = await invoke(refresh, post('/auth/refresh', { refresh_token: first.body.refresh_token }));
    expect(successor.status).toBe(401);
  });

  it('never accepts an access token as a refresh token', async () => {
    const { tokens } = await registerAndLogin('types@example.com');
    expect((await invoke(refresh, post('/auth/refresh', { refresh_token: tokens.access_token }))).status).toBe(401);
    expectProblem(await invoke(refresh, post('/auth/refresh', { refresh_token: 'garbage' })), 401);
    expectProblem(await invoke(refresh, post('/auth/refresh', { refresh_token: 7 })), 422);
  });

  it('mints at most one successor when the same token races', async () => {
    const { tokens } = await registerAndLogin('race@example.com');
    const results = await Promise.all(
      Array.from({ length: 8 }, () => invoke(refresh, post('/auth/refresh', { refresh_token: tokens.refresh_token }))),
    );
    expect(results.filter((result) => result.status === 200)).toHaveLength(1);
    expect(results.filter((result) => result.status === 401)).toHaveLength(7);
  });
});

describe('POST /auth/logout', () => {
  it('answers 204 and the token (and its session) can no longer refresh', async () => {
    const { tokens } = await registerAndLogin('logout@example.com');
    const result = await invoke(logout, post('/auth/logout', { refresh_token: tokens.refresh_token }));
    expect(result.status).toBe(204);
    expect(result.raw.body).toBeUndefined();
    expect((await invoke(refresh, post('/auth/refresh', { refresh_token: tokens.refresh_token }))).status).toBe(401);
  });

  it('answers 204 for unknown or repeated tokens and 422 without the field', async () => {
    expect((await invoke(logout, post('/auth/logout', { refresh_token: 'whatever' }))).status).toBe(204);
    expect((await invoke(logout, post('/auth/logout', { refresh_token: 'whatever' }))).status).toBe(204);
    expect((await invoke(logout, post('/auth/logout', { refresh_token: '' }))).status).toBe(204);
    expectProblem(await invoke(logout, post('/auth/logout', {})), 422);
  });
});

describe('racing registrations of one email', () => {
  it('give exactly one 201 and 409 for the rest', async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, () => invoke(register, post('/auth/register', { email: 'same@example.com', password }))),
    );
    expect(results.map((result) => result.status).sort()).toEqual([201, 409, 409, 409, 409, 409]);
  });
});

describe('every answer', () => {
  it('carries the security headers', async () => {
    const answers = [
      await invoke(register, post('/auth/register', { email: 'x' })),
      await invoke(me, createTestEventV2({ path: '/auth/me' })),
      await invoke(login, post('/auth/login', { email: 'alice@example.com', password })),
    ];
    for (const answer of answers) {
      expect(answer.headers).toMatchObject({
        'strict-transport-security': expect.stringContaining('max-age='),
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'content-security-policy': expect.stringContaining("default-src 'none'"),
        'cache-control': 'no-store',
      });
    }
  });
});
