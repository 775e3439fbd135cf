import * as z from '../zod';

export interface MailMessage {
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string;
  /** The one link the message is about; the outbox prints it on the console. */
  readonly link?: string;
}

/** A message as it travels on the mail queue (no console-only link), checked when it arrives. */
export const QueuedMail = z.object({
  to: z.string().check(z.minLength(3), z.maxLength(320), z.regex(/^[^\s@<>]+@[^\s@<>]+$/)),
  subject: z.string().check(z.minLength(1), z.maxLength(500), z.regex(/^[^\r\n]*$/)),
  text: z.string().check(z.maxLength(100_000)),
  html: z.string().check(z.maxLength(200_000)),
});
export type QueuedMail = z.infer<typeof QueuedMail>;

export const queuedMail = (message: MailMessage): QueuedMail => ({ to: message.to, subject: message.subject, text: message.text, html: message.html });

/** What a log line may say about a message: no local part, no body, no link. */
export function describeMail(message: Pick<MailMessage, 'to' | 'subject'>): { readonly toDomain: string; readonly subject: string } {
  return { toDomain: message.to.split('@').pop() ?? '', subject: message.subject };
}
