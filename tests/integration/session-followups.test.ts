/**
 * Follow-ups of the sessions work: refresh tokens minted before key ids existed keep working
 * (with the current key only), and the scheduled sweep clears old sessions, refresh tokens and
 * account tokens.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { handler as login } from '../../functions/auth-login';
import { handler as logout } from '../../functions/auth-logout';
import { handler as me } from '../../functions/auth-me';
import { handler as refresh } from '../../functions/auth-refresh';
import { handler as register } from '../../functions/auth-register';
import { handler as sweepHandler } from '../../functions/sweep-uploads';
import { keyIdOf } from '../../lib/auth/signing-key';
import { hashToken } from '../../lib/auth/refresh-tokens';
import { runScheduledSweep } from '../../lib/sweep';
import { createTestEventV2, invoke, lambdaContext } from '../helpers/events';
import { getDb, type SqlValue } from '../../lib/db/connection';
import { resetRuntime, useFreshDatabase } from '../helpers/runtime';

const password = 'SecurePassword123!';
const previousSecret = randomBytes(32).toString('hex');

beforeAll(async () => {
  await useFreshDatabase();
  process.env.JWT_PREVIOUS_SECRET = previousSecret;
  await resetRuntime();
});
afterAll(async () => {
  delete process.env.JWT_PREVIOUS_SECRET;
  await resetRuntime();
});

const post = (path: string, json: unknown) => createTestEventV2({ method: 'POST', path, json });
const whoAmI = (token: string) => invoke(me, createTestEventV2({ path: '/auth/me', token }));

async function signUp(email: string): Promise<{ id: string; access: string; refresh: string }> {
  expect((await invoke(register, post('/auth/register', { email, password }))).status).toBe(201);
  const pair = await invoke(login, post('/auth/login', { email, password }));
  const profile = await whoAmI(pair.body.access_token);
  return { id: profile.body.id, access: pair.body.access_token, refresh: pair.body.refresh_token };
}

/** A refresh token as the code before key ids minted it (no kid header), and its row. */
async function legacyRefreshToken(userId: string, secret: string): Promise<string> {
  const jti = randomUUID();
  const family = randomUUID();
  const token = jwt.sign({ fam: family, type: 'refresh' }, secret, {
    algorithm: 'HS256',
    header: { alg: 'HS256', typ: 'rt+jwt' },
    subject: userId,
    jwtid: jti,
    issuer: 'secure-upload-api',
    audience: 'secure-upload-api',
    expiresIn: 3600,
  });
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const expires = new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  await getDb().run(
    'INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    jti,
    userId,
    family,
    hashToken(token),
    expires,
    now,
  );
  return token;
}

describe('refresh tokens without kid (minted before key ids)', () => {
  it('verify with the current secret and get a session through the legacy path: nobody is logged out by the upgrade', async () => {
    const user = await signUp('legacy@example.com');
    const token = await legacyRefreshToken(user.id, process.env.JWT_SECRET ?? '');
    expect(jwt.decode(token, { complete: true })?.header.kid).toBeUndefined();
    const rotated = await invoke(refresh, post('/auth/refresh', { refresh_token: token }));
    expect(rotated.status).toBe(200);
    expect(jwt.decode(rotated.body.access_token, { complete: true })?.header.kid).toBe(keyIdOf(process.env.JWT_SECRET ?? ''));
    expect((await whoAmI(rotated.body.access_token)).status).toBe(200);
    // One-time use as ever: the legacy token is spent, and its replay ends the new session.
    expect((await invoke(refresh, post('/auth/refresh', { refresh_token: token }))).status).toBe(401);
    expect((await whoAmI(rotated.body.access_token)).status).toBe(401);
  });

  it('are refused when only the previous secret verifies them, and access tokens without kid stay refused', async () => {
    const user = await signUp('legacy-old@example.com');
    const old = await legacyRefreshToken(user.id, previousSecret);
    expect((await invoke(refresh, post('/auth/refresh', { refresh_token: old }))).status).toBe(401);

    const { sid, sub } = jwt.decode(user.access) as { sid: string; sub: string };
    const access = jwt.sign({ type: 'access', sid }, process.env.JWT_SECRET ?? '', {
      algorithm: 'HS256',
      header: { alg: 'HS256', typ: 'at+jwt' },
      subject: sub,
      jwtid: randomUUID(),
      issuer: 'secure-upload-api',
      audience: 'secure-upload-api',
      expiresIn: 600,
    });
    const refused = await whoAmI(access);
    expect([refused.status, refused.body.detail]).toEqual([401, 'Could not validate credentials']);
  });
});

describe('the scheduled sweep', () => {
  const count = async (sql: string, ...params: SqlValue[]): Promise<number> => Number((await getDb().get<{ n: unknown }>(sql, ...params))?.n);

  it('deletes sessions ended or expired over a day ago with their refresh tokens, and old account tokens; live ones stay', async () => {
    process.env.MAIL_TRANSPORT = 'outbox'; // so register issues a verification token
    await resetRuntime();
    const quiet = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      await signUp('sweep-live@example.com'); // its verification token lives 24 h
      const ended = await signUp('sweep-ended@example.com');
      expect((await invoke(logout, post('/auth/logout', { refresh_token: ended.refresh }))).status).toBe(204);
    } finally {
      quiet.mockRestore();
      process.env.MAIL_TRANSPORT = 'off';
      await resetRuntime();
    }
    const endedSessions = await count('SELECT COUNT(*) AS n FROM sessions WHERE ended_at IS NOT NULL');
    expect(endedSessions).toBeGreaterThan(0);
    expect(await count('SELECT COUNT(*) AS n FROM account_tokens')).toBeGreaterThan(0);

    // Now: everything ended less than a day ago stays.
    const today = await runScheduledSweep();
    expect(today).toMatchObject({ sessionRows: 0, accountTokens: 0 });

    // Two days on: the ended sessions (and their tokens) and the expired verification tokens go.
    const later = await runScheduledSweep(new Date(Date.now() + 2 * 86_400_000 + 60_000));
    expect(later.sessionRows).toBeGreaterThanOrEqual(2 * endedSessions);
    expect(later.accountTokens).toBeGreaterThan(0);
    expect(await count('SELECT COUNT(*) AS n FROM sessions WHERE ended_at IS NOT NULL')).toBe(0);
    expect(await count('SELECT COUNT(*) AS n FROM refresh_tokens WHERE revoked = 1 AND family_id NOT IN (SELECT id FROM sessions)')).toBe(0);
    expect(await count('SELECT COUNT(*) AS n FROM account_tokens')).toBe(0);
    // Live sessions (30 days) stay, and still work.
    const live = await count("SELECT COUNT(*) AS n FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = 'sweep-live@example.com'");
    expect(live).toBe(1);

    // Past their expiry plus a day, even live sessions' rows go.
    const muchLater = await runScheduledSweep(new Date(Date.now() + 32 * 86_400_000));
    expect(muchLater.sessionRows).toBeGreaterThan(0);
    expect(await count('SELECT COUNT(*) AS n FROM sessions')).toBe(0);
    expect(await count('SELECT COUNT(*) AS n FROM refresh_tokens')).toBe(0);
  });

  it('runs as the scheduled function', async () => {
    await expect(sweepHandler({}, lambdaContext('sweep'))).resolves.toEqual({ removed: 0 });
  });
});
