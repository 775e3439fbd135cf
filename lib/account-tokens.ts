import { createHash, randomBytes } from 'node:crypto';
import { getDb, type Queryable } from './db/connection';
import { isoSeconds } from './time';

/**
 * One-time account tokens: the secret in a mailed link (verify an address, reset a password).
 * 256 random bits, base64url; only the SHA-256 is stored, so a database leak yields no usable
 * link. Each works once, until it expires. The SQL is plain (a conditional `UPDATE ...
 * RETURNING` redeems atomically in SQLite and PostgreSQL alike), behind async functions, with
 * `...InTransaction` helpers for callers that redeem and act in one transaction.
 */
export type AccountTokenPurpose = 'verify_email' | 'password_reset';

/** Bytes of randomness per token: twice the 128 bits that make guessing hopeless. */
const TOKEN_BYTES = 32;

const hash = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/** Creates a token for the user; resolves with the token itself (it exists nowhere else but in the link). */
export async function issueAccountToken(userId: string, purpose: AccountTokenPurpose, ttlSeconds: number): Promise<string> {
  const token = randomBytes(TOKEN_BYTES).toString('base64url');
  const now = Date.now();
  await getDb().run(
    'INSERT INTO account_tokens (token_hash, purpose, user_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)',
    hash(token),
    purpose,
    userId,
    isoSeconds(new Date(now)),
    isoSeconds(new Date(now + ttlSeconds * 1000)),
  );
  return token;
}

/**
 * The user a live, unused token of this purpose belongs to, without using it up (a cheap check
 * before expensive work such as hashing a new password); undefined for anything else.
 */
export async function peekAccountToken(token: string, purpose: AccountTokenPurpose): Promise<string | undefined> {
  const row = await getDb().get<{ user_id: string }>(
    'SELECT user_id FROM account_tokens WHERE token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?',
    hash(token),
    purpose,
    isoSeconds(),
  );
  return row?.user_id;
}

/**
 * Uses a token up: the user it belongs to, if it was live and unused; undefined for an unknown,
 * used or expired one. One conditional UPDATE, so of racing redemptions exactly one wins.
 */
export async function redeemAccountTokenInTransaction(tx: Queryable, token: string, purpose: AccountTokenPurpose): Promise<string | undefined> {
  const now = isoSeconds();
  const row = await tx.get<{ user_id: string }>(
    `UPDATE account_tokens SET used_at = ? WHERE token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ? RETURNING user_id`,
    now,
    hash(token),
    purpose,
    now,
  );
  return row?.user_id;
}

/** Uses up every other live token of the user for this purpose (after a reset, a change, a verification). */
export async function retireAccountTokensInTransaction(tx: Queryable, userId: string, purpose: AccountTokenPurpose): Promise<void> {
  await tx.run('UPDATE account_tokens SET used_at = ? WHERE user_id = ? AND purpose = ? AND used_at IS NULL', isoSeconds(), userId, purpose);
}

/** How long used and expired tokens are kept (for looking into an incident) before the sweep deletes them. */
export const ACCOUNT_TOKEN_KEEP_MS = 86_400_000;

/** Deletes tokens used or expired more than a day before `now`; resolves with how many. */
export async function sweepAccountTokens(now: Date = new Date()): Promise<number> {
  const cutoff = isoSeconds(new Date(now.getTime() - ACCOUNT_TOKEN_KEEP_MS));
  return (await getDb().run('DELETE FROM account_tokens WHERE used_at < ? OR expires_at < ?', cutoff, cutoff)).changes;
}
