/**
 * The mailer function's half of the `ses` transport: what arrives on the mail queue is sent
 * with SES v2 (the SDK client; only the mailer function bundles it).
 */
import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { getConfig } from '../config';
import { logger } from '../logger';
import { QueuedMail } from './message';

let ses: SESv2Client | undefined;

/**
 * Sends one queued message with SES as `MAIL_FROM`. Throws when SES fails (the queue retries
 * it); a body that is not a message is logged and dropped, since no retry can fix it.
 */
export async function deliverQueuedMail(body: string): Promise<void> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  const message = QueuedMail.safeParse(parsed);
  if (!message.success) {
    logger.error('Dropped a queued mail that is not a message', { issues: message.error.issues.length });
    return;
  }
  ses ??= new SESv2Client({});
  const utf8 = (data: string) => ({ Data: data, Charset: 'UTF-8' });
  await ses.send(
    new SendEmailCommand({
      FromEmailAddress: getConfig().mail.from,
      Destination: { ToAddresses: [message.data.to] },
      Content: { Simple: { Subject: utf8(message.data.subject), Body: { Text: utf8(message.data.text), Html: utf8(message.data.html) } } },
    }),
  );
}
