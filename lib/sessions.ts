import { getDb, type Queryable } from './db/connection';
import { recordAuditEvent } from './audit';
import { HttpError } from './http/errors';
import type { RequestOrigin } from './request-origin';
import { isoSeconds } from './time';

/**
 * Sessions: one per login, i.e. per refresh-token family (the session id is the family id and
 * the `sid` claim of its access tokens). A session ends on logout, on revocation, or when a
 * rotated refresh token of its family is replayed; an ended session's refresh tokens are
 * revoked and its access tokens refused at once (the bearer check joins `sessions`).
 *
 * The async functions are the repository interface handlers reach through; the `...InTransaction`
 * helpers run inside the caller's refresh-token transaction (lib/auth/refresh-tokens.ts).
 */

/** Where a login or refresh came from, as the request says. */
export interface ClientInfo {
  readonly ip?: string | undefined;
  readonly userAgent?: string | undefined;
}

/** One live session, as `GET /auth/sessions` lists it. */
export interface SessionView {
  readonly id: string;
  readonly created_at: string;
  readonly last_used_at: string;
  readonly ip: string | null;
  readonly user_agent: string | null;
  /** The session of the access token that asked. */
  readonly current: boolean;
}

/** A list this long is already a sign of abuse; it stays far below Lambda's 6 MB response. */
export const MAX_LISTED_SESSIONS = 1000;
const MAX_USER_AGENT_CHARS = 256;
const MAX_IP_CHARS = 64;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** At most `max` code points (never half a surrogate pair), without control characters. */
function clip(value: string | undefined, max: number): string | null {
  if (!value) return null;
  const clean = Array.from(value.replace(CONTROL, '')).slice(0, max).join('').trim();
  return clean || null;
}

const clientColumns = (client: ClientInfo) => [clip(client.ip, MAX_IP_CHARS), clip(client.userAgent, MAX_USER_AGENT_CHARS)] as const;

/** Records a new session (a login, or a family minted before sessions existed). */
export async function startSessionInTransaction(
  tx: Queryable,
  session: { readonly id: string; readonly userId: string; readonly expiresAt: string; readonly client: ClientInfo },
): Promise<void> {
  const now = isoSeconds();
  await tx.run(
    'INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, ip, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?)',
    session.id,
    session.userId,
    now,
    now,
    session.expiresAt,
    ...clientColumns(session.client),
  );
}

/** A refresh: the session goes on, now used last from this client, until the new refresh token expires. */
export async function recordSessionUseInTransaction(tx: Queryable, id: string, expiresAt: string, client: ClientInfo): Promise<void> {
  await tx.run(
    'UPDATE sessions SET last_used_at = ?, expires_at = ?, ip = ?, user_agent = ? WHERE id = ?',
    isoSeconds(),
    expiresAt,
    ...clientColumns(client),
    id,
  );
}

/** Ends a session and revokes every refresh token of its family. */
/** @returns whether a live session ended (false: unknown, or already over). */
export async function endSessionInTransaction(tx: Queryable, id: string): Promise<boolean> {
  const revoked = (await tx.run('UPDATE refresh_tokens SET revoked = 1 WHERE family_id = ? AND revoked = 0', id)).changes;
  const ended = (await tx.run('UPDATE sessions SET ended_at = ? WHERE id = ? AND ended_at IS NULL', isoSeconds(), id)).changes;
  return ended > 0 || revoked > 0;
}

/** The user's live sessions, newest first (at most {@link MAX_LISTED_SESSIONS}). */
export async function listSessions(userId: string, currentSessionId: string): Promise<SessionView[]> {
  // rowid: insertion order, the tie-break within one second (an explicit column on PostgreSQL).
  const rows = await getDb().all<Omit<SessionView, 'current'>>(
    `SELECT id, created_at, last_used_at, ip, user_agent FROM sessions
      WHERE user_id = ? AND ended_at IS NULL AND expires_at > ?
      ORDER BY created_at DESC, rowid DESC LIMIT ${MAX_LISTED_SESSIONS}`,
    userId,
    isoSeconds(),
  );
  return rows.map((row) => ({ ...row, current: row.id === currentSessionId }));
}

/**
 * Ends one of the user's live sessions. Someone else's, an unknown, an already ended and a
 * malformed id are all the same 404: the answer never tells whose a session is.
 */
export async function endSession(userId: string, sessionId: string, origin: RequestOrigin): Promise<void> {
  const ended =
    UUID.test(sessionId) &&
    (await getDb().transaction(async (tx) => {
      const live = await tx.get('SELECT 1 AS live FROM sessions WHERE id = ? AND user_id = ? AND ended_at IS NULL AND expires_at > ?', sessionId, userId, isoSeconds());
      if (live) await endSessionInTransaction(tx, sessionId);
      return live !== undefined;
    }));
  if (!ended) throw new HttpError(404, 'Session not found');
  await recordAuditEvent({ type: 'auth.session.revoked', userId, details: { session_id: sessionId } }, origin);
}

/** Ends every session of the user, the caller's own included. */
export async function endAllSessions(userId: string, origin: RequestOrigin): Promise<void> {
  const ended = await getDb().transaction((tx) => endUserSessionsInTransaction(tx, userId));
  await recordAuditEvent({ type: 'auth.logout', userId, details: { all_sessions: true, sessions_ended: ended } }, origin);
}

/**
 * Ends every session of the user except `keepSessionId` (a password change keeps the session
 * that made it; a reset, which has none, keeps nothing).
 */
export async function endUserSessionsInTransaction(tx: Queryable, userId: string, keepSessionId?: string): Promise<number> {
  const keep = keepSessionId ?? '';
  await tx.run('UPDATE refresh_tokens SET revoked = 1 WHERE user_id = ? AND revoked = 0 AND family_id <> ?', userId, keep);
  return (await tx.run('UPDATE sessions SET ended_at = ? WHERE user_id = ? AND ended_at IS NULL AND id <> ?', isoSeconds(), userId, keep)).changes;
}

/** How long ended and expired sessions stay listed in the database (not to clients) before the sweep deletes them. */
export const ENDED_SESSION_KEEP_MS = 86_400_000;

/**
 * Deletes sessions that ended or expired more than a day before `now`, with their refresh
 * tokens, and refresh tokens that expired more than a day ago (an expired token fails its JWT
 * check first; a rotated one only matters for reuse detection while it could still verify).
 * Resolves with how many rows went.
 */
export async function sweepEndedSessions(now: Date = new Date()): Promise<number> {
  const cutoff = isoSeconds(new Date(now.getTime() - ENDED_SESSION_KEEP_MS));
  return getDb().transaction(async (tx) => {
    const over = 'SELECT id FROM sessions WHERE ended_at < ? OR expires_at < ?';
    const tokens = (await tx.run(`DELETE FROM refresh_tokens WHERE expires_at < ? OR family_id IN (${over})`, cutoff, cutoff, cutoff)).changes;
    const sessions = (await tx.run('DELETE FROM sessions WHERE ended_at < ? OR expires_at < ?', cutoff, cutoff)).changes;
    return tokens + sessions;
  });
}
