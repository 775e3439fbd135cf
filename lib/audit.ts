import { randomUUID } from 'node:crypto';
import { getConfig } from './config';
import { getDb } from './db/connection';
import { HttpError } from './http/errors';
import { logger } from './logger';
import type { RequestOrigin } from './request-origin';
import { isoSeconds } from './time';

/** The security events SPEC names; features add theirs here as they arrive. */
export type AuditEventType =
  | 'user.registered'
  | 'user.deleted'
  | 'auth.login.succeeded'
  | 'auth.login.failed'
  | 'auth.refresh.reused'
  | 'auth.logout'
  | 'auth.session.revoked'
  | 'auth.password.changed'
  | 'auth.password.reset'
  | 'auth.email.verified'
  | 'auth.mfa.enabled'
  | 'auth.mfa.disabled'
  | 'file.uploaded'
  | 'file.deleted'
  | 'file.infected'
  | 'share.created'
  | 'share.revoked'
  | 'share.downloaded';

export type AuditDetails = Readonly<Record<string, string | number | boolean | null>>;

export interface AuditEventInput {
  readonly type: AuditEventType;
  /** The account it concerns, when there is one (a failed login for an unknown email has none). */
  readonly userId?: string | null;
  readonly details?: AuditDetails;
}

/** An audit event as `GET /auth/events` shows it. */
export interface AuditEvent {
  readonly id: string;
  readonly at: string;
  readonly type: AuditEventType;
  readonly ip: string | null;
  readonly user_agent: string | null;
  readonly request_id: string | null;
  readonly details: AuditDetails;
}

export interface AuditPage {
  readonly events: AuditEvent[];
  readonly next_cursor: string | null;
}

/**
 * Detail names that could carry a credential. Callers never pass one; this is the net under
 * that rule, so a careless detail is dropped rather than stored and logged.
 */
const SECRET_NAME = /pass|token|secret|code|captcha|cookie|authorization|hash/i;

function safeDetails(details: AuditDetails | undefined): AuditDetails {
  const safe: Record<string, string | number | boolean | null> = {};
  for (const [name, value] of Object.entries(details ?? {})) if (!SECRET_NAME.test(name)) safe[name] = value;
  return safe;
}

/**
 * Records one security event: a row in `audit_events` and one structured log line, both with
 * the request's origin (IP, user agent, request id). Never pass a password, token, code or
 * secret in `details`.
 */
export async function recordAuditEvent(event: AuditEventInput, origin: RequestOrigin): Promise<void> {
  const row = {
    id: randomUUID(),
    user_id: event.userId ?? null,
    at: isoSeconds(),
    type: event.type,
    ip: origin.ip,
    user_agent: origin.userAgent ?? null,
    request_id: origin.requestId,
    details: safeDetails(event.details),
  };
  (await getDb().run('INSERT INTO audit_events (id, user_id, at, type, ip, user_agent, request_id, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', row.id, row.user_id, row.at, row.type, row.ip, row.user_agent, row.request_id, JSON.stringify(row.details)));
  logger.info('Audit event', { audit: row });
}

interface AuditRow {
  seq: number;
  id: string;
  at: string;
  type: AuditEventType;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  details: string;
}

/**
 * One page of the user's own events, newest first: keyset paging on insertion order, so pages
 * stay stable while events are added. The cursor is opaque to clients; a malformed one is 422.
 */
export async function listAuditEvents(userId: string, limit: number, cursor?: string): Promise<AuditPage> {
  const before = cursor === undefined ? Number.MAX_SAFE_INTEGER : decodeCursor(cursor);
  const rows = (await getDb().all(`SELECT seq, id, at, type, ip, user_agent, request_id, details FROM audit_events
      WHERE user_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?`, userId, before, limit + 1)) as AuditRow[];
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    events: page.map(({ seq: _seq, details, ...event }) => ({ ...event, details: JSON.parse(details) as AuditDetails })),
    next_cursor: rows.length > limit && last ? Buffer.from(`a1:${last.seq}`).toString('base64url') : null,
  };
}

function decodeCursor(cursor: string): number {
  const match = /^a1:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (match?.[1]) return Number(match[1]);
  throw new HttpError(422, 'The cursor is not one this API gave out', { errors: [{ pointer: '/query/cursor', detail: 'invalid cursor' }] });
}

/** Deletes events older than `AUDIT_RETENTION_DAYS`; resolves with how many. */
export async function sweepAuditEvents(now: Date = new Date()): Promise<number> {
  const cutoff = isoSeconds(new Date(now.getTime() - getConfig().auditRetentionDays * 86_400_000));
  return (await getDb().run('DELETE FROM audit_events WHERE at < ?', cutoff)).changes;
}
