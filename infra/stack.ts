import { CfnOutput, Duration, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import { SubnetType } from 'aws-cdk-lib/aws-ec2';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { AnyPrincipal, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Queue, QueueEncryption, type CfnQueue } from 'aws-cdk-lib/aws-sqs';
import type { CfnSecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { routes, scanResultNeeds, sweepNeeds, type Route, type RouteNeeds, type S3Action } from '../functions/routes';
import { acknowledgeWildcardGrants, ApiFunction, FUNCTION_ARCHITECTURE, type ApiFunctionProps } from './constructs/api-function';
import { AuroraDatabase } from './constructs/aurora';
import { Database, DATABASE_URL } from './constructs/database';
import { Mail } from './constructs/mail';
import { MalwareProtection } from './constructs/malware-protection';
import { DriverLayer } from './constructs/driver-layer';
import { PublicApi } from './constructs/http-api';
import { Monitoring } from './constructs/monitoring';
import { Network } from './constructs/network';
import { Storage } from './constructs/storage';
import type { StackSettings } from './settings';

export interface SecureUploadStackProps extends StackProps {
  readonly settings: StackSettings;
  /** The route table; the real one unless a test wants another. */
  readonly routes?: readonly Route[];
}

/** What the stack's functions outside the route table share. */
interface InternalFunctionDeps {
  readonly storage: Storage;
  readonly network: Network;
  readonly data: DataStore;
  readonly jwtSecret: Secret;
  readonly settings: StackSettings;
}

/**
 * Where the functions' data lives, by `-c database=`: SQLite on EFS with the driver layer, or
 * Aurora PostgreSQL reached through its secret. Exactly one of the two.
 */
type DataStore =
  | { readonly engine: 'sqlite'; readonly fileSystem: Database; readonly driver: DriverLayer }
  | { readonly engine: 'aurora'; readonly aurora: AuroraDatabase };

/**
 * Where Lambda's Node runtimes keep the Amazon CAs, the RDS ones included: since nodejs20.x they
 * are no longer loaded by default (a faster cold start), and Aurora's certificate chains to them.
 */
export const LAMBDA_CA_BUNDLE = '/var/runtime/ca-cert.pem';

/** What a function that uses the database needs, on top of its own settings. */
function databaseWiring(data: DataStore, network: Network): Pick<ApiFunctionProps, 'vpc' | 'vpcSubnets' | 'securityGroups' | 'filesystem' | 'driverLayer' | 'bundledDatabase'> & { environment: Record<string, string> } {
  const inVpc = { vpc: network.vpc, vpcSubnets: { subnetType: SubnetType.PRIVATE_ISOLATED }, securityGroups: [network.functionSecurityGroup] };
  if (data.engine === 'sqlite') {
    return {
      ...inVpc,
      filesystem: data.fileSystem.mountFor(),
      driverLayer: data.driver.layer,
      bundledDatabase: 'sqlite',
      environment: { DATABASE_URL, SQLITE_JOURNAL_MODE: 'DELETE' },
    };
  }
  return {
    ...inVpc,
    bundledDatabase: 'postgres',
    // The ARN, never the password: lib/db reads the secret once per container.
    environment: { DATABASE_SECRET_ARN: data.aurora.secret.secretArn, NODE_EXTRA_CA_CERTS: LAMBDA_CA_BUNDLE },
  };
}

/**
 * How long a database function may run. A cold start on EFS plus migrations is ~1-2 s; Aurora
 * resuming from 0 ACU takes ~15 s, and lib/db/postgres.ts waits up to 20 s for a connection
 * before answering 503 with Retry-After, so those functions get 28 s: above that wait, under API
 * Gateway's 30 s integration limit (a function still running then would be a 504 with no body).
 */
function databaseTimeout(data: DataStore, usual: Duration): Duration {
  return data.engine === 'aurora' ? Duration.seconds(Math.max(28, usual.toSeconds())) : usual;
}

/** What one Lambda needs: the union of the needs of every route it serves. */
export function functionNeeds(table: readonly Route[], handler: string): RouteNeeds {
  const rows = table.filter((route) => route.handler === handler);
  const level = (values: ('read' | 'write' | undefined)[]) =>
    values.includes('write') ? 'write' : values.includes('read') ? 'read' : undefined;
  const db = level(rows.map((route) => route.needs.db));
  const s3 = [...new Set(rows.flatMap((route) => route.needs.s3 ?? []))].sort();
  return {
    ...(db ? { db } : {}),
    ...(s3.length ? { s3 } : {}),
    ...(rows.some((route) => route.needs.jwt) ? { jwt: true } : {}),
    ...(rows.some((route) => route.needs.bcrypt) ? { bcrypt: true } : {}),
    ...(rows.some((route) => route.needs.mail) ? { mail: true } : {}),
    ...(rows.some((route) => route.needs.mfaKey) ? { mfaKey: true } : {}),
    ...(rows.some((route) => route.needs.links) ? { links: true } : {}),
    ...(rows.some((route) => route.needs.storageOrigin) ? { storageOrigin: true } : {}),
  };
}

/** CloudFormation-safe construct id from a handler file name: `auth-login` -> `AuthLogin`. */
export const functionId = (handler: string): string =>
  handler.replace(/(^|[^a-zA-Z0-9]+)([a-zA-Z0-9])/g, (_match, _sep: string, char: string) => char.toUpperCase());

/**
 * cdk-nag findings every function shares, acknowledged on the narrowest construct that has them
 * (ApiFunction's own file belongs to the bundling work; these are the stack's decisions).
 */
function acknowledgeFunctionFindings(fn: ApiFunction, { inVpc, efs, tracing }: { inVpc: boolean; efs: boolean; tracing: boolean }): void {
  Validations.of(fn.node.defaultChild as CfnFunction).acknowledge({
    id: 'AwsSolutions-L1',
    reason: 'nodejs22.x on purpose: the SQLite driver layer is compiled and load-tested for Node 22 (ABI 127), and all functions share one runtime.',
  });
  const role = fn.role;
  if (!role) return;
  Validations.of(role).acknowledge({
    id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    reason: "AWS's policy for Lambda logging: CloudWatch Logs writes only, which the function needs for its log group.",
  });
  if (inVpc) {
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
      reason: "AWS's policy for a function in a VPC: the network-interface actions Lambda needs, which take no resource ARN.",
    });
  }
  acknowledgeWildcardGrants(fn, { efs, xray: tracing });
}

/**
 * The whole product in one stack: a private VPC with endpoints, SQLite on EFS (or Aurora
 * PostgreSQL with `-c database=aurora`), the uploads bucket, the JWT secret, the MFA key, the driver layer, one Lambda per handler and one HTTP API route per
 * row of `functions/routes.ts`. Every grant follows the row's `needs`.
 */
export class SecureUploadStack extends Stack {
  readonly functions = new Map<string, ApiFunction>();

  constructor(scope: Construct, id: string, props: SecureUploadStackProps) {
    super(scope, id, props);
    const { settings } = props;
    const table = props.routes ?? routes;
    const network = new Network(this, 'Network', {
      secretsEndpointAzs: settings.secretsEndpointAzs,
      availabilityZones: settings.availabilityZones,
      logRetention: settings.logRetention,
      logRemovalPolicy: settings.removalPolicy,
      sqsEndpoint: settings.mailFrom !== undefined,
    });
    const data: DataStore =
      settings.database === 'aurora'
        ? {
            engine: 'aurora',
            aurora: new AuroraDatabase(this, 'Aurora', {
              vpc: network.vpc,
              clientSecurityGroup: network.functionSecurityGroup,
              maxCapacity: settings.auroraMaxCapacity,
              removalPolicy: settings.removalPolicy,
              logRetention: settings.logRetention,
              deletionProtection: settings.stage !== 'dev',
            }),
          }
        : {
            engine: 'sqlite',
            fileSystem: new Database(this, 'Database', { vpc: network.vpc, removalPolicy: settings.removalPolicy }),
            driver: new DriverLayer(this, 'SqliteDriver', { architecture: FUNCTION_ARCHITECTURE, build: settings.driverBuild }),
          };
    const storage = new Storage(this, 'Storage', {
      removalPolicy: settings.removalPolicy,
      corsOrigins: settings.corsOrigins,
      accessLogRetention: Duration.days(settings.logRetention),
    });
    // The VPC's only way to S3 reaches the uploads bucket and nothing else.
    network.s3Endpoint.addToPolicy(
      new PolicyStatement({
        principals: [new AnyPrincipal()],
        actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload', 's3:ListBucket'],
        resources: [storage.bucket.bucketArn, storage.bucket.arnForObjects('*')],
      }),
    );
    // Generated inside Secrets Manager: the value never appears in the template, an
    // environment variable or a log; functions get its ARN and read it once per cold start.
    const jwtSecret = new Secret(this, 'JwtSecret', {
      description: 'HS256 signing key for access and refresh tokens',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
      removalPolicy: settings.removalPolicy,
    });
    Validations.of(jwtSecret.node.defaultChild as CfnSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: 'Rotated by hand with put-secret-value (README): AWSPREVIOUS still verifies, so nobody is logged out; a schedule needs a rotation function and could end idle sessions.',
    });

    // The key TOTP secrets are sealed with (AES-256-GCM): its own secret, never the JWT one, so
    // rotating the JWT secret cannot lock anyone out of MFA. 64 hex digits = 32 bytes, the form
    // lib/config.ts accepts; only the MFA functions get its ARN and may read it.
    const mfaKey = new Secret(this, 'MfaEncryptionKey', {
      description: 'AES-256-GCM key (64 hex digits) sealing TOTP MFA secrets at rest',
      generateSecretString: {
        passwordLength: 64,
        excludePunctuation: true,
        excludeUppercase: true,
        includeSpace: false,
        excludeCharacters: 'ghijklmnopqrstuvwxyz',
        requireEachIncludedType: false,
      },
      removalPolicy: settings.removalPolicy,
    });
    Validations.of(mfaKey.node.defaultChild as CfnSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: 'Rotating it means re-encrypting every TOTP secret; ciphertexts carry the key id for a rotation procedure, which is not automated yet.',
    });

    const mail = settings.mailFrom
      ? new Mail(this, 'Mail', {
          from: settings.mailFrom,
          jwtSecretArn: jwtSecret.secretArn,
          tracing: settings.tracing,
          logRetention: settings.logRetention,
          logRemovalPolicy: settings.removalPolicy,
        })
      : undefined;

    const names = [...new Set(table.map((route) => route.handler))];
    for (const handler of names) {
      const needs = functionNeeds(table, handler);
      const { environment: databaseEnvironment, ...databaseProps } = databaseWiring(data, network);
      const fn = new ApiFunction(this, functionId(handler), {
        handlerName: handler,
        description: `${table.filter((route) => route.handler === handler).map((route) => `${route.method} ${route.path}`).join(', ')}`,
        tracing: settings.tracing,
        logRetention: settings.logRetention,
        logRemovalPolicy: settings.removalPolicy,
        withSwaggerUi: handler === 'docs',
        withWebClient: handler === 'web',
        // bcrypt cost 12 is CPU-bound; Lambda's CPU scales with memory and 1769 MB is one full
        // vCPU (~350 ms per hash there, ~3x slower at 512 MB). Uploads buffer up to ~4.7 MB
        // through base64 and multipart parsing, hence room beyond the default.
        memorySize: needs.bcrypt ? 1769 : needs.s3?.includes('PutObject') ? 1024 : needs.db ? 512 : 256,
        // Under API Gateway's 30 s integration limit (see databaseTimeout for the database's share).
        timeout: needs.db ? databaseTimeout(data, Duration.seconds(needs.s3 ? 20 : 10)) : Duration.seconds(needs.s3 ? 20 : 10),
        environment: {
          // lib/config.ts requires a secret source in production for every function that reads
          // config (all of them); the ARN is not a secret. Only jwt functions may read it.
          JWT_SECRET_ARN: jwtSecret.secretArn,
          ...(settings.corsOrigins.length > 0 ? { CORS_ORIGINS: settings.corsOrigins.join(',') } : {}),
          // One value for the whole deployment: login enforces what register promised.
          ...(needs.db ? { ...databaseEnvironment, EMAIL_VERIFICATION: settings.emailVerification } : {}),
          ...(needs.s3 || needs.storageOrigin ? { S3_BUCKET: storage.bucket.bucketName, S3_REGION: this.region } : {}),
          // Only the functions that store files ask the scanner; the others serve by scan_status.
          ...(settings.scanner === 'guardduty' && needs.s3?.includes('PutObject') ? { SCANNER: 'guardduty' } : {}),
          ...(needs.mail && mail ? { MAIL_TRANSPORT: 'ses', MAIL_FROM: settings.mailFrom ?? '', MAIL_QUEUE_URL: mail.queue.queueUrl } : {}),
          ...((needs.mail || needs.links) && settings.appUrl ? { APP_URL: settings.appUrl } : {}),
          ...(needs.mfaKey ? { MFA_ENCRYPTION_KEY_ARN: mfaKey.secretArn } : {}),
        },
        // Only functions with a database join the VPC (EFS or Aurora is in it) and get the driver
        // layer or the secret; the others start faster outside it and need nothing inside.
        ...(needs.db
          ? {
              ...databaseProps,
              ...(settings.dbReservedConcurrency ? { reservedConcurrentExecutions: settings.dbReservedConcurrency } : {}),
            }
          : {}),
      });
      // Lambda creates a function's network interfaces when the function is created, and CDK
      // already orders that after the subnets and the mount targets; the endpoints are only
      // reached at run time, so nothing orders them. Without this, a fresh stack can serve its
      // first requests while the Secrets Manager endpoint (the slowest resource here) is still
      // being created: the secret read hangs to the function's timeout and the client gets a 5xx.
      if (needs.db && needs.s3) fn.node.addDependency(network.s3Endpoint);
      if (needs.db && (needs.jwt || needs.mfaKey || data.engine === 'aurora')) fn.node.addDependency(network.secretsEndpoint);
      if (needs.db) this.grantDatabase(fn, data);
      if (needs.s3) storage.grant(fn, needs.s3);
      if (needs.mail && mail) {
        mail.queue.grantSendMessages(fn);
        if (needs.db && network.sqsEndpoint) fn.node.addDependency(network.sqsEndpoint);
      }
      if (needs.jwt) {
        fn.addToRolePolicy(new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [jwtSecret.secretArn] }));
      }
      if (needs.mfaKey) {
        fn.addToRolePolicy(new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [mfaKey.secretArn] }));
      }
      acknowledgeFunctionFindings(fn, { inVpc: Boolean(needs.db), efs: Boolean(needs.db) && data.engine === 'sqlite', tracing: settings.tracing });
      this.functions.set(handler, fn);
    }

    // Not an HTTP route: removes direct-upload plans that expired without completing, with
    // their objects and multipart uploads (the bucket lifecycle rule is the backstop).
    const internal: InternalFunctionDeps = { storage, network, data, jwtSecret, settings };
    const sweep = this.internalFunction('SweepUploads', internal, {
      handlerName: 'sweep-uploads',
      description: 'Scheduled: remove expired direct-upload plans and their objects',
      timeout: Duration.minutes(2),
      s3: sweepNeeds.s3,
    });
    // Events EventBridge could not deliver to the sweep (after its retries) wait here to be
    // looked at, with an alarm on them; a sweep that ran and failed shows in its Errors alarm.
    const sweepDeadLetters = new Queue(this, 'SweepUploadsDeadLetters', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14), // SQS's maximum: two weeks to notice and look
    });
    Validations.of(sweepDeadLetters.node.defaultChild as CfnQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: "It is a dead-letter queue itself (the sweep's EventBridge target), read by an operator; nothing would drain a queue behind it.",
    });
    const sweepSchedule = new Rule(this, 'SweepUploadsSchedule', {
      description: 'Hourly sweep of expired direct uploads',
      schedule: Schedule.rate(Duration.hours(1)),
      // An event older than an hour is worthless: the next sweep is already due.
      targets: [new LambdaFunction(sweep, { retryAttempts: 2, maxEventAge: Duration.hours(1), deadLetterQueue: sweepDeadLetters })],
    });

    const malware = settings.scanner === 'guardduty' ? this.malwareProtection(internal) : undefined;

    const api = new PublicApi(this, 'Http', {
      name: `secure-upload-api-${settings.stage}`,
      routes: table.map((route) => ({
        method: route.method,
        path: route.path,
        fn: this.requireFunction(route.handler),
        auth: route.auth,
        // bcrypt routes are unauthenticated and cost ~0.6 GB-s each: a high backstop caps what
        // abuse can bill; it is shared by all clients, so it is no per-client limit (see settings).
        ...(route.needs.bcrypt ? { throttle: { rateLimit: settings.authThrottleRate, burstLimit: settings.authThrottleBurst } } : {}),
      })),
      corsOrigins: settings.corsOrigins,
      throttleRate: settings.throttleRate,
      throttleBurst: settings.throttleBurst,
      logRetention: settings.logRetention,
      logRemovalPolicy: settings.removalPolicy,
    });

    // The web client is served by this API (GET /, functions/web.ts), and its browsers upload
    // straight to the bucket: the bucket's CORS allows the API's own origin, and APP_URL's when
    // set. The bucket refers to the API resource, which refers to no function: no cycle.
    storage.allowBrowserOrigins([
      `https://${api.api.apiId}.execute-api.${this.region}.${this.urlSuffix}`,
      ...(settings.appUrl ? [new URL(settings.appUrl).origin] : []),
    ]);

    // Links in mails and share URLs point at the API itself unless -c appUrl names a front end or
    // domain. The API resource does not depend on the functions (its routes and stage do), so
    // this adds no cycle.
    if (!settings.appUrl) {
      for (const handler of names) {
        const needs = functionNeeds(table, handler);
        if (needs.mail || needs.links) this.requireFunction(handler).addEnvironment('APP_URL', api.url.replace(/\/$/, ''));
      }
    }

    const monitoring = new Monitoring(this, 'Monitoring', {
      displayName: `Secure upload API (${settings.stage}) alarms`,
      api: api.api,
      functions: [...this.functions].map(([name, fn]) => ({ name, fn })),
      sweeper: { fn: sweep, rule: sweepSchedule, deadLetterQueue: sweepDeadLetters },
      ...(mail ? { mailer: { fn: mail.mailer, deadLetterQueue: mail.deadLetterQueue } } : {}),
      ...(malware ? { scanResults: { fn: malware.fn, deadLetterQueue: malware.protection.deadLetterQueue } } : {}),
      ...(data.engine === 'sqlite' ? { fileSystem: data.fileSystem.fileSystem } : { auroraCluster: data.aurora.cluster }),
      ...(settings.alarmEmail ? { alarmEmail: settings.alarmEmail } : {}),
    });

    new CfnOutput(this, 'ApiUrl', { value: api.url, description: 'Base URL of the API (try GET <url>health and <url>docs)' });
    new CfnOutput(this, 'BucketName', { value: storage.bucket.bucketName, description: 'Uploads bucket' });
    new CfnOutput(this, 'JwtSecretArn', { value: jwtSecret.secretArn, description: 'JWT signing secret (rotate by putting a new value)' });
    new CfnOutput(this, 'MfaEncryptionKeyArn', { value: mfaKey.secretArn, description: 'Key sealing TOTP secrets (never the JWT secret; losing it disables MFA logins)' });
    new CfnOutput(this, 'AlarmTopicArn', { value: monitoring.topic.topicArn, description: 'Alarm notifications (subscribe with -c alarmEmail=... or in the SNS console)' });
    if (data.engine === 'sqlite') {
      new CfnOutput(this, 'FileSystemId', { value: data.fileSystem.fileSystem.fileSystemId, description: 'EFS file system holding the SQLite database' });
    } else {
      new CfnOutput(this, 'DatabaseSecretArn', { value: data.aurora.secret.secretArn, description: 'Aurora master credentials and endpoint (JSON); what db:copy and psql need' });
      new CfnOutput(this, 'DatabaseEndpoint', { value: data.aurora.cluster.clusterEndpoint.hostname, description: 'Aurora PostgreSQL writer endpoint (reachable only from inside the VPC)' });
    }
  }

  /**
   * `-c scanner=guardduty`: the scan-result function (EventBridge target, in the VPC for the
   * database) and GuardDuty Malware Protection on the bucket. The only role excepted from the
   * bucket's read deny is uploads-complete's, which verifies what was just uploaded.
   */
  private malwareProtection(internal: InternalFunctionDeps): { fn: ApiFunction; protection: MalwareProtection } {
    const { storage } = internal;
    const fn = this.internalFunction('ScanResult', internal, {
      handlerName: 'scan-result',
      description: 'EventBridge: record GuardDuty malware scan results on files, delete infected objects',
      timeout: Duration.seconds(30),
      s3: scanResultNeeds.s3,
    });
    const verifier = this.requireFunction('uploads-complete').role;
    if (!verifier) throw new Error('uploads-complete has no role');
    const protection = new MalwareProtection(this, 'MalwareProtection', { bucket: storage.bucket, resultFunction: fn, unscannedReaders: [verifier] });
    return { fn, protection };
  }

  /**
   * A function that serves no route (a schedule's or EventBridge's target) but uses the
   * database: in the VPC with the driver layer and the EFS mount (or Aurora's secret), the bucket
   * in its environment, and only the object actions it names. It reads no JWT secret
   * (JWT_SECRET_ARN only satisfies lib/config.ts): it waits for the S3 endpoint, and with Aurora
   * for the Secrets Manager endpoint too.
   */
  private internalFunction(
    id: string,
    { storage, network, data, jwtSecret, settings }: InternalFunctionDeps,
    props: { readonly handlerName: string; readonly description: string; readonly timeout: Duration; readonly s3: readonly S3Action[] | undefined },
  ): ApiFunction {
    const { environment: databaseEnvironment, ...databaseProps } = databaseWiring(data, network);
    const fn = new ApiFunction(this, id, {
      handlerName: props.handlerName,
      description: props.description,
      tracing: settings.tracing,
      logRetention: settings.logRetention,
      logRemovalPolicy: settings.removalPolicy,
      memorySize: 512,
      timeout: databaseTimeout(data, props.timeout),
      environment: {
        JWT_SECRET_ARN: jwtSecret.secretArn,
        ...databaseEnvironment,
        S3_BUCKET: storage.bucket.bucketName,
        S3_REGION: this.region,
      },
      ...databaseProps,
    });
    fn.node.addDependency(network.s3Endpoint);
    if (data.engine === 'aurora') fn.node.addDependency(network.secretsEndpoint);
    this.grantDatabase(fn, data);
    acknowledgeFunctionFindings(fn, { inVpc: true, efs: data.engine === 'sqlite', tracing: settings.tracing });
    if (props.s3) storage.grant(fn, props.s3);
    return fn;
  }

  /**
   * With Aurora: read access to its secret (GetSecretValue on that ARN only), and no start before
   * the cluster and its writer exist, so the first request does not meet a missing server. With
   * SQLite the EFS mount carries its own grant.
   */
  private grantDatabase(fn: ApiFunction, data: DataStore): void {
    if (data.engine !== 'aurora') return;
    fn.addToRolePolicy(new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [data.aurora.secret.secretArn] }));
    fn.node.addDependency(data.aurora.cluster);
  }

  private requireFunction(handler: string): ApiFunction {
    const fn = this.functions.get(handler);
    if (!fn) throw new Error(`no function for handler ${handler}`);
    return fn;
  }
}

