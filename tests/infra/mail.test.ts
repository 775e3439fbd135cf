/**
 * Mail in AWS (`-c mailFrom=`): VPC functions that send mail put it on an SQS queue through an
 * SQS endpoint; a mailer function outside the VPC sends it with SES as that address only.
 * Without mailFrom none of it exists. No route sends mail yet, so the tests give one route the
 * `mail` need, as the account flows will.
 */
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { routes, type Route } from '../../functions/routes';
import { MAIL_MAX_RECEIVES, mailAddress } from '../../infra/constructs/mail';
import { readSettings, SettingsError } from '../../infra/settings';
import { functionId, SecureUploadStack } from '../../infra/stack';

type Json = Record<string, unknown>;

const withMail: readonly Route[] = routes.map((route) =>
  route.path === '/auth/register' ? { ...route, needs: { ...route.needs, mail: true } } : route,
);

function synth(context: Record<string, unknown>, table: readonly Route[] = withMail): Template {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } });
  const stack = new SecureUploadStack(app, 'Mail', { settings: readSettings((key) => app.node.tryGetContext(key)), routes: table });
  return Template.fromStack(stack);
}

function lambda(template: Template, id: string): { logicalId: string; props: Json } {
  const all = template.findResources('AWS::Lambda::Function') as Record<string, { Properties: Json }>;
  const entry = Object.entries(all).find(([logicalId]) => logicalId.startsWith(id) && !logicalId.includes('Logs'));
  if (!entry) throw new Error(`no function ${id}`);
  return { logicalId: entry[0], props: entry[1].Properties };
}

const FROM = 'Uploads <no-reply@files.example.com>';

describe('without mailFrom', () => {
  const template = synth({});

  it('creates no mail queue, mailer or SQS endpoint, and sends mail nowhere', () => {
    // The sweep's dead-letter queue is the stack's only queue.
    expect(Object.keys(template.findResources('AWS::SQS::Queue'))).toEqual([expect.stringMatching(/^SweepUploadsDeadLetters/)]);
    expect(Object.keys(template.findResources('AWS::Lambda::EventSourceMapping'))).toEqual([]);
    const endpoints = JSON.stringify(template.findResources('AWS::EC2::VPCEndpoint'));
    expect(endpoints).not.toContain('.sqs');
    const env = (lambda(template, functionId('auth-register')).props.Environment as { Variables: Json }).Variables;
    expect(env).not.toHaveProperty('MAIL_TRANSPORT');
    expect(env).not.toHaveProperty('MAIL_QUEUE_URL');
  });
});

describe('with mailFrom', () => {
  const template = synth({ mailFrom: FROM });
  const queues = template.findResources('AWS::SQS::Queue') as Record<string, { Properties: Json }>;
  const queueId = Object.keys(queues).find((id) => id.startsWith('MailQueue'));
  const deadLettersId = Object.keys(queues).find((id) => id.startsWith('MailDeadLetters'));

  it('has an encrypted mail queue whose failures go to a dead-letter queue after a few receives', () => {
    expect(queueId && deadLettersId).toBeTruthy();
    expect(queues[queueId ?? '']?.Properties).toMatchObject({
      SqsManagedSseEnabled: true,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [deadLettersId, 'Arn'] }, maxReceiveCount: MAIL_MAX_RECEIVES },
      VisibilityTimeout: 180,
    });
    expect(queues[deadLettersId ?? '']?.Properties).toMatchObject({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 86_400 });
  });

  it('runs the mailer outside the VPC on the queue, retrying only the failed messages of a batch', () => {
    const mailer = lambda(template, 'MailMailer');
    expect(mailer.props).not.toHaveProperty('VpcConfig');
    const env = (mailer.props.Environment as { Variables: Json }).Variables;
    expect(env).toMatchObject({ MAIL_FROM: FROM });
    expect(env).not.toHaveProperty('MAIL_QUEUE_URL'); // it sends what the queue holds; it queues nothing
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
      FunctionName: { Ref: mailer.logicalId },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 2 },
    });
  });

  it('lets the mailer send with SES only as the configured address', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'ses:SendEmail',
            Condition: { StringEquals: { 'ses:FromAddress': 'no-reply@files.example.com' } },
          }),
        ]),
      },
    });
    expect(mailAddress(FROM)).toBe('no-reply@files.example.com');
    expect(mailAddress('plain@example.com')).toBe('plain@example.com');
  });

  it('points the functions that mail at the queue, lets them send to it, and links to the API by default', () => {
    const register = lambda(template, functionId('auth-register'));
    const env = (register.props.Environment as { Variables: Json }).Variables;
    expect(env).toMatchObject({ MAIL_TRANSPORT: 'ses', MAIL_FROM: FROM, MAIL_QUEUE_URL: { Ref: queueId } });
    expect(JSON.stringify(env.APP_URL)).toContain('execute-api');
    const role = (register.props.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const policies = Object.values(template.findResources('AWS::IAM::Policy') as Record<string, { Properties: Json }>).filter((policy) =>
      JSON.stringify(policy.Properties.Roles).includes(`"${role}"`),
    );
    expect(JSON.stringify(policies)).toContain('sqs:SendMessage');
    // Functions that do not mail neither know the queue nor may write to it.
    const refresh = lambda(template, functionId('auth-refresh'));
    expect(JSON.stringify(refresh.props.Environment)).not.toContain('MAIL_QUEUE_URL');
  });

  it('gives every database function the one EMAIL_VERIFICATION of the deployment: off without mailFrom', () => {
    const variable = (tpl: Template, handler: string) =>
      ((lambda(tpl, functionId(handler)).props.Environment as { Variables: Json }).Variables).EMAIL_VERIFICATION;
    expect([variable(template, 'auth-register'), variable(template, 'auth-login'), variable(template, 'auth-me')]).toEqual(['optional', 'optional', 'optional']);
    const required = synth({ mailFrom: FROM, emailVerification: 'required' });
    expect([variable(required, 'auth-register'), variable(required, 'auth-login')]).toEqual(['required', 'required']);
    const noMail = synth({});
    expect([variable(noMail, 'auth-register'), variable(noMail, 'auth-login')]).toEqual(['off', 'off']);
  });

  it('reaches SQS from the isolated subnets through a private endpoint open only to the functions', () => {
    const endpoints = Object.values(template.findResources('AWS::EC2::VPCEndpoint') as Record<string, { Properties: Json }>);
    const sqs = endpoints.find((endpoint) => JSON.stringify(endpoint.Properties.ServiceName).includes('.sqs'));
    expect(sqs?.Properties).toMatchObject({ VpcEndpointType: 'Interface', PrivateDnsEnabled: true });
  });

  it('uses -c appUrl for links when given', () => {
    const custom = synth({ mailFrom: FROM, appUrl: 'https://files.example.com/' });
    const env = (lambda(custom, functionId('auth-register')).props.Environment as { Variables: Json }).Variables;
    expect(env.APP_URL).toBe('https://files.example.com');
    // Share URLs use the same base.
    const shares = (lambda(custom, functionId('shares-create')).props.Environment as { Variables: Json }).Variables;
    expect(shares.APP_URL).toBe('https://files.example.com');
  });

  it('alarms on mail that ran out of retries and on mailer failures', () => {
    const alarms = JSON.stringify(template.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms).toContain('mail dead-letter queue');
    expect(alarms).toContain('The mailer function failed');
  });
});

describe('settings', () => {
  it.each(['not-an-address', 'a@b', 'Name <a@b.example', 'x@y.example, z@y.example', 'Evil\r\nBcc: <a@b.example>'])('refuses mailFrom %p', (value) => {
    expect(() => readSettings((key) => (key === 'mailFrom' ? value : undefined))).toThrow(SettingsError);
  });
  it.each(['http://files.example.com', 'files.example.com', 'https://'])('refuses appUrl %p', (value) => {
    expect(() => readSettings((key) => (key === 'appUrl' ? value : undefined))).toThrow(SettingsError);
  });
});

describe('what a Lambda bundle of lib/mail holds', () => {
  /** Bundles a handler that sends mail the way ApiFunction does (its define included). */
  async function bundle(lambda: boolean): Promise<string> {
    const { build } = await import('esbuild');
    const result = await build({
      stdin: { contents: "import { sendMail } from './lib/mail/mailer'; export const handler = () => sendMail({ to: 'a@b.example', subject: 's', text: 't', html: 'h' });", resolveDir: process.cwd(), loader: 'ts' },
      bundle: true,
      write: false,
      platform: 'node',
      format: 'cjs',
      target: 'node22',
      minify: true,
      mainFields: ['module', 'main'],
      external: ['better-sqlite3'],
      define: { 'process.env.TRACING_ENABLED': '"false"', ...(lambda ? { 'process.env.LAMBDA_BUNDLE': '"true"' } : {}) },
      logLevel: 'silent',
    });
    return result.outputFiles[0]?.text ?? '';
  }

  it('drops nodemailer and the local transports from Lambda bundles, and keeps them locally', async () => {
    const [inLambda, local] = await Promise.all([bundle(true), bundle(false)]);
    expect(local).toContain('streamTransport');
    expect(inLambda).not.toContain('streamTransport');
    expect(inLambda).not.toContain('nodemailer');
    expect(inLambda).toContain('AmazonSQS'); // the ses transport's queue is all that is left
    expect(inLambda.length).toBeLessThan(local.length / 2);
  });
});
