import { allowAccountMail } from './abuse-protection';
import { mailAccountLink } from './account-link-mail';
import { redeemAccountTokenInTransaction, retireAccountTokensInTransaction } from './account-tokens';
import { recordAuditEvent } from './audit';
import { getConfig } from './config';
import { getDb } from './db/connection';
import { HttpError } from './http/errors';
import type { RequestOrigin } from './request-origin';
import { findAccountUserById, markEmailVerifiedInTransaction, type AccountUser, type User } from './users';

/**
 * Email verification (SPEC "Accounts and sessions"): register mails a link
 * `APP_URL/auth/verify-email?token=...`; opening it (GET, the person's click) or
 * `POST /auth/verify-email {token}` proves the address. Links work once, for
 * {@link EMAIL_VERIFICATION_TTL_SECONDS}.
 */
export const EMAIL_VERIFICATION_TTL_SECONDS = 86_400;

export const invalidToken = () => new HttpError(400, 'Invalid or expired token');

/**
 * Mails the user a fresh verification link, unless verification is off or the account had
 * five of them this hour (ACCOUNT_MAILS_PER_HOUR). Never rejects and never fails its caller
 * (register, resend, a refused login): a failure is logged.
 */
export async function mailVerificationLink(user: Pick<User, 'id' | 'email'>): Promise<void> {
  if (getConfig().emailVerification === 'off') return;
  await mailAccountLink(
    user,
    { purpose: 'verify_email', ttlSeconds: EMAIL_VERIFICATION_TTL_SECONDS, path: '/auth/verify-email', withinLimit: () => allowAccountMail('verify', user.id) },
    {
      subject: 'Verify your email address',
      lead: 'Someone (hopefully you) created an account with this address. Open the link to confirm it is yours.',
      action: 'Verify my address',
      footer: 'The link works once, for 24 hours. If you did not create an account, ignore this mail.',
    },
  );
}

/** Uses a verification token up and marks its user's address verified; 400 for anything but a live, unused token. */
export async function verifyEmail(token: string, origin: RequestOrigin): Promise<AccountUser> {
  const userId = await getDb().transaction(async (tx) => {
    const owner = await redeemAccountTokenInTransaction(tx, token, 'verify_email');
    if (owner) {
      await markEmailVerifiedInTransaction(tx, owner);
      await retireAccountTokensInTransaction(tx, owner, 'verify_email'); // older links in the inbox die too
    }
    return owner;
  });
  const user = userId ? await findAccountUserById(userId) : undefined;
  if (!user) throw invalidToken();
  await recordAuditEvent({ type: 'auth.email.verified', userId: user.id }, origin);
  return user;
}

/** `POST /auth/verify-email/resend`: a fresh link for an unverified address (nothing for a verified one); the answer is 202 either way. */
export async function resendVerification(user: AccountUser): Promise<void> {
  if (!user.email_verified) await mailVerificationLink(user);
}
