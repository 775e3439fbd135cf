import { issueAccountToken, type AccountTokenPurpose } from './account-tokens';
import { getConfig } from './config';
import { logger } from './logger';
import { sendMail } from './mail/mailer';
import { linkMail, type LinkMailContent } from './mail/templates';

export interface AccountLink {
  readonly purpose: AccountTokenPurpose;
  readonly ttlSeconds: number;
  /** Where the link points under `APP_URL`, e.g. `/auth/verify-email`; the token goes in `?token=`. */
  readonly path: string;
  /** The account's hourly mail limit, when the caller has not applied it already. */
  readonly withinLimit?: () => Promise<boolean>;
}

/**
 * Issues a one-time token and mails the person its link. Never rejects, so it never fails the
 * request that asked for it: no `APP_URL`, a failed token write or a failed hand-over is logged.
 */
export async function mailAccountLink(user: { readonly id: string; readonly email: string }, link: AccountLink, content: Omit<LinkMailContent, 'link'>): Promise<void> {
  try {
    const { appUrl } = getConfig();
    if (!appUrl) throw new Error('APP_URL is not set: no link can be built');
    if (link.withinLimit && !(await link.withinLimit())) {
      logger.info('Account link not sent: hourly limit for the account reached', { userId: user.id, purpose: link.purpose });
      return;
    }
    const token = await issueAccountToken(user.id, link.purpose, link.ttlSeconds);
    await sendMail(linkMail(user.email, { ...content, link: `${appUrl}${link.path}?token=${token}` }));
  } catch (error) {
    logger.error('Could not send an account link', { userId: user.id, purpose: link.purpose, error: error as Error });
  }
}
