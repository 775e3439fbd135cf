import { createHash, randomUUID } from 'node:crypto';
import { getConfig } from '../config';
import { getDb, statement } from '../db/connection';
import { unauthorized } from '../http/errors';
import { recordAuditEvent } from '../audit';
import { logger } from '../logger';
import type { RequestOrigin } from '../request-origin';
import { isoSeconds } from '../time';
import { getSigningKey } from './signing-key';
import { signToken, verifyToken } from './tokens';

/** The seed's token response. */
export interface TokenPair {
  readonly access_token: string;
  readonly refresh_token: string;
  readonly token_type: 'bearer';
  readonly expires_in: number;
}

interface RefreshRow {
  id: string;
  user_id: string;
  family_id: string;
  revoked: number;
  rotated_at: string | null;
  expires_at: string;
}

/** Refresh tokens are stored only as SHA-256 hashes: a database leak yields no usable token. */
export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

const INSERT_REFRESH = `INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at, created_at)
  VALUES (?, ?, ?, ?, ?, ?)`;

/** Signs a pair and records the refresh token. Call inside the caller's transaction, if any. */
function mintPair(key: Awaited<ReturnType<typeof getSigningKey>>, userId: string, familyId: string) {
  const access = signToken(key, 'access', userId);
  const refresh = signToken(key, 'refresh', userId, { fam: familyId });
  statement(getDb(), INSERT_REFRESH).run(
    refresh.jti,
    userId,
    familyId,
    hashToken(refresh.token),
    isoSeconds(refresh.expiresAt),
    isoSeconds(),
  );
  const pair: TokenPair = {
    access_token: access.token,
    refresh_token: refresh.token,
    token_type: 'bearer',
    expires_in: getConfig().jwt.accessTtlSeconds,
  };
  return { pair, refreshJti: refresh.jti };
}

/** A new session (login): a fresh family. */
export async function issueTokenPair(userId: string): Promise<TokenPair> {
  const key = await getSigningKey();
  return mintPair(key, userId, randomUUID()).pair;
}

/**
 * Exchanges a refresh token for a new pair, once. The read-check-write runs as one
 * `BEGIN IMMEDIATE` transaction, so of several racing requests with the same token exactly one
 * mints a successor. Presenting a token that was already rotated is treated as theft (OAuth 2.0
 * Security BCP): the whole family is revoked, unless it happens within
 * `REFRESH_REUSE_GRACE_SECONDS` of the rotation (racing browser tabs), which is a plain 401.
 */
export async function rotateRefreshToken(token: string, origin: RequestOrigin): Promise<TokenPair> {
  const key = await getSigningKey();
  const claims = verifyToken(key, token, 'refresh');
  const db = getDb();
  const grace = getConfig().jwt.refreshReuseGraceSeconds;

  const rotate = db.transaction(() => {
    const row = statement(
      db,
      'SELECT id, user_id, family_id, revoked, rotated_at, expires_at FROM refresh_tokens WHERE token_hash = ?',
    ).get(hashToken(token)) as RefreshRow | undefined;
    if (!row || row.id !== claims.jti || row.user_id !== claims.sub) return { outcome: 'unknown' as const };
    if (row.rotated_at !== null) {
      const since = (Date.now() - Date.parse(row.rotated_at)) / 1000;
      if (since <= grace) return { outcome: 'raced' as const };
      statement(db, 'UPDATE refresh_tokens SET revoked = 1 WHERE family_id = ?').run(row.family_id);
      return { outcome: 'reused' as const, row };
    }
    if (row.revoked || row.expires_at <= isoSeconds()) return { outcome: 'revoked' as const };
    statement(db, 'UPDATE refresh_tokens SET revoked = 1, rotated_at = ? WHERE id = ?').run(isoSeconds(), row.id);
    return { outcome: 'rotated' as const, pair: mintPair(key, row.user_id, row.family_id).pair };
  });

  const result = rotate.immediate();
  if (result.outcome === 'rotated') return result.pair;
  if (result.outcome === 'reused') {
    logger.warn('Refresh token reuse detected; family revoked', { userId: result.row.user_id, familyId: result.row.family_id });
    await recordAuditEvent({ type: 'auth.refresh.reused', userId: result.row.user_id, details: { session_id: result.row.family_id } }, origin);
  }
  throw unauthorized('Could not validate credentials', 'invalid_token');
}

/**
 * Logout: revokes the session the token belongs to (its whole family, so no earlier or later
 * rotation of it survives). Says nothing about whether the token was known, valid or already
 * revoked; an expired or otherwise unverifiable token still ends its session.
 */
export async function revokeRefreshToken(token: string, origin: RequestOrigin): Promise<void> {
  const ended = statement(
    getDb(),
    `UPDATE refresh_tokens SET revoked = 1
      WHERE revoked = 0 AND family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = ?)
      RETURNING user_id, family_id`,
  ).all(hashToken(token)) as Array<{ user_id: string; family_id: string }>;
  const session = ended[0];
  // Only a logout that ended a live session is an event; the answer is the same 204 either way.
  if (session) await recordAuditEvent({ type: 'auth.logout', userId: session.user_id, details: { session_id: session.family_id } }, origin);
}
