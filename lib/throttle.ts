import { getDb, type Queryable } from './db/connection';

/**
 * Abuse-protection state: failure and attempt counters, and the CAPTCHA solutions already used.
 * It lives in the database because every Lambda container is its own process. This module is
 * the only one that touches these tables, through async functions, so a PostgreSQL
 * implementation can stand behind the same interface; the SQL is plain (`INSERT ... ON
 * CONFLICT ... DO UPDATE ... RETURNING` is the same statement in both dialects).
 */

/**
 * What a counter counts: `email` (login failures, keyed by the normalized email), `user`
 * (failures on authenticated routes), `ip` (failures per client address), `register`
 * (registration attempts per client address), `mail` (account mails per address and hour:
 * password resets, verification links), `share` (wrong passwords per share link), `refused`
 * (attempts a limit refused, keyed by that limit's counter, so only its first refusal in the
 * window is audited).
 */
export type CounterScope = 'email' | 'user' | 'ip' | 'register' | 'mail' | 'share' | 'refused';

export interface CounterKey {
  readonly scope: CounterScope;
  readonly key: string;
}

/** A live count: how many within the window that ends at `expiresAt` (Unix seconds). */
export interface Count {
  readonly count: number;
  readonly expiresAt: number;
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/**
 * The upsert for `rows` counters: one statement, so atomic on its own on both engines (outside
 * a transaction: under PostgreSQL's default READ COMMITTED, racing upserts of one row each
 * wait for the other and add one to what it committed).
 */
const increment = (rows: number) => `INSERT INTO throttle_counters (scope, key, count, expires_at) VALUES ${Array<string>(rows).fill('(?, ?, 1, ?)').join(', ')}
  ON CONFLICT (scope, key) DO UPDATE SET
    count = CASE WHEN throttle_counters.expires_at <= ? THEN 1 ELSE throttle_counters.count + 1 END,
    expires_at = CASE WHEN throttle_counters.expires_at <= ? THEN excluded.expires_at ELSE throttle_counters.expires_at END
  RETURNING scope, key, count, expires_at`;

async function incrementAll(db: Queryable, counters: readonly CounterKey[], windowSeconds: number, now: number): Promise<Map<string, Count>> {
  // Each counter once (PostgreSQL refuses an upsert that would update one row twice), in one
  // order for every caller: two statements locking the same rows in opposite orders would
  // deadlock on PostgreSQL, and this statement runs outside transaction()'s retries.
  const distinct = [...new Map(counters.map((counter) => [counterId(counter), counter])).entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, counter]) => counter);
  const counts = new Map<string, Count>();
  if (distinct.length === 0) return counts;
  const rows = await db.all<{ scope: string; key: string; count: number; expires_at: number }>(
    increment(distinct.length),
    ...distinct.flatMap((counter) => [counter.scope, counter.key, now + windowSeconds]),
    now,
    now,
  );
  for (const row of rows) counts.set(`${row.scope}:${row.key}`, { count: row.count, expiresAt: row.expires_at });
  return counts;
}

/**
 * One more in the counter's window, atomically (a single upsert: racing requests in any number
 * of processes each add exactly one). A window that has ended starts over at 1 and ends
 * `windowSeconds` from now. Resolves with the count including this one.
 */
export async function incrementCounter(counter: CounterKey, windowSeconds: number): Promise<Count> {
  return (await incrementAll(getDb(), [counter], windowSeconds, nowSeconds())).get(counterId(counter))!;
}

/**
 * Adds one to each counter, in one statement (one commit: on EFS each commit is a round trip).
 * Resolves with the counts including this one, by `scope:key`.
 *
 * Not a `transaction()`: that is SERIALIZABLE on PostgreSQL, where racing increments of one hot
 * counter (a burst of wrong passwords for one account) abort each other with serialization
 * failures and queue up in retry backoff. Their counts then land late, so a right password
 * compared meanwhile found the limit not yet reached and got in; and past the retry limit a
 * wrong password answered 500. A single upsert needs no transaction around it on either engine.
 */
export async function incrementCounters(counters: readonly CounterKey[], windowSeconds: number): Promise<ReadonlyMap<string, Count>> {
  return incrementAll(getDb(), counters, windowSeconds, nowSeconds());
}

/**
 * The live counts among `counters` (one read; ended windows are left out), by `scope:key`.
 * A counter without a live count is absent.
 */
export async function readCounters(counters: readonly CounterKey[]): Promise<ReadonlyMap<string, Count>> {
  const found = new Map<string, Count>();
  if (counters.length === 0) return found;
  const match = counters.map(() => '(scope = ? AND key = ?)').join(' OR ');
  const rows = await getDb().all<{ scope: string; key: string; count: number; expires_at: number }>(
    `SELECT scope, key, count, expires_at FROM throttle_counters WHERE expires_at > ? AND (${match})`,
    nowSeconds(),
    ...counters.flatMap((counter) => [counter.scope, counter.key]),
  );
  for (const row of rows) found.set(`${row.scope}:${row.key}`, { count: row.count, expiresAt: row.expires_at });
  return found;
}

export const counterId = (counter: CounterKey): string => `${counter.scope}:${counter.key}`;

/** Forgets a count (a successful login clears its account's failures). */
export async function clearCounter(counter: CounterKey): Promise<void> {
  await getDb().run('DELETE FROM throttle_counters WHERE scope = ? AND key = ?', counter.scope, counter.key);
}

/**
 * Marks a CAPTCHA challenge as used until it expires. True for the first claim only, also when
 * claims race (the primary key decides).
 */
export async function claimCaptchaChallenge(challengeHash: string, expiresAt: number): Promise<boolean> {
  const { changes } = await getDb().run(
    'INSERT INTO captcha_solutions (challenge_hash, expires_at) VALUES (?, ?) ON CONFLICT (challenge_hash) DO NOTHING',
    challengeHash,
    expiresAt,
  );
  return changes === 1;
}

/** Deletes counters whose window has ended and used challenges that have expired. */
export async function sweepThrottleState(now: Date = new Date()): Promise<number> {
  const db = getDb();
  const cutoff = Math.floor(now.getTime() / 1000);
  const counters = (await db.run('DELETE FROM throttle_counters WHERE expires_at <= ?', cutoff)).changes;
  const challenges = (await db.run('DELETE FROM captcha_solutions WHERE expires_at <= ?', cutoff)).changes;
  return counters + challenges;
}
