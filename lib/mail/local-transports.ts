/**
 * The local runtime's mail transports, through nodemailer: `outbox` (an .eml file per message
 * in `DATA_DIR/mail/`, summarized on the console) and `smtp` (in the background, with retries).
 * Never bundled into Lambda functions (see lib/mail/mailer.ts).
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import nodemailer, { type Transporter } from 'nodemailer';
import { getConfig } from '../config';
import { logger } from '../logger';
import { describeMail, type MailMessage } from './message';

/** SMTP attempts after the first, and the pause before each (ms): about 10 s before giving up. */
const SMTP_RETRY_DELAYS_MS = [1000, 3000, 6000];

const inFlight = new Set<Promise<void>>();
let smtp: { url: string; transporter: Transporter } | undefined;
/** Bumped by {@link closeLocalMail}: retries of an earlier generation stop. */
let generation = 0;

export async function sendLocally(message: MailMessage): Promise<void> {
  if (getConfig().mail.transport === 'outbox') {
    await writeToOutbox(message);
    return;
  }
  const delivery = deliverWithRetries(message);
  inFlight.add(delivery);
  void delivery.finally(() => inFlight.delete(delivery));
}

export async function settleLocalMail(): Promise<void> {
  while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
}

export function closeLocalMail(): void {
  generation += 1;
  closeTransporter();
}

/** The folder the outbox writes to. */
export function outboxDir(): string {
  return path.join(getConfig().local.dataDir, 'mail');
}

async function writeToOutbox(message: MailMessage): Promise<void> {
  const composer = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  const info = await composer.sendMail(envelope(message));
  const dir = outboxDir();
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Sortable by time; the uuid keeps two messages of one millisecond apart.
  const name = `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomUUID()}.eml`;
  const temporary = path.join(dir, `.${name}.tmp`);
  fs.writeFileSync(temporary, info.message as Buffer, { mode: 0o600 });
  fs.renameSync(temporary, path.join(dir, name)); // readers never see half a message
  process.stdout.write(`Mail to ${message.to}: ${message.subject}${message.link ? `\n  ${message.link}` : ''}\n`);
}

async function deliverWithRetries(message: MailMessage): Promise<void> {
  const started = generation;
  for (let attempt = 0; generation === started; attempt += 1) {
    try {
      await smtpTransporter().sendMail(envelope(message));
      return;
    } catch (error) {
      const delay = SMTP_RETRY_DELAYS_MS[attempt];
      if (delay === undefined) {
        logger.error('Mail not delivered after retries', { mail: describeMail(message), attempts: attempt + 1, error: error as Error });
        return;
      }
      logger.warn('Mail delivery failed; retrying', { mail: describeMail(message), attempt: attempt + 1, error: error as Error });
      await new Promise((resolve) => setTimeout(resolve, delay).unref());
    }
  }
}

function smtpTransporter(): Transporter {
  const url = getConfig().mail.smtpUrl ?? '';
  if (smtp?.url !== url) {
    closeTransporter();
    const parsed = new URL(url);
    smtp = {
      url,
      transporter: nodemailer.createTransport({
        host: parsed.hostname.replace(/^\[|\]$/g, ''),
        port: Number(parsed.port) || (parsed.protocol === 'smtps:' ? 465 : 587),
        secure: parsed.protocol === 'smtps:',
        ...(parsed.username ? { auth: { user: decodeURIComponent(parsed.username), pass: decodeURIComponent(parsed.password) } } : {}),
        // Short timeouts: a stuck server must not hold the retries for minutes.
        connectionTimeout: 5000,
        greetingTimeout: 5000,
        socketTimeout: 10_000,
      }),
    };
  }
  return smtp.transporter;
}

function closeTransporter(): void {
  smtp?.transporter.close();
  smtp = undefined;
}

function envelope(message: MailMessage) {
  return { from: getConfig().mail.from, to: message.to, subject: message.subject, text: message.text, html: message.html };
}
