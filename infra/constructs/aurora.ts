import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Port, SecurityGroup, SubnetType, type ISecurityGroup, type IVpc } from 'aws-cdk-lib/aws-ec2';
import {
  AuroraPostgresEngineVersion,
  CfnDBCluster,
  ClusterInstance,
  Credentials,
  DatabaseCluster,
  DatabaseClusterEngine,
  DatabaseSecret,
  ParameterGroup,
} from 'aws-cdk-lib/aws-rds';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { CfnSecret, ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

/**
 * The newest Aurora PostgreSQL that this aws-cdk-lib knows; every 17.x (like 16.3+, 15.7+,
 * 14.12+, 13.15+) supports Serverless v2's minimum capacity of 0 ACU (automatic pause).
 */
export const AURORA_ENGINE_VERSION = AuroraPostgresEngineVersion.VER_17_9;
/** The database the secret names (`dbname`), created with the cluster. */
export const AURORA_DATABASE_NAME = 'uploads';
/** PostgreSQL's own port, written out so security group rules name it, not a deploy-time token. */
export const AURORA_PORT = 5432;
/**
 * Sessions idle longer than this are ended by the server. A frozen Lambda container keeps its
 * connection open, and Aurora only pauses when no user connection is left, so without this a
 * quiet API would never scale to zero while containers linger. lib/db/postgres.ts replaces a
 * connection idle for 60 s before using it, so it never meets one the server closed.
 */
export const IDLE_SESSION_TIMEOUT = Duration.minutes(2);
/**
 * A session that sits inside an open transaction this long is ended, with its transaction and
 * row locks. The API's transactions never wait between statements (no network, no user), so
 * only an abandoned one gets here: a client that gave up on a silent connection
 * (lib/db/postgres.ts read timeout) or a container frozen or killed mid-transaction whose
 * connection the network never closed. Without it those locks stay until TCP keepalive notices,
 * and every request touching the same rows waits on them. Above the functions' 28 s timeout, so
 * no live request's transaction is ever ended.
 */
export const IDLE_IN_TRANSACTION_TIMEOUT = Duration.seconds(30);
/** Idle time before Aurora pauses at 0 ACU (the service's minimum is 5 minutes). */
export const AUTO_PAUSE_AFTER = Duration.minutes(5);

export interface AuroraDatabaseProps {
  readonly vpc: IVpc;
  /** The functions' security group: the only one let in on the PostgreSQL port. */
  readonly clientSecurityGroup: ISecurityGroup;
  /** Upper bound of Serverless v2 capacity (ACU, 0.5 steps); also what sets max_connections. */
  readonly maxCapacity: number;
  readonly removalPolicy: RemovalPolicy;
  /** How long the exported `postgresql` log is kept, like every other log group of the stack. */
  readonly logRetention: RetentionDays;
  /** Deletion protection (production stages). */
  readonly deletionProtection: boolean;
}

/**
 * PostgreSQL for `-c database=aurora`: an Aurora Serverless v2 cluster with one writer that
 * scales from 0 ACU (paused, no instance charge) to `maxCapacity`, in the isolated subnets,
 * storage encrypted, TLS required, reachable on 5432 only from the functions' security group.
 * Its master credentials are generated into Secrets Manager (the JSON has host, port, dbname,
 * username, password), which the functions read once per container; no password is in the
 * template or in an environment.
 */
export class AuroraDatabase extends Construct {
  readonly cluster: DatabaseCluster;
  readonly secret: ISecret;
  readonly securityGroup: SecurityGroup;

  constructor(scope: Construct, id: string, props: AuroraDatabaseProps) {
    super(scope, id);
    const engine = DatabaseClusterEngine.auroraPostgres({ version: AURORA_ENGINE_VERSION });
    this.securityGroup = new SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'Aurora PostgreSQL: reachable only from the API functions',
      allowAllOutbound: false,
    });
    // RDS exports the server log to /aws/rds/cluster/<identifier>/postgresql, creating that
    // group with no retention (kept forever) unless it exists. Created here first, with the
    // stack's retention; so the identifier is fixed (from the stack's name) rather than generated.
    const clusterIdentifier = `${Stack.of(this).stackName}-aurora`.toLowerCase().replace(/[^a-z0-9]+/g, '-');
    const serverLog = new LogGroup(this, 'ServerLog', {
      logGroupName: `/aws/rds/cluster/${clusterIdentifier}/postgresql`,
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    this.cluster = new DatabaseCluster(this, 'Cluster', {
      clusterIdentifier,
      engine,
      writer: ClusterInstance.serverlessV2('Writer', { publiclyAccessible: false, autoMinorVersionUpgrade: true }),
      serverlessV2MinCapacity: 0,
      serverlessV2MaxCapacity: props.maxCapacity,
      serverlessV2AutoPauseDuration: AUTO_PAUSE_AFTER,
      vpc: props.vpc,
      vpcSubnets: { subnetType: SubnetType.PRIVATE_ISOLATED },
      securityGroups: [this.securityGroup],
      credentials: Credentials.fromGeneratedSecret('uploads_admin', {
        // Characters that need quoting in a URL or a shell; the secret JSON needs none of this,
        // but an operator pasting it into psql or db:copy's URL will.
        excludeCharacters: ' %+~`#$&*()|[]{}:;<>?!\'/@"\\=,',
      }),
      defaultDatabaseName: AURORA_DATABASE_NAME,
      port: AURORA_PORT,
      parameterGroup: new ParameterGroup(this, 'Parameters', {
        engine,
        description: 'TLS only; idle sessions end so a quiet cluster can pause; abandoned transactions end',
        parameters: {
          'rds.force_ssl': '1',
          idle_session_timeout: String(IDLE_SESSION_TIMEOUT.toMilliseconds()),
          idle_in_transaction_session_timeout: String(IDLE_IN_TRANSACTION_TIMEOUT.toMilliseconds()),
        },
      }),
      storageEncrypted: true,
      backup: { retention: Duration.days(7) },
      copyTagsToSnapshot: true,
      deletionProtection: props.deletionProtection,
      removalPolicy: props.removalPolicy,
      cloudwatchLogsExports: ['postgresql'],
    });
    this.cluster.node.addDependency(serverLog);
    this.cluster.connections.allowFrom(props.clientSecurityGroup, Port.tcp(AURORA_PORT), 'The API functions (one connection per container)');
    const secret = this.cluster.secret;
    if (!secret) throw new Error('the Aurora cluster has no generated secret');
    this.secret = secret;
    // The generated secret itself (cluster.secret is its attachment to the cluster). It holds the
    // only copy of the password: it lives as long as the data does.
    const generated = this.cluster.node.findChild('Secret') as DatabaseSecret;
    generated.applyRemovalPolicy(props.removalPolicy);

    const cfnCluster = this.cluster.node.defaultChild as CfnDBCluster;
    Validations.of(cfnCluster).acknowledge({
      id: 'AwsSolutions-RDS6',
      reason: 'Password auth from Secrets Manager over verified TLS: IAM tokens would add a signer to every function and expire mid-container.',
    });
    if (!props.deletionProtection) {
      Validations.of(cfnCluster).acknowledge({
        id: 'AwsSolutions-RDS10',
        reason: 'Deletion protection is on for every stage but dev, whose data is disposable (removalPolicy destroy).',
      });
    }
    Validations.of(generated.node.defaultChild as CfnSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: 'Rotated by hand (docs/deploy.md): a schedule needs a rotation function in the VPC and wakes a paused cluster; containers re-read the secret when refused.',
    });
  }
}
