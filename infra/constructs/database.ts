import type { RemovalPolicy } from 'aws-cdk-lib';
import { SubnetType, type IVpc } from 'aws-cdk-lib/aws-ec2';
import { AccessPoint, FileSystem as EfsFileSystem, PerformanceMode, ThroughputMode } from 'aws-cdk-lib/aws-efs';
import { AnyPrincipal, Effect, PolicyDocument, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { FileSystem as LambdaFileSystem } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

/** Where functions see the database folder, and the URL lib/config.ts reads (4 slashes: absolute). */
export const DB_MOUNT_PATH = '/mnt/db';
export const DATABASE_URL = `sqlite:///${DB_MOUNT_PATH}/app.db`;
/** POSIX identity every function uses on the file system, whatever its Lambda user is. */
export const DB_POSIX_ID = '1000';

export interface DatabaseProps {
  readonly vpc: IVpc;
  readonly removalPolicy: RemovalPolicy;
}

/**
 * The SQLite database's home: an encrypted EFS file system with mount targets in the isolated
 * subnets, entered only through one access point that pins uid/gid 1000 and the `/sqlite`
 * directory (created 0750 on first mount), so no function can reach anything else on it or act
 * as root. Clients must use TLS.
 *
 * Throughput is Elastic: bursting mode's baseline scales with stored size (a small database
 * would get a trickle once its burst credits run out); Elastic bills per GB moved, which for
 * SQLite pages of a small API is cents.
 */
export class Database extends Construct {
  readonly fileSystem: EfsFileSystem;
  readonly accessPoint: AccessPoint;

  constructor(scope: Construct, id: string, props: DatabaseProps) {
    super(scope, id);
    this.fileSystem = new EfsFileSystem(this, 'FileSystem', {
      vpc: props.vpc,
      vpcSubnets: { subnetType: SubnetType.PRIVATE_ISOLATED },
      encrypted: true,
      performanceMode: PerformanceMode.GENERAL_PURPOSE,
      throughputMode: ThroughputMode.ELASTIC,
      enableAutomaticBackups: true,
      removalPolicy: props.removalPolicy,
      allowAnonymousAccess: false,
      fileSystemPolicy: new PolicyDocument({
        statements: [
          new PolicyStatement({
            sid: 'DenyUnencryptedTransport',
            effect: Effect.DENY,
            principals: [new AnyPrincipal()],
            actions: ['*'],
            conditions: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
          // Functions act as uid 1000 through the access point; nobody needs root. Without this,
          // the statement CDK adds for denyAnonymousAccess would allow root through any mount.
          new PolicyStatement({
            sid: 'DenyRootAccess',
            effect: Effect.DENY,
            principals: [new AnyPrincipal()],
            actions: ['elasticfilesystem:ClientRootAccess'],
          }),
        ],
      }),
    });
    this.accessPoint = this.fileSystem.addAccessPoint('SqliteAccessPoint', {
      path: '/sqlite',
      createAcl: { ownerUid: DB_POSIX_ID, ownerGid: DB_POSIX_ID, permissions: '750' },
      posixUser: { uid: DB_POSIX_ID, gid: DB_POSIX_ID },
    });
  }

  /**
   * The mount for one function, with IAM that names this access point only.
   *
   * Read-only routes get ClientWrite too, deliberately: opening the database runs the
   * migrations check inside `BEGIN IMMEDIATE` (a write lock, and the file is created if this is
   * the first function ever to run); SQLite's fcntl write locks over NFS need a file opened for
   * writing; and with `journal_mode=DELETE` whichever connection next opens the database after
   * a writer died mid-transaction must roll back its hot journal, read-only or not. A read-only
   * mount would turn each of these into SQLITE_READONLY/SQLITE_IOERR 500s.
   */
  mountFor(): LambdaFileSystem {
    // ClientMount on this access point only (condition), ClientWrite on this file system.
    return LambdaFileSystem.fromEfsAccessPoint(this.accessPoint, DB_MOUNT_PATH);
  }
}
