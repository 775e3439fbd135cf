/**
 * Outgoing mail (verification links, password resets), through nodemailer.
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
 * - `off` (default in production until a transport is configured): dropped, with a log line.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Transporter } from 'nodemailer';
import { getConfig } from '../config';
import { logger } from '../logger';

export interface MailMessage {
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string;
  /** The one link the message is about; the outbox prints it on the console. */
  readonly link?: string;
}

/** SMTP attempts in all, and the pause before each retry (ms): about 10 s before giving up. */
const SMTP_RETRY_DELAYS_MS = [1000, 3000, 6000];

const inFlight = new Set<Promise<void>>();
let smtp: { url: string; transporter: Transporter } | undefined;
/** Bumped by {@link closeMail}: retries of an earlier generation stop. */
let generation = 0;

/**
 * Hands a message to the configured transport. Resolves once the outbox file is written, at
 * once for SMTP (delivery goes on in the background; see {@link settleMail}); never rejects.
 */
export async function sendMail(message: MailMessage): Promise<void> {
  const { mail } = getConfig();
  try {
    switch (mail.transport) {
      case 'off':
        logger.info('Mail is off; message dropped', { mail: describe(message) });
        return;
      case 'outbox':
        await writeToOutbox(message);
        return;
      case 'smtp':
        track(deliverWithRetries(message));
        return;
    }
  } catch (error) {
    logger.error('Could not send mail', { mail: describe(message), error: error as Error });
  }
}

/** Waits for background deliveries (tests, and a graceful shutdown of the local runtime). */
export async function settleMail(): Promise<void> {
  while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
}

/** Closes the SMTP connection, if one was opened, and stops pending retries. */
export function closeMail(): void {
  generation += 1;
  closeTransporter();
}

function closeTransporter(): void {
  smtp?.transporter.close();
  smtp = undefined;
}

/** The folder the outbox writes to. */
export function outboxDir(): string {
  return path.join(getConfig().local.dataDir, 'mail');
}

async function writeToOutbox(message: MailMessage): Promise<void> {
  const nodemailer = await import('nodemailer');
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
      await (await smtpTransporter()).sendMail(envelope(message));
      return;
    } catch (error) {
      const delay = SMTP_RETRY_DELAYS_MS[attempt];
      if (delay === undefined) {
        logger.error('Mail not delivered after retries', { mail: describe(message), attempts: attempt + 1, error: error as Error });
        return;
      }
      logger.warn('Mail delivery failed; retrying', { mail: describe(message), attempt: attempt + 1, error: error as Error });
      await new Promise((resolve) => setTimeout(resolve, delay).unref());
    }
  }
}

async function smtpTransporter(): Promise<Transporter> {
  const url = getConfig().mail.smtpUrl ?? '';
  if (smtp?.url !== url) {
    closeTransporter();
    const nodemailer = await import('nodemailer');
    // Short timeouts: a stuck server must not hold a container (or the retries) for minutes.
    const parsed = new URL(url);
    smtp = {
      url,
      transporter: nodemailer.createTransport({
        host: parsed.hostname.replace(/^\[|\]$/g, ''),
        port: Number(parsed.port) || (parsed.protocol === 'smtps:' ? 465 : 587),
        secure: parsed.protocol === 'smtps:',
        ...(parsed.username ? { auth: { user: decodeURIComponent(parsed.username), pass: decodeURIComponent(parsed.password) } } : {}),
        connectionTimeout: 5000,
        greetingTimeout: 5000,
        socketTimeout: 10_000,
      }),
    };
  }
  return smtp.transporter;
}

function envelope(message: MailMessage) {
  return { from: getConfig().mail.from, to: message.to, subject: message.subject, text: message.text, html: message.html };
}

function track(delivery: Promise<void>): void {
  inFlight.add(delivery);
  void delivery.finally(() => inFlight.delete(delivery));
}

/** What a log line may say about a message: no local part, no body, no link. */
function describe(message: MailMessage): { readonly toDomain: string; readonly subject: string } {
  return { toDomain: message.to.split('@').pop() ?? '', subject: message.subject };
}
