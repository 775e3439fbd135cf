import { admitRegistration } from './abuse-protection';
import { recordAuditEvent } from './audit';
import { mailVerificationLink } from './email-verification';
import type { RequestOrigin } from './request-origin';
import { registerUser, type Credentials, type User } from './users';

export interface Registration extends Credentials {
  readonly captcha?: string | undefined;
}

/**
 * Sign-up: the per-address limits (and CAPTCHA=always) first, then the account, its audit
 * event, and (unless EMAIL_VERIFICATION is off) the verification mail, which never fails it.
 */
export async function signUp(registration: Registration, origin: RequestOrigin): Promise<User> {
  await admitRegistration(origin.ip, registration.captcha);
  const user = await registerUser(registration);
  await recordAuditEvent({ type: 'user.registered', userId: user.id }, origin);
  await mailVerificationLink(user);
  return user;
}
