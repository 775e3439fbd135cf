import { randomUUID } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import { dummyPasswordHash, hashPassword, verifyPassword } from './auth/passwords';
import { getDb, statement } from './db/connection';
import { HttpError, unauthorized } from './http/errors';
import { isoSeconds } from './time';

/** The seed's public user shape. */
export interface User {
  readonly id: string;
  readonly email: string;
  readonly created_at: string;
}

/** The user as the account routes see it: whether the address has been proven. */
export interface AccountUser extends User {
  readonly email_verified: boolean;
}

export interface Credentials {
  readonly email: string;
  readonly password: string;
}

/** What uniqueness and login compare: trimmed, Unicode-normalized, lower-cased. */
export const emailKey = (email: string): string => email.trim().normalize('NFC').toLowerCase();

/**
 * Creates an account. The email is stored as given (trimmed) and unique case-insensitively.
 * The UNIQUE index decides races: of two simultaneous registrations one wins, the other is 409.
 */
export async function registerUser({ email, password }: Credentials): Promise<User> {
  const hashed = await hashPassword(password);
  const user: User = { id: randomUUID(), email: email.trim(), created_at: isoSeconds() };
  try {
    statement(getDb(), 'INSERT INTO users (id, email, email_key, hashed_password, created_at) VALUES (?, ?, ?, ?, ?)').run(
      user.id,
      user.email,
      emailKey(email),
      hashed,
      user.created_at,
    );
  } catch (error) {
    // Duck-typed on purpose: better-sqlite3 binds its SqliteError class once per process, so
    // `instanceof` fails wherever its JS is loaded twice (Jest's per-file module registries).
    if ((error as { code?: unknown }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
      throw new HttpError(409, 'Email already registered');
    }
    throw error;
  }
  return user;
}

/** A password check's outcome: the user, or, when it failed, the id of the account if one exists. */
export type CredentialCheck =
  | { readonly user: User; readonly emailVerified: boolean }
  | { readonly user?: undefined; readonly accountId: string | undefined };

/**
 * Checks a password. Unknown emails pay one bcrypt compare against a dummy hash, so both
 * failures take the same time.
 */
export async function checkCredentials({ email, password }: Credentials): Promise<CredentialCheck> {
  const row = statement(getDb(), 'SELECT id, email, created_at, hashed_password, email_verified_at FROM users WHERE email_key = ?').get(
    emailKey(email),
  ) as (User & { hashed_password: string; email_verified_at: string | null }) | undefined;
  const matches = await verifyPassword(password, row?.hashed_password ?? dummyPasswordHash());
  if (!row || !matches) return { accountId: row?.id };
  return { user: { id: row.id, email: row.email, created_at: row.created_at }, emailVerified: row.email_verified_at !== null };
}

/** The same check, as one 401 for unknown email and wrong password alike. */
export async function authenticate(credentials: Credentials): Promise<User> {
  const checked = await checkCredentials(credentials);
  if (!checked.user) throw unauthorized('Invalid email or password');
  return checked.user;
}

/** The id of the account with this email, if any (one index lookup, the same for both answers). */
export function findUserIdByEmail(email: string): string | undefined {
  return (statement(getDb(), 'SELECT id FROM users WHERE email_key = ?').get(emailKey(email)) as { id: string } | undefined)?.id;
}

export function findUserById(id: string): User | undefined {
  return statement(getDb(), 'SELECT id, email, created_at FROM users WHERE id = ?').get(id) as User | undefined;
}

/**
 * The user behind an access token, if its session is still live: one indexed lookup (a join
 * on both primary keys, a prepared statement) on every authenticated request, so ending a
 * session ends its access tokens at once without making `GET /auth/me` dearer.
 */
export async function findUserBySession(userId: string, sessionId: string): Promise<AccountUser | undefined> {
  const row = statement(
    getDb(),
    `SELECT u.id, u.email, u.created_at, u.email_verified_at FROM sessions s JOIN users u ON u.id = s.user_id
      WHERE s.id = ? AND s.user_id = ? AND s.ended_at IS NULL`,
  ).get(sessionId, userId) as (User & { email_verified_at: string | null }) | undefined;
  return row && toAccountUser(row);
}

const toAccountUser = (row: User & { email_verified_at: string | null }): AccountUser => ({
  id: row.id,
  email: row.email,
  created_at: row.created_at,
  email_verified: row.email_verified_at !== null,
});

export function findAccountUserById(id: string): AccountUser | undefined {
  const row = statement(getDb(), 'SELECT id, email, created_at, email_verified_at FROM users WHERE id = ?').get(id) as
    | (User & { email_verified_at: string | null })
    | undefined;
  return row && toAccountUser(row);
}

/** The account with this email, if any: one index lookup, the same for both answers. */
export function findAccountUserByEmail(email: string): AccountUser | undefined {
  const row = statement(getDb(), 'SELECT id, email, created_at, email_verified_at FROM users WHERE email_key = ?').get(emailKey(email)) as
    | (User & { email_verified_at: string | null })
    | undefined;
  return row && toAccountUser(row);
}

/** Whether `password` is the user's (one bcrypt compare; a vanished user compares against the dummy hash). */
export async function passwordMatches(userId: string, password: string): Promise<boolean> {
  const row = statement(getDb(), 'SELECT hashed_password FROM users WHERE id = ?').get(userId) as { hashed_password: string } | undefined;
  const matches = await verifyPassword(password, row?.hashed_password ?? dummyPasswordHash());
  return row !== undefined && matches;
}

/** Stores a new password hash (made by {@link hashPassword} before the caller's transaction). */
export function setPasswordHashInTransaction(db: Database, userId: string, hashedPassword: string): boolean {
  return statement(db, 'UPDATE users SET hashed_password = ? WHERE id = ?').run(hashedPassword, userId).changes === 1;
}

/** Marks the user's address as proven (the first proof's time stays). */
export function markEmailVerifiedInTransaction(db: Database, userId: string): void {
  statement(db, 'UPDATE users SET email_verified_at = ? WHERE id = ? AND email_verified_at IS NULL').run(isoSeconds(), userId);
}

/**
 * Deletes the user row. Sessions, refresh tokens, file rows and account tokens go with it
 * (ON DELETE CASCADE); audit events keep the bare id (no foreign key, no email).
 */
export function deleteUserInTransaction(db: Database, userId: string): boolean {
  return statement(db, 'DELETE FROM users WHERE id = ?').run(userId).changes === 1;
}
