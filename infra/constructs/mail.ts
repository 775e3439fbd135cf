import { Duration, Stack, Validations, type RemovalPolicy } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Queue, QueueEncryption, type CfnQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { acknowledgeWildcardGrants, ApiFunction } from './api-function';

export interface MailProps {
  /** The From of every mail: `no-reply@example.com` or `Name <no-reply@example.com>`; SES must have verified it (or its domain). */
  readonly from: string;
  /** lib/config.ts requires a secret source in production; the ARN only, nothing is granted. */
  readonly jwtSecretArn: string;
  readonly tracing: boolean;
  readonly logRetention: RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
}

/** The mailer's time limit; SQS hides a message six times as long while it is being sent (AWS's advice). */
const MAILER_TIMEOUT = Duration.seconds(30);
/** Receives before a message is given up on and kept in the dead-letter queue. */
export const MAIL_MAX_RECEIVES = 5;

/**
 * Mail for the functions in the VPC, which have no route to the SES API (no NAT): they put
 * each message on an SQS queue through the VPC's SQS endpoint, and a mailer function outside
 * the VPC sends it with SES. SQS retries what SES refuses or what times out
 * (`reportBatchItemFailures`: only the failed messages of a batch), and keeps a message that
 * failed {@link MAIL_MAX_RECEIVES} times in a dead-letter queue for 14 days, with an alarm.
 * The mailer may send only as the configured From address.
 */
export class Mail extends Construct {
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
  readonly mailer: ApiFunction;

  constructor(scope: Construct, id: string, props: MailProps) {
    super(scope, id);
    this.deadLetterQueue = new Queue(this, 'DeadLetters', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14), // SQS's maximum: two weeks to notice and look
    });
    Validations.of(this.deadLetterQueue.node.defaultChild as CfnQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: "It is the mail queue's dead-letter queue, read by an operator; nothing would drain a queue behind it.",
    });
    this.queue = new Queue(this, 'Queue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(MAILER_TIMEOUT.toSeconds() * 6),
      // A verification or reset link older than a day is worth less than a new request for one.
      retentionPeriod: Duration.days(1),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: MAIL_MAX_RECEIVES },
    });

    this.mailer = new ApiFunction(this, 'Mailer', {
      handlerName: 'mailer',
      description: 'SQS-triggered: sends queued mail with SES (outside the VPC)',
      tracing: props.tracing,
      logRetention: props.logRetention,
      logRemovalPolicy: props.logRemovalPolicy,
      memorySize: 256,
      timeout: MAILER_TIMEOUT,
      // No MAIL_TRANSPORT: the mailer sends what the queue holds (lib/mail/ses.ts), it queues nothing.
      environment: { JWT_SECRET_ARN: props.jwtSecretArn, MAIL_FROM: props.from },
    });
    // Two at a time at most: a new SES account sends 1 message a second (14 once out of the
    // sandbox); more concurrency would only turn into SES throttling and retries.
    this.mailer.addEventSource(new SqsEventSource(this.queue, { batchSize: 10, reportBatchItemFailures: true, maxConcurrency: 2 }));
    const { partition, region, account } = Stack.of(this);
    this.mailer.addToRolePolicy(
      new PolicyStatement({
        actions: ['ses:SendEmail'],
        // SES authorizes SendEmail on the sending identity (an address or its domain), whichever
        // was verified; the condition pins the From address to the configured one.
        resources: [`arn:${partition}:ses:${region}:${account}:identity/*`],
        conditions: { StringEquals: { 'ses:FromAddress': mailAddress(props.from) } },
      }),
    );
    Validations.of(this.mailer.node.defaultChild as CfnFunction).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'nodejs22.x on purpose: every function of the stack shares one runtime, the one its bundles are tested on.',
    });
    const role = this.mailer.role;
    if (role) {
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: "AWS's policy for Lambda logging: CloudWatch Logs writes only, which the function needs for its log group.",
      });
      const policy = role.node.tryFindChild('DefaultPolicy');
      if (policy) {
        Validations.of(policy).acknowledge({
          id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ses:<AWS::Region>:<AWS::AccountId>:identity/*]',
          reason: 'SES checks SendEmail against whichever identity was verified (the address or its domain); ses:FromAddress pins the sender.',
        });
      }
    }
    acknowledgeWildcardGrants(this.mailer, { efs: false, xray: props.tracing });
  }
}

/** `Name <a@b>` -> `a@b`; a bare address as it is. */
export function mailAddress(from: string): string {
  return /<([^<>]+)>\s*$/.exec(from)?.[1]?.trim() ?? from.trim();
}
