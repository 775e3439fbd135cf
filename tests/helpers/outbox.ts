import fs from 'node:fs';
import path from 'node:path';
import { outboxDir } from '../../lib/mail/local-transports';

/** One message of the outbox (DATA_DIR/mail/*.eml), decoded enough to read its link. */
export interface OutboxMail {
  readonly file: string;
  readonly to: string;
  readonly subject: string;
  /** The message with quoted-printable soft breaks and `=3D` undone. */
  readonly text: string;
}

/** Every message in the outbox, oldest first (the file names sort by time). */
export function readOutbox(): OutboxMail[] {
  const dir = outboxDir();
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.eml'))
    .sort()
    .map((name) => {
      const raw = fs.readFileSync(path.join(dir, name), 'utf8');
      return {
        file: name,
        to: /^To: (.*)$/m.exec(raw)?.[1]?.trim() ?? '',
        subject: /^Subject: (.*)$/m.exec(raw)?.[1]?.trim() ?? '',
        text: raw.replace(/=\r?\n/g, '').replace(/=3D/g, '='),
      };
    });
}

/** The messages sent to `to`, oldest first. */
export const mailsTo = (to: string): OutboxMail[] => readOutbox().filter((mail) => mail.to.toLowerCase() === to.toLowerCase());

/** The token of the link to `linkPath` in a message (throws if there is none). */
export function tokenFrom(mail: OutboxMail | undefined, linkPath: string): string {
  const escaped = linkPath.replace(/[/.?]/g, (char) => `\\${char}`);
  const match = new RegExp(`${escaped}\\?token=([A-Za-z0-9_-]+)`).exec(mail?.text ?? '');
  if (!match?.[1]) throw new Error(`no ${linkPath} link in ${mail?.file ?? 'no mail'}`);
  return match[1];
}
