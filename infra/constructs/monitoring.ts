import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { IHttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { Alarm, ComparisonOperator, MathExpression, Metric, TreatMissingData, type IAlarm } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IFileSystem } from 'aws-cdk-lib/aws-efs';
import type { IDatabaseCluster } from 'aws-cdk-lib/aws-rds';
import type { IRule } from 'aws-cdk-lib/aws-events';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/**
 * Amazon EFS's limit of client connections per file system. Each Lambda execution environment
 * that mounts the file system holds one connection for its lifetime, so this caps the
 * concurrency of all database functions together (Lambda developer guide, "Using Amazon EFS
 * with Lambda": "Amazon EFS supports up to 25,000 connections per file system").
 */
export const EFS_CONNECTION_LIMIT = 25_000;
/** Warn at this share of the limit: time to cap concurrency before new environments fail to mount. */
export const EFS_CONNECTION_ALARM_SHARE = 0.8;

export interface MonitoredFunction {
  /** The handler name (`auth-login`), used in alarm descriptions. */
  readonly name: string;
  readonly fn: IFunction;
}

export interface MonitoringProps {
  /** Shown as the sender of alarm mails. */
  readonly displayName: string;
  readonly api: IHttpApi;
  /** Every function behind the API. */
  readonly functions: readonly MonitoredFunction[];
  /** The scheduled sweep: its function, the EventBridge rule that invokes it, and that target's dead-letter queue. */
  readonly sweeper: { readonly fn: IFunction; readonly rule: IRule; readonly deadLetterQueue: IQueue };
  /** The SQLite database's file system (`database=sqlite`); its connection count is alarmed. */
  readonly fileSystem?: IFileSystem;
  /** The Aurora cluster (`database=aurora`); running at its capacity ceiling is alarmed. */
  readonly auroraCluster?: IDatabaseCluster;
  /** With mail: the mailer function and the queue where mail it could not send ends up. */
  readonly mailer?: { readonly fn: IFunction; readonly deadLetterQueue: IQueue };
  /** With GuardDuty: the scan-result function and the queue of results it could not record. */
  readonly scanResults?: { readonly fn: IFunction; readonly deadLetterQueue: IQueue };
  /** Subscribed to the topic when given (AWS mails a confirmation link first). */
  readonly alarmEmail?: string;
}

/**
 * CloudWatch alarms for what an operator must act on, all sent (on ALARM and back to OK) to one
 * SNS topic, optionally subscribed by e-mail. Thresholds are chosen for a small API: a page
 * means something is broken or about to be, not that one request went wrong.
 *
 * The topic is encrypted with its own KMS key: CloudWatch cannot publish to a topic encrypted
 * with the AWS-managed `alias/aws/sns` key (its key policy cannot be changed to let CloudWatch
 * use it), so the key policy here allows exactly that. The key costs $1/month.
 */
export class Monitoring extends Construct {
  readonly topic: Topic;
  readonly alarms: IAlarm[] = [];

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const { account, region, partition } = Stack.of(this);

    const key = new Key(this, 'TopicKey', {
      description: `Encrypts ${props.displayName} notifications`,
      enableKeyRotation: true,
      // It only protects notifications in flight: nothing is lost with it, and a retained key
      // would keep costing $1/month after the stack is gone.
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    key.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudWatchAlarmsPublishToTheEncryptedTopic',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'], // in a key policy, `*` is this key
      }),
    );
    this.topic = new Topic(this, 'Topic', { displayName: props.displayName, masterKey: key, enforceSSL: true });
    // enforceSSL gives the topic a policy of its own, which replaces SNS's default one: the
    // alarms of this account must now be allowed by name.
    this.topic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudWatchAlarmsOfThisAccount',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          ArnLike: { 'aws:SourceArn': `arn:${partition}:cloudwatch:${region}:${account}:alarm:*` },
          StringEquals: { 'aws:SourceAccount': account },
        },
      }),
    );
    if (props.alarmEmail) this.topic.addSubscription(new EmailSubscription(props.alarmEmail));
    const action = new SnsAction(this.topic);
    const notify = (alarm: Alarm): void => {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
      this.alarms.push(alarm);
    };

    // API 5xx rate: the share of requests answered 5xx (the functions' own 500s, Lambda
    // failures, timeouts and throttles as API Gateway reports them). 5% over two of three
    // 5-minute windows is a sustained fault, not one unlucky request; below 20 requests in a
    // window the rate counts as 0, since 1 error in 3 requests is 33% and says nothing. No
    // traffic is no data, which is fine.
    notify(
      new MathExpression({
        expression: 'IF(requests >= 20, 100 * FILL(errors, 0) / requests, 0)',
        usingMetrics: {
          errors: props.api.metricServerError({ statistic: 'Sum' }),
          requests: props.api.metricCount({ statistic: 'Sum' }),
        },
        period: Duration.minutes(5),
        label: 'API 5xx responses, % of requests',
      }).createAlarm(this, 'Api5xxRate', {
        alarmDescription: 'More than 5% of API requests answered 5xx in 2 of the last 3 five-minute windows. Access logs: integrationRequestId leads to the function log line.',
        threshold: 5,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );

    // Lambda Errors counts invocations that failed outright: an unhandled exception, a timeout,
    // running out of memory, a crash while loading (a missing driver, bad config). The handlers
    // turn every error they catch into a problem+json answer, so any Errors at all is a fault
    // of the function itself; errors in two of three 5-minute windows is one that persists (a
    // crash loop pages within 10 minutes, one slow cold start does not). Throttles: Lambda
    // refused to run the function (reserved or account concurrency exhausted), the same way.
    for (const { name, fn } of props.functions) {
      notify(
        fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }).createAlarm(this, `${fn.node.id}Errors`, {
          alarmDescription: `Function ${name} failed (exception, timeout, out of memory or init crash) in 2 of the last 3 five-minute windows.`,
          threshold: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 3,
          datapointsToAlarm: 2,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );
      notify(
        fn.metricThrottles({ period: Duration.minutes(5), statistic: 'Sum' }).createAlarm(this, `${fn.node.id}Throttles`, {
          alarmDescription: `Function ${name} was throttled in 2 of the last 3 five-minute windows: reserved or account concurrency is exhausted.`,
          threshold: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 3,
          datapointsToAlarm: 2,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );
    }

    // The sweep runs once an hour, so its windows are an hour long and one failure is enough:
    // a sweep that keeps failing leaves expired plans and their objects behind, unseen.
    const { fn: sweep, rule, deadLetterQueue } = props.sweeper;
    notify(
      sweep.metricErrors({ period: Duration.hours(1), statistic: 'Sum' }).createAlarm(this, 'SweepErrors', {
        alarmDescription: 'The hourly upload sweep failed (exception, timeout or init crash); see its log group.',
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
    notify(
      sweep.metricThrottles({ period: Duration.hours(1), statistic: 'Sum' }).createAlarm(this, 'SweepThrottles', {
        alarmDescription: 'The hourly upload sweep was throttled: concurrency is exhausted.',
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
    // EventBridge could not hand the event to Lambda at all (permission, throttling past its
    // retries); those events land in the dead-letter queue.
    notify(
      new Metric({
        namespace: 'AWS/Events',
        metricName: 'FailedInvocations',
        dimensionsMap: { RuleName: rule.ruleName },
        statistic: 'Sum',
        period: Duration.hours(1),
      }).createAlarm(this, 'SweepScheduleFailedInvocations', {
        alarmDescription: 'EventBridge failed to invoke the upload sweep; the event is in the dead-letter queue.',
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
    // Stays in ALARM while anything waits in the queue; missing data keeps the state (SQS stops
    // reporting a queue nobody touches), so a quiet night does not look like a fix.
    notify(
      deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }).createAlarm(this, 'SweepDeadLetters', {
        alarmDescription: 'Sweep events EventBridge could not deliver are waiting in the dead-letter queue (kept 14 days).',
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.IGNORE,
      }),
    );

    if (props.mailer) {
      // SQS retries a failed send by itself, so errors alone are no page; mail that ran out of
      // retries is: someone is waiting for a link that will not come.
      notify(
        props.mailer.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }).createAlarm(this, 'MailDeadLetters', {
          alarmDescription: 'Mail SES refused or that failed 5 times is waiting in the mail dead-letter queue (kept 14 days); see the mailer log group.',
          threshold: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: TreatMissingData.IGNORE,
        }),
      );
      notify(
        props.mailer.fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }).createAlarm(this, 'MailerErrors', {
          alarmDescription: 'The mailer function failed (exception, timeout or init crash) in 2 of the last 3 five-minute windows.',
          threshold: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 3,
          datapointsToAlarm: 2,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );
    }

    if (props.scanResults) {
      // A verdict that was never recorded leaves a file pending (never served) or, worse, an
      // infected object whose row still says pending: look at each one.
      notify(
        props.scanResults.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }).createAlarm(this, 'ScanResultDeadLetters', {
          alarmDescription: 'GuardDuty scan results the scan-result function could not record wait in its dead-letter queue (kept 14 days); replay them.',
          threshold: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: TreatMissingData.IGNORE,
        }),
      );
      notify(
        props.scanResults.fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }).createAlarm(this, 'ScanResultErrors', {
          alarmDescription: 'The scan-result function failed (exception, timeout or init crash) in 2 of the last 3 five-minute windows.',
          threshold: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 3,
          datapointsToAlarm: 2,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );
    }

    if (props.auroraCluster) {
      // ACUUtilization: capacity in use as a share of the maximum (auroraMaxCapacity). At the
      // ceiling, queries queue and latency climbs: 15 minutes above 90% is a sustained need
      // for more. A paused cluster reports nothing, which is fine.
      notify(
        props.auroraCluster.metric('ACUUtilization', { statistic: 'Maximum', period: Duration.minutes(5) }).createAlarm(this, 'DatabaseCapacity', {
          alarmDescription: 'The Aurora cluster has run above 90% of its maximum capacity for 15 minutes; raise -c auroraMaxCapacity (docs/deploy.md, Aurora PostgreSQL).',
          threshold: 90,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 3,
          datapointsToAlarm: 3,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );
    }

    if (props.fileSystem) {
      // EFS ClientConnections: the 1-minute Sum is the number of connections (one per execution
      // environment of every database function). Connections change slowly, so 3 of 5 minutes.
      const connectionThreshold = Math.round(EFS_CONNECTION_LIMIT * EFS_CONNECTION_ALARM_SHARE);
      notify(
        new Metric({
          namespace: 'AWS/EFS',
          metricName: 'ClientConnections',
          dimensionsMap: { FileSystemId: props.fileSystem.fileSystemId },
          statistic: 'Sum',
          period: Duration.minutes(1),
        }).createAlarm(this, 'DatabaseConnections', {
          alarmDescription: `The database file system has ${connectionThreshold}+ client connections, ${EFS_CONNECTION_ALARM_SHARE * 100}% of EFS's ${EFS_CONNECTION_LIMIT} per file system; cap the database functions' concurrency (-c dbReservedConcurrency).`,
          threshold: connectionThreshold,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 5,
          datapointsToAlarm: 3,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );
    }
  }
}
