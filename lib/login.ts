import { admitAttempt, emailAccount, recordFailedAttempt, recordSucceededAttempt } from './abuse-protection';
import { recordAuditEvent } from './audit';
import { issueTokenPair, type TokenPair } from './auth/refresh-tokens';
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
    if (error instanceof HttpError && error.status === 429) {
      await recordAuditEvent({ type: 'auth.login.failed', userId: findUserIdByEmail(credentials.email), details: { reason: 'throttled' } }, origin);
    }
    throw error;
  }

  const checked = await checkCredentials(credentials);
  if (!checked.user) {
    await recordFailedAttempt(admitted);
    await recordAuditEvent({ type: 'auth.login.failed', userId: checked.accountId, details: { reason: 'wrong_password' } }, origin);
    throw unauthorized('Invalid email or password');
  }
  await recordSucceededAttempt(admitted);
  // MFA on: the password was right, but the tokens wait for the code (POST /auth/mfa/verify).
  if (await totpEnabled(checked.user.id)) return startMfaChallenge(checked.user.id);
  const pair = await issueTokenPair(checked.user.id, origin);
  await recordAuditEvent({ type: 'auth.login.succeeded', userId: checked.user.id }, origin);
  return pair;
}
