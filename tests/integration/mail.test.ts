import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SMTPServer, type SMTPServerDataStream } from 'smtp-server';
import { ConfigError, loadConfig } from '../../lib/config';
import { outboxDir } from '../../lib/mail/local-transports';
import { closeMail, sendMail, settleMail } from '../../lib/mail/mailer';
import { linkMail } from '../../lib/mail/templates';
import { resetRuntime } from '../helpers/runtime';

const message = linkMail('Ada.Lovelace@example.com', {
  subject: 'Verify your email address',
  lead: 'Someone (hopefully you) created an account with <this> address.',
  action: 'Verify my address',
  link: 'http://127.0.0.1:8000/auth/verify-email?token=abc&x=1',
  footer: 'The link works once, for 24 hours.',
});

let output: string[];
let restoreOutput: () => void;

beforeEach(() => {
  process.env.DATA_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'sua-mail-'));
  delete process.env.MAIL_TRANSPORT;
  delete process.env.SMTP_URL;
  resetRuntime();
  output = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    output.push(String(chunk));
    return true;
  });
  restoreOutput = () => spy.mockRestore();
});
afterEach(async () => {
  restoreOutput();
  await closeMail();
});

describe('outbox (the local default)', () => {
  it('writes one RFC 5322 file with a text and an HTML part, and prints recipient, subject and link', async () => {
    await sendMail(message);
    const files = fs.readdirSync(outboxDir());
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^\d{4}-\d\d-\d\dT[\d-]+Z-[0-9a-f-]{36}\.eml$/);
    const raw = fs.readFileSync(path.join(outboxDir(), files[0]!), 'utf8');
    expect(raw).toMatch(/^To: Ada\.Lovelace@example\.com$/m);
    expect(raw).toMatch(/^Subject: Verify your email address$/m);
    expect(raw).toMatch(/^From: Secure Upload API <no-reply@localhost>$/m);
    expect(raw).toMatch(/^Content-Type: multipart\/alternative;/m);
    expect(raw).toMatch(/^Content-Type: text\/plain/m);
    expect(raw).toMatch(/^Content-Type: text\/html/m);
    // The HTML escapes what it interpolates (the link's & included).
    expect(raw).toContain('&lt;this&gt;');
    expect(raw).toContain('token=3Dabc&amp;x=3D1'); // quoted-printable of token=abc&amp;x=1
    expect(output.join('')).toBe(`Mail to Ada.Lovelace@example.com: Verify your email address\n  ${message.link}\n`);
  });

  it('keeps two messages sent at once apart', async () => {
    await Promise.all([sendMail(message), sendMail({ ...message, subject: 'Second' })]);
    expect(fs.readdirSync(outboxDir()).filter((name) => name.endsWith('.eml'))).toHaveLength(2);
  });

  it('never fails the caller when the outbox cannot be written', async () => {
    fs.writeFileSync(outboxDir(), 'a file where the folder should be');
    await expect(sendMail(message)).resolves.toBeUndefined();
  });
});

describe('off', () => {
  it('drops the message: nothing written, nothing printed', async () => {
    process.env.MAIL_TRANSPORT = 'off';
    resetRuntime();
    await sendMail(message);
    expect(fs.existsSync(outboxDir())).toBe(false);
    expect(output.join('')).toBe('');
  });
});

describe('smtp', () => {
  interface Received {
    readonly from: string | undefined;
    readonly to: string[];
    readonly raw: string;
  }

  /** A real SMTP server on loopback that refuses the first `failFirst` messages with a 451. */
  async function startSmtp(failFirst = 0): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
    const received: Received[] = [];
    let refusals = failFirst;
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData(stream: SMTPServerDataStream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          if (refusals > 0) {
            refusals -= 1;
            callback(Object.assign(new Error('Try again later'), { responseCode: 451 }));
            return;
          }
          received.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined,
            to: session.envelope.rcptTo.map((address) => address.address),
            raw: Buffer.concat(chunks).toString('utf8'),
          });
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.server.address() as { port: number };
    return { url: `smtp://127.0.0.1:${port}`, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  }

  it('delivers in the background: sendMail returns before the server has the message', async () => {
    const smtp = await startSmtp();
    try {
      process.env.MAIL_TRANSPORT = 'smtp';
      process.env.SMTP_URL = smtp.url;
      process.env.MAIL_FROM = 'Uploads <no-reply@uploads.example>';
      resetRuntime();
      await sendMail(message);
      expect(smtp.received).toHaveLength(0);
      await settleMail();
      expect(smtp.received).toHaveLength(1);
      expect(smtp.received[0]).toMatchObject({ from: 'no-reply@uploads.example', to: ['Ada.Lovelace@example.com'] });
      expect(smtp.received[0]!.raw).toMatch(/^Subject: Verify your email address\r?$/m);
    } finally {
      delete process.env.MAIL_FROM;
      await smtp.close();
    }
  });

  it('retries a refused message and delivers it once', async () => {
    const smtp = await startSmtp(1);
    try {
      process.env.MAIL_TRANSPORT = 'smtp';
      process.env.SMTP_URL = smtp.url;
      resetRuntime();
      await sendMail(message);
      await settleMail();
      expect(smtp.received).toHaveLength(1);
    } finally {
      await smtp.close();
    }
  });

  it('an unreachable server fails nobody: sendMail resolves at once', async () => {
    process.env.MAIL_TRANSPORT = 'smtp';
    process.env.SMTP_URL = 'smtp://127.0.0.1:1'; // nothing listens on port 1
    resetRuntime();
    await expect(sendMail(message)).resolves.toBeUndefined();
    await closeMail(); // the retries would go on in the background; the test does not wait ~10 s for them
  });
});

describe('configuration', () => {
  const base = { JWT_SECRET: 'x'.repeat(32) };

  it('defaults: outbox locally, off in Lambda; APP_URL is the local API locally and unset in Lambda', () => {
    expect(loadConfig({ ...base, PORT: '8123' })).toMatchObject({ mail: { transport: 'outbox' }, appUrl: 'http://127.0.0.1:8123' });
    expect(loadConfig({ ...base, AWS_LAMBDA_FUNCTION_NAME: 'f' })).toMatchObject({ mail: { transport: 'off' }, appUrl: undefined });
    const queue = 'https://sqs.eu-west-1.amazonaws.com/123456789012/mail';
    expect(loadConfig({ ...base, AWS_LAMBDA_FUNCTION_NAME: 'f', MAIL_TRANSPORT: 'ses', MAIL_FROM: 'a@b.example', MAIL_QUEUE_URL: queue }).mail).toEqual({
      transport: 'ses',
      from: 'a@b.example',
      smtpUrl: undefined,
      queueUrl: queue,
    });
    expect(loadConfig({ ...base, APP_URL: 'https://files.example.com/' }).appUrl).toBe('https://files.example.com');
  });

  it.each([
    [{ MAIL_TRANSPORT: 'smtp' }, 'SMTP_URL is required'],
    [{ MAIL_TRANSPORT: 'carrier-pigeon' }, 'MAIL_TRANSPORT'],
    [{ MAIL_TRANSPORT: 'smtp', SMTP_URL: 'http://mail' }, 'SMTP_URL'],
    [{ MAIL_FROM: 'no address here' }, 'MAIL_FROM'],
    [{ MAIL_FROM: 'a@b.example\r\nBcc: victim@example.com' }, 'MAIL_FROM'],
    [{ APP_URL: 'javascript:alert(1)' }, 'APP_URL'],
    [{ MAIL_TRANSPORT: 'ses', MAIL_FROM: 'a@b.example' }, 'MAIL_QUEUE_URL'],
    [{ MAIL_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/mail' }, 'only used with MAIL_TRANSPORT=ses'],
    [{ MAIL_TRANSPORT: 'ses', MAIL_FROM: 'a@b.example', MAIL_QUEUE_URL: 'https://evil.example/mail' }, 'MAIL_QUEUE_URL'],
    [{ AWS_LAMBDA_FUNCTION_NAME: 'f', MAIL_TRANSPORT: 'smtp', SMTP_URL: 'smtp://mail:25' }, 'does not work in Lambda'],
  ])('refuses %o with one line naming the variable', (env, expected) => {
    expect(() => loadConfig({ ...base, ...env })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, ...env })).toThrow(expected);
  });
});
