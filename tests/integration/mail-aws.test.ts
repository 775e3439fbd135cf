// The AWS half of mail: VPC functions put messages on SQS (signed JSON 1.0 SendMessage), the
// mailer function sends them with SES v2. Both services are stand-ins on loopback that speak
// their real protocols; the SQS one verifies the signature like AWS.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { sendMail } from '../../lib/mail/mailer';
import { linkMail } from '../../lib/mail/templates';
import { startFakeAwsJsonService, SQS_SEND_MESSAGE, type FakeSecretsManager } from '../helpers/fake-secrets-manager';
import { resetRuntime } from '../helpers/runtime';
import { lambdaContext } from '../../infra/local/event';

const REGION = 'eu-west-1';
const CREDENTIALS = { accessKeyId: 'AKIAFAKEFAKEFAKE', secretAccessKey: 'fake-secret-access-key', sessionToken: 'fake-session-token' };
const message = linkMail('bob@example.com', {
  subject: 'Reset your password',
  lead: 'Someone asked to reset the password of your account.',
  action: 'Choose a new password',
  link: 'https://files.example.com/reset?token=secret-token',
  footer: 'The link works once, for 30 minutes.',
});

interface SesCall {
  readonly path: string;
  readonly authorization: string;
  readonly body: {
    FromEmailAddress?: string;
    Destination?: { ToAddresses?: string[] };
    Content?: { Simple?: { Subject?: { Data?: string }; Body?: { Text?: { Data?: string }; Html?: { Data?: string } } } };
  };
}

/** SES v2's SendEmail as the SDK calls it (REST JSON); refuses recipients at `refused.example`. */
async function startFakeSes(): Promise<{ url: string; calls: SesCall[]; close(): Promise<void> }> {
  const calls: SesCall[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as SesCall['body'];
      calls.push({ path: req.url ?? '', authorization: String(req.headers.authorization ?? ''), body });
      if (body.Destination?.ToAddresses?.some((to) => to.endsWith('@refused.example'))) {
        res.writeHead(400, { 'content-type': 'application/json', 'x-amzn-errortype': 'MessageRejected' });
        res.end(JSON.stringify({ message: 'Email address is not verified.' }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ MessageId: `m-${calls.length}` }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, calls, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

let sqs: FakeSecretsManager;
let ses: Awaited<ReturnType<typeof startFakeSes>>;
const saved = { ...process.env };

beforeAll(async () => {
  sqs = await startFakeAwsJsonService(SQS_SEND_MESSAGE, CREDENTIALS, REGION);
  ses = await startFakeSes();
});
afterAll(async () => {
  process.env = saved;
  resetRuntime();
  await sqs.close();
  await ses.close();
});
beforeEach(() => {
  sqs.calls.length = 0;
  ses.calls.length = 0;
  Object.assign(process.env, {
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    AWS_SESSION_TOKEN: CREDENTIALS.sessionToken,
    AWS_ENDPOINT_URL_SQS: sqs.url,
    AWS_ENDPOINT_URL_SESV2: ses.url,
    MAIL_FROM: 'Uploads <no-reply@files.example.com>',
  });
  delete process.env.MAIL_TRANSPORT; // the mailer function's environment: it queues nothing
  delete process.env.MAIL_QUEUE_URL;
  resetRuntime();
});

describe('a VPC function with MAIL_QUEUE_URL', () => {
  const queueUrl = 'https://sqs.eu-west-1.amazonaws.com/123456789012/secure-upload-mail';

  it('puts the message on the queue with one signed SendMessage, and calls no SES', async () => {
    Object.assign(process.env, { MAIL_TRANSPORT: 'ses', MAIL_QUEUE_URL: queueUrl });
    resetRuntime();
    sqs.reply = () => ({ status: 200, body: { MessageId: 'q-1', MD5OfMessageBody: 'x' } });
    await sendMail(message);
    expect(sqs.calls).toHaveLength(1);
    expect(sqs.calls[0]).toMatchObject({ target: 'AmazonSQS.SendMessage', body: { QueueUrl: queueUrl } });
    expect(sqs.calls[0]?.refused).toBeUndefined();
    expect(JSON.parse(sqs.calls[0]?.body.MessageBody ?? '')).toEqual({ to: message.to, subject: message.subject, text: message.text, html: message.html });
    expect(ses.calls).toHaveLength(0);
  });

  it('never fails the caller when SQS keeps failing (retried, then logged)', async () => {
    Object.assign(process.env, { MAIL_TRANSPORT: 'ses', MAIL_QUEUE_URL: queueUrl });
    resetRuntime();
    sqs.reply = () => ({ status: 500, body: { __type: 'InternalFailure' } });
    await expect(sendMail(message)).resolves.toBeUndefined();
    expect(sqs.calls.length).toBeGreaterThan(1);
  });
});

describe('the mailer function (outside the VPC)', () => {
  function record(body: string, messageId: string): SQSRecord {
    return {
      messageId,
      receiptHandle: `r-${messageId}`,
      body,
      attributes: { ApproximateReceiveCount: '1', SentTimestamp: '0', SenderId: 'x', ApproximateFirstReceiveTimestamp: '0' },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:eu-west-1:123456789012:secure-upload-mail',
      awsRegion: REGION,
    };
  }
  const queued = (to: string) => JSON.stringify({ to, subject: message.subject, text: message.text, html: message.html });

  it('sends each message with SES and reports only the refused one for a retry; drops a body that is no message', async () => {
    const { handler } = await import('../../functions/mailer');
    const event: SQSEvent = {
      Records: [record(queued('carol@example.com'), 'a'), record(queued('dave@refused.example'), 'b'), record('{"not": "mail"}', 'c')],
    };
    const context: Context = lambdaContext('mailer');
    await expect(handler(event, context)).resolves.toEqual({ batchItemFailures: [{ itemIdentifier: 'b' }] });
    const sent = ses.calls.filter((call) => call.body.Destination?.ToAddresses?.[0] === 'carol@example.com');
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      path: '/v2/email/outbound-emails',
      body: {
        FromEmailAddress: 'Uploads <no-reply@files.example.com>',
        Content: { Simple: { Subject: { Data: message.subject }, Body: { Text: { Data: message.text }, Html: { Data: message.html } } } },
      },
    });
    expect(sent[0]?.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIAFAKEFAKEFAKE\/\d{8}\/eu-west-1\/ses\/aws4_request/);
    expect(ses.calls.some((call) => JSON.stringify(call.body).includes('not'))).toBe(false);
  });
});
