/**
 * Operations in the synthesized template: the encrypted alarm topic and its optional e-mail
 * subscription, the alarms (API 5xx rate, per-function errors and throttles, the sweep, EFS
 * connections), the sweep's dead-letter queue, and access log lines that join to function logs.
 */
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { handlerNames } from '../../functions/routes';
import { ACCESS_LOG_FIELDS } from '../../infra/constructs/http-api';
import { EFS_CONNECTION_LIMIT } from '../../infra/constructs/monitoring';
import { readSettings, SettingsError } from '../../infra/settings';
import { functionId, SecureUploadStack } from '../../infra/stack';

type Json = Record<string, unknown>;

function synth(context: Record<string, unknown> = {}): Template {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } });
  return Template.fromStack(new SecureUploadStack(app, 'Ops', { settings: readSettings((key) => app.node.tryGetContext(key)) }));
}

const template = synth();
const logicalId = (type: string, prefix: string): string => {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.startsWith(prefix) && /^[0-9A-F]{8}$/.test(id.slice(prefix.length)));
  if (ids.length !== 1) throw new Error(`expected one ${type} named ${prefix}*, found ${ids.join(', ') || 'none'}`);
  return ids[0] ?? '';
};
const topicId = logicalId('AWS::SNS::Topic', 'MonitoringTopic');
const alarms = (): Json[] => Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((alarm) => (alarm as Json).Properties as Json);
/** Alarms on one metric of one dimension value (a Ref or GetAtt to a resource). */
const alarmsOn = (metricName: string, dimension: string, target: unknown): Json[] =>
  alarms().filter((alarm) => alarm.MetricName === metricName && JSON.stringify(alarm.Dimensions) === JSON.stringify([{ Name: dimension, Value: target }]));

describe('the alarm topic', () => {
  it('is encrypted with a rotating key that CloudWatch may use, and refuses plain HTTP', () => {
    const keyId = logicalId('AWS::KMS::Key', 'MonitoringTopicKey');
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Allow', Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'] }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: topicId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Condition: Match.objectLike({ ArnLike: { 'aws:SourceArn': Match.anyValue() } }),
          }),
        ]),
      },
    });
  });

  it('has no subscription unless -c alarmEmail is given, then one e-mail subscription', () => {
    template.resourceCountIs('AWS::SNS::Subscription', 0);
    const subscribed = synth({ alarmEmail: 'ops@example.com' });
    subscribed.resourceCountIs('AWS::SNS::Subscription', 1);
    subscribed.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com', TopicArn: Match.anyValue() });
  });

  it('validates alarmEmail like every other setting', () => {
    const read = (values: Record<string, string>) => readSettings((key) => values[key]);
    expect(read({}).alarmEmail).toBeUndefined();
    expect(read({ alarmEmail: ' ops@example.com ' }).alarmEmail).toBe('ops@example.com');
    for (const bad of ['ops', 'ops@', '@example.com', 'ops@example', 'a@b.com,c@d.com', 'Ops <ops@example.com>', 'o ps@example.com']) {
      expect(() => read({ alarmEmail: bad })).toThrow(SettingsError);
    }
  });

  it('receives every alarm, both when it fires and when it clears', () => {
    expect(alarms().length).toBeGreaterThan(0);
    for (const alarm of alarms()) {
      expect(alarm.AlarmActions).toEqual([{ Ref: topicId }]);
      expect(alarm.OKActions).toEqual([{ Ref: topicId }]);
      expect(alarm.AlarmDescription).toEqual(expect.any(String));
    }
  });
});

describe('alarms', () => {
  const functions = [...handlerNames(), 'sweep-uploads'].map((handler) => ({ handler, id: logicalId('AWS::Lambda::Function', functionId(handler)) }));

  it('watch Errors and Throttles of every function, the sweep included', () => {
    for (const { handler, id } of functions) {
      for (const metric of ['Errors', 'Throttles']) {
        const found = alarmsOn(metric, 'FunctionName', { Ref: id });
        expect({ handler, metric, count: found.length }).toEqual({ handler, metric, count: 1 });
        expect(found[0]).toMatchObject({ Namespace: 'AWS/Lambda', Statistic: 'Sum', Threshold: 1, TreatMissingData: 'notBreaching' });
      }
    }
    // API functions: a fault that persists (2 of 3 five-minute windows); the hourly sweep: one failure.
    const upload = alarmsOn('Errors', 'FunctionName', { Ref: logicalId('AWS::Lambda::Function', functionId('upload')) })[0];
    expect(upload).toMatchObject({ Period: 300, EvaluationPeriods: 3, DatapointsToAlarm: 2 });
    const sweep = alarmsOn('Errors', 'FunctionName', { Ref: logicalId('AWS::Lambda::Function', 'SweepUploads') })[0];
    expect(sweep).toMatchObject({ Period: 3600, EvaluationPeriods: 1 });
  });

  it('watch the API 5xx rate as a share of requests, ignoring quiet windows', () => {
    const [rate, ...others] = alarms().filter((alarm) => Array.isArray(alarm.Metrics));
    expect(others).toEqual([]);
    const metrics = (rate?.Metrics ?? []) as Json[];
    const expression = metrics.find((metric) => metric.Expression);
    expect(expression).toMatchObject({ ReturnData: true, Expression: expect.stringMatching(/errors.*\/ *requests/) });
    const apiId = logicalId('AWS::ApiGatewayV2::Api', 'HttpApi');
    for (const [id, name] of [['errors', '5xx'], ['requests', 'Count']] as const) {
      expect(metrics.find((metric) => metric.Id === id)).toMatchObject({
        ReturnData: false,
        MetricStat: { Metric: { Namespace: 'AWS/ApiGateway', MetricName: name, Dimensions: [{ Name: 'ApiId', Value: { Ref: apiId } }] }, Stat: 'Sum', Period: 300 },
      });
    }
    expect(rate).toMatchObject({ Threshold: 5, ComparisonOperator: 'GreaterThanThreshold', EvaluationPeriods: 3, DatapointsToAlarm: 2, TreatMissingData: 'notBreaching' });
  });

  it('warn at 80% of the EFS connection limit', () => {
    const fileSystem = logicalId('AWS::EFS::FileSystem', 'DatabaseFileSystem');
    const [connections, ...others] = alarmsOn('ClientConnections', 'FileSystemId', { Ref: fileSystem });
    expect(others).toEqual([]);
    expect(EFS_CONNECTION_LIMIT).toBe(25_000);
    expect(connections).toMatchObject({ Namespace: 'AWS/EFS', Statistic: 'Sum', Period: 60, Threshold: 20_000, TreatMissingData: 'notBreaching' });
  });

  it('count: two per function, the API rate, the sweep schedule and its queue, EFS connections', () => {
    template.resourceCountIs('AWS::CloudWatch::Alarm', functions.length * 2 + 4);
  });
});

describe('the scheduled sweep', () => {
  const queueId = logicalId('AWS::SQS::Queue', 'SweepUploadsDeadLetters');
  const ruleId = logicalId('AWS::Events::Rule', 'SweepUploadsSchedule');

  it('sends events it could not deliver to an encrypted, TLS-only dead-letter queue kept 14 days', () => {
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queueId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          // EventBridge may put the rule's undeliverable events there, and only this rule's.
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'events.amazonaws.com' },
            Action: 'sqs:SendMessage',
            Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [ruleId, 'Arn'] } } },
          }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::Events::Rule', {
      Targets: [
        Match.objectLike({
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queueId, 'Arn'] } },
          RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 },
        }),
      ],
    });
  });

  it('alarms on failed invocations of the rule and on anything waiting in the queue', () => {
    expect(alarmsOn('FailedInvocations', 'RuleName', { Ref: ruleId })).toEqual([expect.objectContaining({ Namespace: 'AWS/Events', Threshold: 1 })]);
    const [waiting] = alarmsOn('ApproximateNumberOfMessagesVisible', 'QueueName', { 'Fn::GetAtt': [queueId, 'QueueName'] });
    // Missing data keeps the state: SQS stops reporting an idle queue, which is no all-clear.
    expect(waiting).toMatchObject({ Namespace: 'AWS/SQS', Statistic: 'Maximum', Threshold: 1, TreatMissingData: 'ignore' });
  });
});

describe('access logs', () => {
  it('are one JSON object per request with both request ids', () => {
    const [stage] = Object.values(template.findResources('AWS::ApiGatewayV2::Stage')) as Json[];
    const format = ((stage?.Properties as Json).AccessLogSettings as Json).Format as string;
    const fields = JSON.parse(format) as Record<string, string>;
    expect(fields).toEqual(ACCESS_LOG_FIELDS);
    // API Gateway's id (the apigw-requestid header) and Lambda's: the function's awsRequestId,
    // which its log lines and its problem+json `instance` carry.
    expect(fields).toMatchObject({
      requestId: '$context.requestId',
      integrationRequestId: '$context.integration.requestId',
      status: '$context.status',
      routeKey: '$context.routeKey',
      integrationError: '$context.integrationErrorMessage',
    });
  });
});
