import { setTimeout as sleep } from 'node:timers/promises';
import { admitAttempt, allowAccountMail, emailAccount, userAccount } from './abuse-protection';
import { mailAccountLink } from './account-link-mail';
import { peekAccountToken, redeemAccountTokenInTransaction, retireAccountTokensInTransaction } from './account-tokens';
import { recordAuditEvent } from './audit';
import { hashPassword } from './auth/passwords';
import { getConfig } from './config';
import { getDb } from './db/connection';
import { invalidToken } from './email-verification';
import { logger } from './logger';
import { endMfaChallengesInTransaction } from './mfa/challenges';
import type { RequestOrigin } from './request-origin';
import { endUserSessionsInTransaction } from './sessions';
import { clearCounter } from './throttle';
import { emailKey, findAccountUserByEmail, findAccountUserById, markEmailVerifiedInTransaction, setPasswordHashInTransaction } from './users';

/**
 * Password reset (SPEC "Accounts and sessions"): `forgot` mails a single-use link
 * `APP_URL/auth/password/reset?token=...`, valid `PASSWORD_RESET_EXPIRE_SECONDS`; `reset`
 * takes the token and a new password.
 */

/**
 * Every accepted `forgot` takes at least this long. The work differs by a token write and a
 * hand-over to the mail transport (an outbox file, an SQS message: milliseconds to tens of
 * them) between known and unknown emails; waiting out the rest of a fixed floor makes both
 * answers take the same time, whatever the transport's latency that day.
 */
export const FORGOT_MIN_RESPONSE_MS = 400;

export interface ForgotRequest {
  readonly email: string;
  readonly captcha?: string | undefined;
}

/**
 * Accepts a reset request: the address limits and `CAPTCHA=always` first (their answers never
 * depend on the account), then, for an existing account with fewer than five reset mails this
 * hour, a link. Known and unknown emails do the same counter write, answer the same 202 and
 * take the same time ({@link FORGOT_MIN_RESPONSE_MS}).
 */
export async function requestPasswordReset(request: ForgotRequest, origin: RequestOrigin): Promise<void> {
  const started = performance.now();
  await admitAttempt({ ip: origin.ip, captcha: request.captcha, captchaGated: true });
  const account = await findAccountUserByEmail(request.email);
  const allowed = await allowAccountMail('reset', emailAccount(emailKey(request.email)).key);
  const { passwordResetTtlSeconds } = getConfig();
  if (account && allowed) {
    await mailAccountLink(
      account,
      { purpose: 'password_reset', ttlSeconds: passwordResetTtlSeconds, path: '/auth/password/reset' },
      {
        subject: 'Reset your password',
        lead: 'Someone (hopefully you) asked to reset the password of the account with this address.',
        action: 'Choose a new password',
        footer: `The link works once, for ${Math.round(passwordResetTtlSeconds / 60)} minutes. If you did not ask for it, ignore this mail: your password stays as it is.`,
      },
    );
  } else if (account) {
    logger.info('Password reset mail not sent: hourly limit for the account reached', { userId: account.id });
  }
  const left = FORGOT_MIN_RESPONSE_MS - (performance.now() - started);
  if (left > 0) await sleep(left);
}

export interface PasswordReset {
  readonly token: string;
  readonly new_password: string;
}

/**
 * Sets a new password with a reset token, once. Every session of the user ends; the other
 * reset links die; the address counts as verified (the link reached its mailbox); the
 * account's failure counts are cleared (guesses at the old password mean nothing now, and the
 * owner must not stay locked out by them). The token is checked before the bcrypt hash, so a
 * made-up token costs no hashing; it is used up in the transaction that sets the password, so
 * of racing resets with one token exactly one wins.
 */
export async function resetPassword(reset: PasswordReset, origin: RequestOrigin): Promise<void> {
  if (!(await peekAccountToken(reset.token, 'password_reset'))) throw invalidToken();
  const hashed = await hashPassword(reset.new_password);
  const userId = await getDb().transaction(async (tx) => {
    const owner = await redeemAccountTokenInTransaction(tx, reset.token, 'password_reset');
    if (!owner || !(await setPasswordHashInTransaction(tx, owner, hashed))) return undefined;
    await endUserSessionsInTransaction(tx, owner);
    await endMfaChallengesInTransaction(tx, owner); // logins begun with the old password
    await retireAccountTokensInTransaction(tx, owner, 'password_reset');
    await markEmailVerifiedInTransaction(tx, owner);
    return owner;
  });
  if (!userId) throw invalidToken();
  await clearCounter(userAccount(userId));
  const user = await findAccountUserById(userId);
  if (user) await clearCounter(emailAccount(emailKey(user.email)));
  await recordAuditEvent({ type: 'auth.password.reset', userId }, origin);
}
