/**
 * Outgoing mail (verification links, password resets).
 *
 * The rule every caller relies on: sending never blocks or fails the request that caused it.
 * {@link sendMail} never rejects; a message that cannot be delivered is logged (recipient
 * domain and subject only, never the body: it carries a one-time link) and retried.
 *
 * Transports (`MAIL_TRANSPORT`):
 * - `outbox` (default locally): each message is written as one RFC 5322 file in
 *   `DATA_DIR/mail/*.eml`, and its recipient, subject and link are printed on the console, so a
 *   developer can follow a link without any mail server.
 * - `smtp`: `SMTP_URL` (Mailpit in docker-compose); delivered in the background, with retries.
 * - `ses` (AWS, with `-c mailFrom=`): the message is put on the SQS queue `MAIL_QUEUE_URL`,
 *   since the functions in the VPC have no route to the SES API; the mailer function outside
 *   the VPC sends it with SES (lib/mail/ses.ts), and SQS retries what fails, then keeps it in a
 *   dead-letter queue.
 * - `off` (default in AWS without `-c mailFrom=`): dropped, with a log line.
 *
 * Lambda bundles hold only `ses` and `off`: `outbox` and `smtp` (nodemailer) sit behind the
 * build-time constant `process.env.LAMBDA_BUNDLE`, which esbuild folds, dropping their code.
 */
import { getConfig } from '../config';
import { logger } from '../logger';
import { describeMail, queuedMail, type MailMessage } from './message';

export type { MailMessage } from './message';

/**
 * Hands a message to the configured transport. Resolves once the outbox file is written or the
 * queue has it, at once for SMTP (delivery goes on in the background; see {@link settleMail});
 * never rejects.
 */
export async function sendMail(message: MailMessage): Promise<void> {
  const { mail } = getConfig();
  try {
    if (mail.transport === 'off') {
      logger.info('Mail is off; message dropped', { mail: describeMail(message) });
    } else if (mail.transport === 'ses') {
      const { sendSqsMessage } = await import('../aws/sqs');
      await sendSqsMessage(mail.queueUrl ?? '', JSON.stringify(queuedMail(message)), { timeoutMs: 1500 });
    } else if (process.env.LAMBDA_BUNDLE !== 'true') {
      local ??= await import('./local-transports');
      await local.sendLocally(message);
    } else {
      throw new Error(`MAIL_TRANSPORT=${mail.transport} is not available in Lambda; use ses (-c mailFrom=)`);
    }
  } catch (error) {
    logger.error('Could not send mail', { mail: describeMail(message), error: error as Error });
  }
}

/**
 * The local transports once a message used them. Shutting down only touches what was loaded:
 * a Ctrl-C must never load code (under `npm start`, tsx's compiler has had the same signal).
 */
let local: typeof import('./local-transports') | undefined;

/** Waits for background deliveries (tests, and a graceful shutdown of the local runtime). */
export async function settleMail(): Promise<void> {
  await local?.settleLocalMail();
}

/** Closes the SMTP connection, if one was opened, and stops pending retries. */
export async function closeMail(): Promise<void> {
  local?.closeLocalMail();
}
