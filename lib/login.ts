import { admitAttempt, emailAccount, firstRefusalInWindow, recordFailedAttempt, recordSucceededAttempt } from './abuse-protection';
import { recordAuditEvent } from './audit';
import { issueTokenPair, type TokenPair } from './auth/refresh-tokens';
import { getConfig } from './config';
import { mailVerificationLink } from './email-verification';
import { HttpError, unauthorized } from './http/errors';
import { startMfaChallenge, type MfaChallenge } from './mfa/challenges';
import { totpEnabled } from './mfa/store';
import type { RequestOrigin } from './request-origin';
import { checkCredentials, emailKey, findUserIdByEmail, type Credentials } from './users';

export interface LoginAttempt extends Credentials {
  readonly captcha?: string | undefined;
}

/**
 * Login: the abuse checks first (no bcrypt on a refused attempt), then one password compare.
 * Unknown emails and wrong passwords take the same path (same counters, same audit write, same
 * 401), and so do refused attempts for known and unknown emails. With MFA on, a right password
 * answers an mfa_token instead of tokens (lib/mfa/verification.ts completes the login).
 */
export async function logIn(credentials: LoginAttempt, origin: RequestOrigin): Promise<TokenPair | MfaChallenge> {
  let admitted;
  try {
    admitted = await admitAttempt({ ip: origin.ip, account: emailAccount(emailKey(credentials.email)), captcha: credentials.captcha, captchaGated: true });
  } catch (error) {
    // Once per limit and window: refused attempts are free for the client, rows are not.
    if (error instanceof HttpError && error.status === 429 && (await firstRefusalInWindow(error))) {
      await recordAuditEvent({ type: 'auth.login.failed', userId: await findUserIdByEmail(credentials.email), details: { reason: 'throttled' } }, origin);
    }
    throw error;
  }

  const checked = await checkCredentials(credentials);
  if (!checked.user) {
    // Counted first, straight after the compare: a right password compared meanwhile must find
    // this failure (on PostgreSQL the audit insert before it was a round trip in which racing
    // successes read a count still below the limit). Audited whatever the count answers: a
    // failure that racing attempts pushed past the limit answers 429, and is still one.
    try {
      await recordFailedAttempt(admitted);
    } finally {
      await recordAuditEvent({ type: 'auth.login.failed', userId: checked.accountId, details: { reason: 'wrong_password' } }, origin);
    }
    throw unauthorized('Invalid email or password');
  }
  try {
    await recordSucceededAttempt(admitted);
  } catch (error) {
    // Failures racing this attempt reached the limit while its password was compared.
    if (error instanceof HttpError && error.status === 429 && (await firstRefusalInWindow(error))) {
      await recordAuditEvent({ type: 'auth.login.failed', userId: checked.user.id, details: { reason: 'throttled' } }, origin);
    }
    throw error;
  }
  if (getConfig().emailVerification === 'required' && !checked.emailVerified) {
    // Not a failure (the password was right) and no token. A fresh link goes out (at most five
    // an hour), so an account that cannot log in to ask for one is never stuck.
    await recordAuditEvent({ type: 'auth.login.failed', userId: checked.user.id, details: { reason: 'email_not_verified' } }, origin);
    await mailVerificationLink(checked.user);
    throw new HttpError(403, 'Email not verified');
  }
  // MFA on: the password was right, but the tokens wait for the code (POST /auth/mfa/verify).
  if (await totpEnabled(checked.user.id)) return startMfaChallenge(checked.user.id);
  const pair = await issueTokenPair(checked.user.id, origin);
  await recordAuditEvent({ type: 'auth.login.succeeded', userId: checked.user.id }, origin);
  return pair;
}
