import { allowAccountMail } from './abuse-protection';
import { issueAccountToken, redeemAccountTokenInTransaction, retireAccountTokensInTransaction } from './account-tokens';
import { recordAuditEvent } from './audit';
import { getConfig } from './config';
import { getDb } from './db/connection';
import { HttpError } from './http/errors';
import { logger } from './logger';
import { sendMail } from './mail/mailer';
import { linkMail } from './mail/templates';
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
  const { emailVerification, appUrl } = getConfig();
  if (emailVerification === 'off') return;
  try {
    if (!appUrl) throw new Error('APP_URL is not set: no link can be built');
    if (!(await allowAccountMail('verify', user.id))) {
      logger.info('Verification mail not sent: hourly limit for the account reached', { userId: user.id });
      return;
    }
    const token = await issueAccountToken(user.id, 'verify_email', EMAIL_VERIFICATION_TTL_SECONDS);
    await sendMail(
      linkMail(user.email, {
        subject: 'Verify your email address',
        lead: 'Someone (hopefully you) created an account with this address. Open the link to confirm it is yours.',
        action: 'Verify my address',
        link: `${appUrl}/auth/verify-email?token=${token}`,
        footer: 'The link works once, for 24 hours. If you did not create an account, ignore this mail.',
      }),
    );
  } catch (error) {
    logger.error('Could not send a verification link', { userId: user.id, error: error as Error });
  }
}

/** Uses a verification token up and marks its user's address verified; 400 for anything but a live, unused token. */
export async function verifyEmail(token: string, origin: RequestOrigin): Promise<AccountUser> {
  const db = getDb();
  const userId = db
    .transaction(() => {
      const owner = redeemAccountTokenInTransaction(db, token, 'verify_email');
      if (owner) {
        markEmailVerifiedInTransaction(db, owner);
        retireAccountTokensInTransaction(db, owner, 'verify_email'); // older links in the inbox die too
      }
      return owner;
    })
    .immediate();
  const user = userId ? findAccountUserById(userId) : undefined;
  if (!user) throw invalidToken();
  await recordAuditEvent({ type: 'auth.email.verified', userId: user.id }, origin);
  return user;
}

/** `POST /auth/verify-email/resend`: a fresh link for an unverified address (nothing for a verified one); the answer is 202 either way. */
export async function resendVerification(user: AccountUser): Promise<void> {
  if (!user.email_verified) await mailVerificationLink(user);
}
