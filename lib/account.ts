import { admitAttempt, forgetAccountCounters, recordFailedAttempt, recordSucceededAttempt, userAccount } from './abuse-protection';
import { retireAccountTokensInTransaction } from './account-tokens';
import { recordAuditEvent } from './audit';
import { hashPassword } from './auth/passwords';
import { getDb } from './db/connection';
import { removeOwnerObjects } from './direct-uploads';
import { collectOwnerObjectsInTransaction } from './files';
import type { AuthenticatedUser } from './http/auth';
import { endMfaChallengesInTransaction } from './mfa/challenges';
import { HttpError, unauthorized } from './http/errors';
import type { RequestOrigin } from './request-origin';
import { endUserSessionsInTransaction } from './sessions';
import { stagingKey } from './storage/keys';
import { deleteUserInTransaction, emailKey, passwordMatches, setPasswordHashInTransaction } from './users';

/**
 * The signed-in user's own account: changing the password, deleting the account. Both confirm
 * the password first, under the abuse policy of an authenticated route: past the per-user or
 * per-address failure limit a 429 before any bcrypt; a wrong password is a failure.
 */

/** The throttle check, the compare, and the failure or success it counts; `detail` is the 403's. */
async function confirmPassword(user: AuthenticatedUser, password: string, captcha: string | undefined, origin: RequestOrigin, detail: string): Promise<void> {
  const admitted = await admitAttempt({ ip: origin.ip, account: userAccount(user.id), captcha });
  if (!(await passwordMatches(user.id, password))) {
    await recordFailedAttempt(admitted);
    throw new HttpError(403, detail);
  }
  await recordSucceededAttempt(admitted);
}

export interface PasswordChange {
  readonly current_password: string;
  readonly new_password: string;
  readonly captcha?: string | undefined;
}

/**
 * Sets a new password. Every other session of the user ends (a thief's among them); the one
 * that asked stays. Outstanding reset links die with the old password.
 */
export async function changePassword(user: AuthenticatedUser, change: PasswordChange, origin: RequestOrigin): Promise<void> {
  await confirmPassword(user, change.current_password, change.captcha, origin, 'Current password is incorrect');
  const hashed = await hashPassword(change.new_password);
  const changed = await getDb().transaction(async (tx) => {
    if (!(await setPasswordHashInTransaction(tx, user.id, hashed))) return false;
    await endUserSessionsInTransaction(tx, user.id, user.sessionId);
    await endMfaChallengesInTransaction(tx, user.id); // logins begun with the old password
    await retireAccountTokensInTransaction(tx, user.id, 'password_reset');
    return true;
  });
  if (!changed) throw unauthorized('Could not validate credentials', 'invalid_token'); // deleted meanwhile
  await recordAuditEvent({ type: 'auth.password.changed', userId: user.id }, origin);
}

export interface AccountDeletion {
  readonly password: string;
  readonly captcha?: string | undefined;
}

/**
 * Deletes the account and everything it owns. One transaction removes the user row, and with
 * it (ON DELETE CASCADE) its sessions, refresh tokens, file rows, plans and account tokens, after
 * tombstoning every object key for the sweep; then the objects go from storage (multipart
 * uploads aborted), and the account's throttle counters are forgotten. Audit events stay, with
 * the bare user id only (they never hold the email). The email can register again at once.
 *
 * An upload racing the deletion either committed its row first (its key is tombstoned, and
 * its own cleanup deletes the object when its row is gone) or fails on the missing user.
 */
export async function deleteAccount(user: AuthenticatedUser, deletion: AccountDeletion, origin: RequestOrigin): Promise<void> {
  await confirmPassword(user, deletion.password, deletion.captcha, origin, 'Password is incorrect');
  // Shares go with their files and their owner (ON DELETE CASCADE).
  const objects = await getDb().transaction(async (tx) => {
    const owned = await collectOwnerObjectsInTransaction(tx, user.id, stagingKey);
    return (await deleteUserInTransaction(tx, user.id)) ? owned : undefined;
  });
  if (!objects) throw unauthorized('Could not validate credentials', 'invalid_token'); // deleted meanwhile
  await removeOwnerObjects(objects);
  await forgetAccountCounters(user.id, emailKey(user.email));
  await recordAuditEvent({ type: 'user.deleted', userId: user.id }, origin);
}
