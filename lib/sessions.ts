import type { Database } from 'better-sqlite3';
import { getDb, statement } from './db/connection';
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
export function startSessionInTransaction(
  db: Database,
  session: { readonly id: string; readonly userId: string; readonly expiresAt: string; readonly client: ClientInfo },
): void {
  const now = isoSeconds();
  statement(
    db,
    'INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, ip, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?)',
  ).run(session.id, session.userId, now, now, session.expiresAt, ...clientColumns(session.client));
}

/** A refresh: the session goes on, now used last from this client, until the new refresh token expires. */
export function recordSessionUseInTransaction(db: Database, id: string, expiresAt: string, client: ClientInfo): void {
  statement(db, 'UPDATE sessions SET last_used_at = ?, expires_at = ?, ip = ?, user_agent = ? WHERE id = ?').run(
    isoSeconds(),
    expiresAt,
    ...clientColumns(client),
    id,
  );
}

/** Ends a session and revokes every refresh token of its family. */
/** @returns whether a live session ended (false: unknown, or already over). */
export function endSessionInTransaction(db: Database, id: string): boolean {
  const revoked = statement(db, 'UPDATE refresh_tokens SET revoked = 1 WHERE family_id = ? AND revoked = 0').run(id).changes;
  const ended = statement(db, 'UPDATE sessions SET ended_at = ? WHERE id = ? AND ended_at IS NULL').run(isoSeconds(), id).changes;
  return ended > 0 || revoked > 0;
}

/** The user's live sessions, newest first (at most {@link MAX_LISTED_SESSIONS}). */
export async function listSessions(userId: string, currentSessionId: string): Promise<SessionView[]> {
  const rows = statement(
    getDb(),
    `SELECT id, created_at, last_used_at, ip, user_agent FROM sessions
      WHERE user_id = ? AND ended_at IS NULL AND expires_at > ?
      ORDER BY created_at DESC, rowid DESC LIMIT ${MAX_LISTED_SESSIONS}`,
  ).all(userId, isoSeconds()) as Array<Omit<SessionView, 'current'>>;
  return rows.map((row) => ({ ...row, current: row.id === currentSessionId }));
}

/**
 * Ends one of the user's live sessions. Someone else's, an unknown, an already ended and a
 * malformed id are all the same 404: the answer never tells whose a session is.
 */
export async function endSession(userId: string, sessionId: string, origin: RequestOrigin): Promise<void> {
  const db = getDb();
  const ended =
    UUID.test(sessionId) &&
    db
      .transaction(() => {
        const live = statement(db, 'SELECT 1 FROM sessions WHERE id = ? AND user_id = ? AND ended_at IS NULL AND expires_at > ?').get(
          sessionId,
          userId,
          isoSeconds(),
        );
        if (live) endSessionInTransaction(db, sessionId);
        return live !== undefined;
      })
      .immediate();
  if (!ended) throw new HttpError(404, 'Session not found');
  await recordAuditEvent({ type: 'auth.session.revoked', userId, details: { session_id: sessionId } }, origin);
}

/** Ends every session of the user, the caller's own included. */
export async function endAllSessions(userId: string, origin: RequestOrigin): Promise<void> {
  const db = getDb();
  const ended = db.transaction(() => endUserSessionsInTransaction(db, userId)).immediate();
  await recordAuditEvent({ type: 'auth.logout', userId, details: { all_sessions: true, sessions_ended: ended } }, origin);
}

/**
 * Ends every session of the user except `keepSessionId` (a password change keeps the session
 * that made it; a reset, which has none, keeps nothing).
 */
export function endUserSessionsInTransaction(db: Database, userId: string, keepSessionId?: string): number {
  const keep = keepSessionId ?? '';
  statement(db, 'UPDATE refresh_tokens SET revoked = 1 WHERE user_id = ? AND revoked = 0 AND family_id <> ?').run(userId, keep);
  return statement(db, 'UPDATE sessions SET ended_at = ? WHERE user_id = ? AND ended_at IS NULL AND id <> ?').run(isoSeconds(), userId, keep).changes;
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
  const db = getDb();
  const cutoff = isoSeconds(new Date(now.getTime() - ENDED_SESSION_KEEP_MS));
  return db
    .transaction(() => {
      const over = 'SELECT id FROM sessions WHERE ended_at < ? OR expires_at < ?';
      const tokens =
        statement(db, `DELETE FROM refresh_tokens WHERE expires_at < ? OR family_id IN (${over})`).run(cutoff, cutoff, cutoff).changes;
      const sessions = statement(db, 'DELETE FROM sessions WHERE ended_at < ? OR expires_at < ?').run(cutoff, cutoff).changes;
      return tokens + sessions;
    })
    .immediate();
}
