import { randomUUID } from 'node:crypto';
import { dummyPasswordHash, hashPassword, verifyPassword } from './auth/passwords';
import { getDb, isUniqueViolation, type Queryable } from './db/connection';
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
    await getDb().run(
      'INSERT INTO users (id, email, email_key, hashed_password, created_at) VALUES (?, ?, ?, ?, ?)',
      user.id,
      user.email,
      emailKey(email),
      hashed,
      user.created_at,
    );
  } catch (error) {
    // By error code, not class: the same on both engines, and `instanceof` fails wherever a
    // driver's JS is loaded twice (Jest's per-file module registries).
    if (isUniqueViolation(error)) {
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
  const row = await getDb().get<User & { hashed_password: string; email_verified_at: string | null }>(
    'SELECT id, email, created_at, hashed_password, email_verified_at FROM users WHERE email_key = ?',
    emailKey(email),
  );
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
export async function findUserIdByEmail(email: string): Promise<string | undefined> {
  return (await getDb().get<{ id: string }>('SELECT id FROM users WHERE email_key = ?', emailKey(email)))?.id;
}

export async function findUserById(id: string): Promise<User | undefined> {
  return getDb().get<User>('SELECT id, email, created_at FROM users WHERE id = ?', id);
}

/**
 * The user behind an access token, if its session is still live: one indexed lookup (a join
 * on both primary keys, a prepared statement) on every authenticated request, so ending a
 * session ends its access tokens at once without making `GET /auth/me` dearer.
 */
export async function findUserBySession(userId: string, sessionId: string): Promise<AccountUser | undefined> {
  const row = await getDb().get<User & { email_verified_at: string | null }>(
    `SELECT u.id, u.email, u.created_at, u.email_verified_at FROM sessions s JOIN users u ON u.id = s.user_id
      WHERE s.id = ? AND s.user_id = ? AND s.ended_at IS NULL`,
    sessionId,
    userId,
  );
  return row && toAccountUser(row);
}

const toAccountUser = (row: User & { email_verified_at: string | null }): AccountUser => ({
  id: row.id,
  email: row.email,
  created_at: row.created_at,
  email_verified: row.email_verified_at !== null,
});

export async function findAccountUserById(id: string): Promise<AccountUser | undefined> {
  const row = await getDb().get<User & { email_verified_at: string | null }>('SELECT id, email, created_at, email_verified_at FROM users WHERE id = ?', id);
  return row && toAccountUser(row);
}

/** The account with this email, if any: one index lookup, the same for both answers. */
export async function findAccountUserByEmail(email: string): Promise<AccountUser | undefined> {
  const row = await getDb().get<User & { email_verified_at: string | null }>(
    'SELECT id, email, created_at, email_verified_at FROM users WHERE email_key = ?',
    emailKey(email),
  );
  return row && toAccountUser(row);
}

/** Whether `password` is the user's (one bcrypt compare; a vanished user compares against the dummy hash). */
export async function passwordMatches(userId: string, password: string): Promise<boolean> {
  const row = await getDb().get<{ hashed_password: string }>('SELECT hashed_password FROM users WHERE id = ?', userId);
  const matches = await verifyPassword(password, row?.hashed_password ?? dummyPasswordHash());
  return row !== undefined && matches;
}

/** Stores a new password hash (made by {@link hashPassword} before the caller's transaction). */
export async function setPasswordHashInTransaction(tx: Queryable, userId: string, hashedPassword: string): Promise<boolean> {
  return (await tx.run('UPDATE users SET hashed_password = ? WHERE id = ?', hashedPassword, userId)).changes === 1;
}

/** Marks the user's address as proven (the first proof's time stays). */
export async function markEmailVerifiedInTransaction(tx: Queryable, userId: string): Promise<void> {
  await tx.run('UPDATE users SET email_verified_at = ? WHERE id = ? AND email_verified_at IS NULL', isoSeconds(), userId);
}

/**
 * Deletes the user row. Sessions, refresh tokens, file rows and account tokens go with it
 * (ON DELETE CASCADE); audit events keep the bare id (no foreign key, no email).
 */
export async function deleteUserInTransaction(tx: Queryable, userId: string): Promise<boolean> {
  return (await tx.run('DELETE FROM users WHERE id = ?', userId)).changes === 1;
}
