import { createHash, randomUUID } from 'node:crypto';
import { getConfig } from '../config';
import { getDb, type Queryable } from '../db/connection';
import { unauthorized } from '../http/errors';
import { recordAuditEvent } from '../audit';
import { logger } from '../logger';
import type { RequestOrigin } from '../request-origin';
import { isoSeconds } from '../time';
import { getSigningKey, type SigningKey } from './signing-key';
import { signToken, verifyToken } from './tokens';
import { endSessionInTransaction, recordSessionUseInTransaction, startSessionInTransaction, type ClientInfo } from '../sessions';

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
  /** Null for a family minted by code older than sessions (a container still running it). */
  session_id: string | null;
  session_ended_at: string | null;
}

/** Refresh tokens are stored only as SHA-256 hashes: a database leak yields no usable token. */
export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

const INSERT_REFRESH = `INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at, created_at)
  VALUES (?, ?, ?, ?, ?, ?)`;

/**
 * Signs a pair for a session and records the refresh token. Call inside the caller's
 * transaction. The access token's `sid` is the family, so ending the session ends it.
 */
async function mintPair(tx: Queryable, key: SigningKey, userId: string, familyId: string): Promise<{ pair: TokenPair; refreshExpiresAt: string }> {
  const access = signToken(key, 'access', userId, { sid: familyId });
  const refresh = signToken(key, 'refresh', userId, { fam: familyId });
  const refreshExpiresAt = isoSeconds(refresh.expiresAt);
  await tx.run(INSERT_REFRESH, refresh.jti, userId, familyId, hashToken(refresh.token), refreshExpiresAt, isoSeconds());
  const pair: TokenPair = {
    access_token: access.token,
    refresh_token: refresh.token,
    token_type: 'bearer',
    expires_in: getConfig().jwt.accessTtlSeconds,
  };
  return { pair, refreshExpiresAt };
}

/** A login: a new session, i.e. a fresh family, recorded with the client it came from. */
export async function issueTokenPair(userId: string, client: ClientInfo = {}): Promise<TokenPair> {
  const key = await getSigningKey();
  const familyId = randomUUID();
  return getDb().transaction(async (tx) => {
    const minted = await mintPair(tx, key, userId, familyId);
    await startSessionInTransaction(tx, { id: familyId, userId, expiresAt: minted.refreshExpiresAt, client });
    return minted.pair;
  });
}

/**
 * Exchanges a refresh token for a new pair, once; the session goes on (same `sid`), so its
 * earlier access tokens stay valid until they expire. The read-check-write runs as one
 * `BEGIN IMMEDIATE` transaction, so of several racing requests with the same token exactly one
 * mints a successor. Presenting a token that was already rotated is treated as theft (OAuth 2.0
 * Security BCP): the whole family is revoked and its session ended, unless it happens within
 * `REFRESH_REUSE_GRACE_SECONDS` of the rotation (racing browser tabs), which is a plain 401.
 */
export async function rotateRefreshToken(token: string, origin: RequestOrigin): Promise<TokenPair> {
  const client: ClientInfo = origin;
  const key = await getSigningKey();
  const claims = await verifyToken(token, 'refresh');
  const grace = getConfig().jwt.refreshReuseGraceSeconds;

  const result = await getDb().transaction(async (tx) => {
    const row = await tx.get<RefreshRow>(
      `SELECT r.id, r.user_id, r.family_id, r.revoked, r.rotated_at, r.expires_at, s.id AS session_id, s.ended_at AS session_ended_at
         FROM refresh_tokens r LEFT JOIN sessions s ON s.id = r.family_id
        WHERE r.token_hash = ?`,
      hashToken(token),
    );
    if (!row || row.id !== claims.jti || row.user_id !== claims.sub) return { outcome: 'unknown' as const };
    if (row.rotated_at !== null) {
      const since = (Date.now() - Date.parse(row.rotated_at)) / 1000;
      if (since <= grace) return { outcome: 'raced' as const };
      await endSessionInTransaction(tx, row.family_id);
      return { outcome: 'reused' as const, row };
    }
    if (row.revoked || row.session_ended_at !== null || row.expires_at <= isoSeconds()) return { outcome: 'revoked' as const };
    await tx.run('UPDATE refresh_tokens SET revoked = 1, rotated_at = ? WHERE id = ?', isoSeconds(), row.id);
    const minted = await mintPair(tx, key, row.user_id, row.family_id);
    if (row.session_id === null) {
      await startSessionInTransaction(tx, { id: row.family_id, userId: row.user_id, expiresAt: minted.refreshExpiresAt, client });
    } else {
      await recordSessionUseInTransaction(tx, row.family_id, minted.refreshExpiresAt, client);
    }
    return { outcome: 'rotated' as const, pair: minted.pair };
  });

  if (result.outcome === 'rotated') return result.pair;
  if (result.outcome === 'reused') {
    logger.warn('Refresh token reuse detected; family revoked and session ended', { userId: result.row.user_id, familyId: result.row.family_id });
    await recordAuditEvent({ type: 'auth.refresh.reused', userId: result.row.user_id, details: { session_id: result.row.family_id } }, origin);
  }
  throw unauthorized('Could not validate credentials', 'invalid_token');
}

/**
 * Logout: ends the session the token belongs to (its whole family, so no earlier or later
 * rotation of it survives, and its access tokens stop working at once). Says nothing about
 * whether the token was known, valid or already revoked; an expired or otherwise unverifiable
 * token still ends its session.
 */
export async function revokeRefreshToken(token: string, origin: RequestOrigin): Promise<void> {
  const session = await getDb().transaction(async (tx) => {
    const row = await tx.get<{ user_id: string; family_id: string }>('SELECT user_id, family_id FROM refresh_tokens WHERE token_hash = ?', hashToken(token));
    return row && (await endSessionInTransaction(tx, row.family_id)) ? row : undefined;
  });
  // Only a logout that ended a live session is an event; the answer is the same 204 either way.
  if (session) await recordAuditEvent({ type: 'auth.logout', userId: session.user_id, details: { session_id: session.family_id } }, origin);
}
