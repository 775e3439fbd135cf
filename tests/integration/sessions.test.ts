import { randomUUID } from 'node:crypto';
import BetterSqlite3 from 'better-sqlite3';
import jwt from 'jsonwebtoken';
import { handler as login } from '../../functions/auth-login';
import { handler as logoutAll } from '../../functions/auth-logout-all';
import { handler as logout } from '../../functions/auth-logout';
import { handler as me } from '../../functions/auth-me';
import { handler as refresh } from '../../functions/auth-refresh';
import { handler as register } from '../../functions/auth-register';
import { handler as deleteSession } from '../../functions/auth-sessions-delete';
import { handler as listSessions } from '../../functions/auth-sessions-list';
import { handler as listFiles } from '../../functions/files-list';
import { keyIdOf } from '../../lib/auth/signing-key';
import { createTestEventV2, invoke, type InvokeResult } from '../helpers/events';
import { getDb } from '../../lib/db/connection';
import { resetRuntime, testDialect, useFreshDatabase } from '../helpers/runtime';

beforeAll(async () => {
  await useFreshDatabase();
  // Every request here comes from one address (CLIENT_IP): more sign-ups than one address may make.
  process.env.REGISTER_MAX_PER_IP = '1000';
  await resetRuntime();
});
afterAll(async () => {
  delete process.env.REGISTER_MAX_PER_IP;
  await resetRuntime();
});

/**
 * Something that changes whenever a write to this suite's database commits, and only then.
 * SQLite: `data_version`, which moves whenever another connection commits to the file.
 * PostgreSQL: every row's `xmin` (the transaction that wrote it), table by table: an insert or
 * delete changes the set, an update changes the row's xmin even if it writes the same values.
 */
async function writeMarker(): Promise<{ read(): Promise<unknown>; close(): void }> {
  if (testDialect() === 'sqlite') {
    const observer = new BetterSqlite3(String(process.env.DATABASE_URL).slice('sqlite:///'.length), { readonly: true });
    return { read: async () => observer.pragma('data_version', { simple: true }), close: () => observer.close() };
  }
  const db = getDb();
  const tables = await db.all<{ name: string }>("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name");
  expect(tables.map((table) => table.name)).toEqual(expect.arrayContaining(['sessions', 'refresh_tokens', 'audit_events']));
  const read = async () =>
    Object.fromEntries(
      await Promise.all(
        tables.map(async ({ name }) => [name, (await db.all<{ x: string }>(`SELECT xmin::text AS x FROM "${name}" ORDER BY 1`)).map((row) => row.x)] as const),
      ),
    );
  return { read, close: () => undefined };
}

const password = 'SecurePassword123!';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ISO_SECONDS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

interface Pair {
  readonly access_token: string;
  readonly refresh_token: string;
}

/** Every request of this suite comes from one address, the one sessions record. */
const CLIENT_IP = '203.0.113.7';
const post = (path: string, json: unknown, headers: Record<string, string> = {}) => createTestEventV2({ method: 'POST', path, json, headers, sourceIp: CLIENT_IP });
const sidOf = (token: string) => (jwt.decode(token) as { sid?: string } | null)?.sid;

async function signUp(email: string): Promise<void> {
  expect((await invoke(register, post('/auth/register', { email, password }))).status).toBe(201);
}

async function logIn(email: string, userAgent = 'jest'): Promise<Pair> {
  const result = await invoke(login, post('/auth/login', { email, password }, { 'user-agent': userAgent }));
  expect(result.status).toBe(200);
  return result.body as Pair;
}

const whoAmI = (token: string) => invoke(me, createTestEventV2({ path: '/auth/me', token }));
const sessionsOf = (token: string) => invoke(listSessions, createTestEventV2({ path: '/auth/sessions', token }));
const endOne = (token: string, id: string) =>
  invoke(
    deleteSession,
    createTestEventV2({ method: 'DELETE', path: `/auth/sessions/${id}`, routeKey: 'DELETE /auth/sessions/{id}', pathParameters: { id }, token }),
  );
const refreshWith = (token: string, headers: Record<string, string> = {}) => invoke(refresh, post('/auth/refresh', { refresh_token: token }, headers));

function expectDead(result: InvokeResult): void {
  expect([result.status, result.body.detail]).toEqual([401, 'Could not validate credentials']);
  expect(result.headers['www-authenticate']).toMatch(/^Bearer error="invalid_token"/);
}

function expectNotFound(result: InvokeResult): void {
  expect(result.status).toBe(404);
  expect(result.headers['content-type']).toBe('application/problem+json');
  expect(result.body).toMatchObject({ status: 404, detail: 'Session not found' });
}

describe('a session is one login', () => {
  it('access tokens carry the session as sid; a refresh keeps it, and the older access token works until it expires', async () => {
    await signUp('keep@example.com');
    const first = await logIn('keep@example.com');
    const sid = sidOf(first.access_token);
    expect(sid).toMatch(UUID);
    expect(jwt.decode(first.access_token, { complete: true })?.header.kid).toBe(keyIdOf(process.env.JWT_SECRET ?? ''));

    const rotated = await refreshWith(first.refresh_token);
    expect(rotated.status).toBe(200);
    expect(sidOf(rotated.body.access_token)).toBe(sid);
    expect((await whoAmI(first.access_token)).status).toBe(200);
    expect((await whoAmI(rotated.body.access_token)).status).toBe(200);

    const other = await logIn('keep@example.com');
    expect(sidOf(other.access_token)).not.toBe(sid);
  });

  it('logout ends the session: its access tokens are refused at once, on every route', async () => {
    await signUp('logout@example.com');
    const session = await logIn('logout@example.com');
    const rotated = (await refreshWith(session.refresh_token)).body as Pair;
    const survivor = await logIn('logout@example.com');
    expect((await whoAmI(session.access_token)).status).toBe(200);

    expect((await invoke(logout, post('/auth/logout', { refresh_token: rotated.refresh_token }))).status).toBe(204);
    expectDead(await whoAmI(session.access_token));
    expectDead(await whoAmI(rotated.access_token));
    expectDead(await invoke(listFiles, createTestEventV2({ path: '/files', token: rotated.access_token })));
    expectDead(await refreshWith(rotated.refresh_token));
    // The user's other session is untouched.
    expect((await whoAmI(survivor.access_token)).status).toBe(200);
  });

  it('replaying a rotated refresh token ends the session: its access tokens, old and new, die', async () => {
    await signUp('reuse@example.com');
    const stolen = await logIn('reuse@example.com');
    const rotated = (await refreshWith(stolen.refresh_token)).body as Pair;
    expect((await whoAmI(rotated.access_token)).status).toBe(200);

    expectDead(await refreshWith(stolen.refresh_token));
    expectDead(await whoAmI(stolen.access_token));
    expectDead(await whoAmI(rotated.access_token));
    expectDead(await refreshWith(rotated.refresh_token));
  });

  it('an access token without sid (minted before sessions) is refused', async () => {
    await signUp('nosid@example.com');
    const { access_token } = await logIn('nosid@example.com');
    const { sid: _sid, iat: _iat, exp: _exp, ...claims } = jwt.decode(access_token) as Record<string, unknown>;
    const secret = process.env.JWT_SECRET ?? '';
    const legacy = jwt.sign(claims, secret, { header: { alg: 'HS256', typ: 'at+jwt', kid: keyIdOf(secret) }, expiresIn: 60 });
    expectDead(await whoAmI(legacy));
  });

  it('ordinary requests write nothing: last_used_at moves only on login and refresh', async () => {
    await signUp('quiet@example.com');
    const session = await logIn('quiet@example.com');
    const observer = await writeMarker();
    try {
      const version = await observer.read();
      for (let i = 0; i < 3; i += 1) expect((await whoAmI(session.access_token)).status).toBe(200);
      expect((await sessionsOf(session.access_token)).status).toBe(200);
      expect(await observer.read()).toEqual(version);
      await refreshWith(session.refresh_token);
      expect(await observer.read()).not.toEqual(version);
    } finally {
      observer.close();
    }
  });
});

describe('GET /auth/sessions', () => {
  it("lists the caller's live sessions only, newest first, with current: true on the caller's own", async () => {
    await signUp('list@example.com');
    await signUp('list-other@example.com');
    const laptop = await logIn('list@example.com', 'Laptop/1.0');
    const ended = await logIn('list@example.com', 'Ended/1.0');
    const phone = await logIn('list@example.com', `Phone/2.0 ${'x'.repeat(500)}\u0007`);
    const stranger = await logIn('list-other@example.com', 'Stranger/1.0');
    await invoke(logout, post('/auth/logout', { refresh_token: ended.refresh_token }));

    const result = await sessionsOf(laptop.access_token);
    expect(result.status).toBe(200);
    expect(result.headers['cache-control']).toBe('no-store');
    const { sessions } = result.body as { sessions: Array<Record<string, unknown>> };
    expect(sessions.map((session) => session.id)).toEqual([sidOf(phone.access_token), sidOf(laptop.access_token)]);
    expect(sessions[1]).toEqual({
      id: sidOf(laptop.access_token),
      created_at: expect.stringMatching(ISO_SECONDS),
      last_used_at: expect.stringMatching(ISO_SECONDS),
      ip: CLIENT_IP,
      user_agent: 'Laptop/1.0',
      current: true,
    });
    expect(sessions[0]).toMatchObject({ current: false, user_agent: `Phone/2.0 ${'x'.repeat(246)}` });
    expect(JSON.stringify(sessions)).not.toContain(String(sidOf(stranger.access_token)));

    // From the other session's point of view, it is the current one.
    const fromPhone = (await sessionsOf(phone.access_token)).body.sessions as Array<{ id: string; current: boolean }>;
    expect(fromPhone.filter((session) => session.current).map((session) => session.id)).toEqual([sidOf(phone.access_token)]);
  });

  it('a refresh moves last_used_at and records where it came from', async () => {
    await signUp('moved@example.com');
    const session = await logIn('moved@example.com', 'Old/1.0');
    const moved = await getDb().run(
      "UPDATE sessions SET created_at = '2024-01-15T10:30:00Z', last_used_at = '2024-01-15T10:30:00Z' WHERE id = ?",
      String(sidOf(session.access_token)),
    );
    expect(moved.changes).toBe(1);
    const rotated = (await refreshWith(session.refresh_token, { 'user-agent': 'New/2.0' })).body as Pair;
    const [listed] = (await sessionsOf(rotated.access_token)).body.sessions as Array<Record<string, string>>;
    expect(listed?.created_at).toBe('2024-01-15T10:30:00Z');
    expect(listed?.last_used_at).not.toBe('2024-01-15T10:30:00Z');
    expect(Date.now() - Date.parse(listed?.last_used_at ?? '')).toBeLessThan(10_000);
    expect(listed?.user_agent).toBe('New/2.0');
  });
});

describe('DELETE /auth/sessions/{id}', () => {
  it('ends that session at once and leaves the others', async () => {
    await signUp('revoke@example.com');
    const keep = await logIn('revoke@example.com');
    const lost = await logIn('revoke@example.com');
    const result = await endOne(keep.access_token, String(sidOf(lost.access_token)));
    expect(result.status).toBe(204);
    expect(result.raw.body).toBeUndefined();
    expectDead(await whoAmI(lost.access_token));
    expectDead(await refreshWith(lost.refresh_token));
    expect((await whoAmI(keep.access_token)).status).toBe(200);
    expect((await sessionsOf(keep.access_token)).body.sessions).toHaveLength(1);
    // Gone is gone: a second DELETE is a 404.
    expectNotFound(await endOne(keep.access_token, String(sidOf(lost.access_token))));
    // Its own session too: the token that asked dies with it.
    expect((await endOne(keep.access_token, String(sidOf(keep.access_token)))).status).toBe(204);
    expectDead(await whoAmI(keep.access_token));
  });

  it("answers 404 for someone else's session and leaves it alive", async () => {
    await signUp('mallory@example.com');
    await signUp('victim@example.com');
    const mallory = await logIn('mallory@example.com');
    const victim = await logIn('victim@example.com');
    expectNotFound(await endOne(mallory.access_token, String(sidOf(victim.access_token))));
    expect((await whoAmI(victim.access_token)).status).toBe(200);
    expect((await refreshWith(victim.refresh_token)).status).toBe(200);
  });

  it.each([
    ['an unknown UUID', randomUUID()],
    ['not a UUID', 'not-a-uuid'],
    ['empty', ''],
    ['SQL', "' OR 1=1 --"],
    ['very long', 'a'.repeat(5000)],
    ['unicode', '\u{1F600}\u0000'],
  ])('answers 404, not 500, for %s', async (_name, id) => {
    await signUp(`bad-${_name.replace(/\W/g, '')}@example.com`);
    const caller = await logIn(`bad-${_name.replace(/\W/g, '')}@example.com`);
    expectNotFound(await endOne(caller.access_token, id));
    expect((await whoAmI(caller.access_token)).status).toBe(200);
  });

  it('needs a bearer token', async () => {
    const result = await invoke(
      deleteSession,
      createTestEventV2({ method: 'DELETE', path: `/auth/sessions/${randomUUID()}`, routeKey: 'DELETE /auth/sessions/{id}' }),
    );
    expect([result.status, result.body.detail]).toEqual([401, 'Not authenticated']);
  });
});

describe('POST /auth/logout-all', () => {
  it("ends every session of the caller, this one included, and nobody else's", async () => {
    await signUp('all@example.com');
    await signUp('all-other@example.com');
    const sessions = [await logIn('all@example.com'), await logIn('all@example.com'), await logIn('all@example.com')];
    const rotated = (await refreshWith(sessions[1]?.refresh_token ?? '')).body as Pair;
    const other = await logIn('all-other@example.com');

    const result = await invoke(logoutAll, createTestEventV2({ method: 'POST', path: '/auth/logout-all', token: sessions[0]?.access_token ?? '' }));
    expect(result.status).toBe(204);
    for (const session of [...sessions, rotated]) {
      expectDead(await whoAmI(session.access_token));
      expectDead(await refreshWith(session.refresh_token));
    }
    expect((await whoAmI(other.access_token)).status).toBe(200);
    // Logging in again starts afresh.
    const again = await logIn('all@example.com');
    expect((await sessionsOf(again.access_token)).body.sessions).toEqual([expect.objectContaining({ id: sidOf(again.access_token), current: true })]);
  });

  it('needs a live session itself', async () => {
    const anonymous = await invoke(logoutAll, createTestEventV2({ method: 'POST', path: '/auth/logout-all' }));
    expect(anonymous.status).toBe(401);
  });
});

describe('families from before sessions', () => {
  it('a live refresh token minted by older code refreshes and becomes a session', async () => {
    await signUp('legacy@example.com');
    const session = await logIn('legacy@example.com');
    const sid = String(sidOf(session.access_token));
    // As if an older container had minted it.
    expect((await getDb().run('DELETE FROM sessions WHERE id = ?', sid)).changes).toBe(1);
    expectDead(await whoAmI(session.access_token));
    const rotated = await refreshWith(session.refresh_token);
    expect(rotated.status).toBe(200);
    expect(sidOf(rotated.body.access_token)).toBe(sid);
    expect((await whoAmI(rotated.body.access_token)).status).toBe(200);
    expect((await sessionsOf(rotated.body.access_token)).body.sessions).toEqual([expect.objectContaining({ id: sid, current: true })]);
  });
});

describe('the audit trail of sessions', () => {
  const eventsOf = (userId: string) => getDb().all<{ type: string; details: string }>('SELECT type, details FROM audit_events WHERE user_id = ? ORDER BY seq', userId);

  it('records a client whose User-Agent holds a NUL byte (PostgreSQL text cannot) without failing the login', async () => {
    await signUp('nul-agent@example.com');
    const session = await logIn('nul-agent@example.com', 'Evil\u0000Agent/1.0');
    const userId = String((jwt.decode(session.access_token) as { sub?: string }).sub);
    const logins = (await eventsOf(userId)).filter((event) => event.type === 'auth.login.succeeded');
    expect(logins).toHaveLength(1);
    const [row] = await getDb().all<{ user_agent: string }>("SELECT user_agent FROM audit_events WHERE user_id = ? AND type = 'auth.login.succeeded'", userId);
    expect(row?.user_agent).toBe('EvilAgent/1.0');
    expect((await sessionsOf(session.access_token)).body.sessions).toEqual([expect.objectContaining({ user_agent: 'EvilAgent/1.0' })]);
  });

  it('records a revoked session and a logout of every session, each with what it ended', async () => {
    await signUp('audited-sessions@example.com');
    const first = await logIn('audited-sessions@example.com');
    const second = await logIn('audited-sessions@example.com');
    const userId = String((jwt.decode(first.access_token) as { sub?: string }).sub);
    expect((await endOne(first.access_token, String(sidOf(second.access_token)))).status).toBe(204);
    // A second attempt ends nothing and records nothing.
    expect((await endOne(first.access_token, String(sidOf(second.access_token)))).status).toBe(404);
    expect((await invoke(logoutAll, createTestEventV2({ method: 'POST', path: '/auth/logout-all', token: first.access_token }))).status).toBe(204);
    const trail = (await eventsOf(userId)).filter((event) => event.type !== 'user.registered' && event.type !== 'auth.login.succeeded');
    expect(trail.map((event) => [event.type, JSON.parse(event.details)])).toEqual([
      ['auth.session.revoked', { session_id: sidOf(second.access_token) }],
      ['auth.logout', { all_sessions: true, sessions_ended: 1 }],
    ]);
  });
});
