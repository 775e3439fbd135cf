import type { S3Action } from '../../functions/routes';
import { STAGING_PREFIX } from '../../lib/storage/keys';
import { Duration, Lazy, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Validations } from 'aws-cdk-lib';
import { PolicyStatement, type IGrantable } from 'aws-cdk-lib/aws-iam';
import { BlockPublicAccess, Bucket, BucketEncryption, HttpMethods, ObjectOwnership, type CfnBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface StorageProps {
  readonly removalPolicy: RemovalPolicy;
  /**
   * Origins whose browsers PUT to presigned upload URLs and GET downloads (more may be added
   * with {@link Storage.allowBrowserOrigins}, such as the API's own for the web client).
   */
  readonly corsOrigins: readonly string[];
  /** How long S3 server access logs are kept. */
  readonly accessLogRetention: Duration;
}

/**
 * The uploads bucket: private (all public access blocked, ACLs disabled), S3-managed
 * encryption, TLS 1.2+ only, and incomplete multipart uploads cleaned up after a day (a
 * browser that gives up mid-upload would otherwise leave billed parts nobody can see).
 */
export class Storage extends Construct {
  readonly bucket: Bucket;
  /** S3 server access logs of the uploads bucket, under `uploads/`. */
  readonly accessLogs: Bucket;

  constructor(scope: Construct, id: string, props: StorageProps) {
    super(scope, id);
    // S3 delivers access logs by bucket policy, not by ACL (ACLs stay disabled), whatever the
    // app's cdk.json says: pinned here, before any bucket exists, because it changes the policy.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    const destroy = props.removalPolicy === RemovalPolicy.DESTROY;
    // Presigned downloads and uploads never pass through a function: S3's access log is the
    // only record of who fetched or wrote which object, from where, with which signature.
    this.accessLogs = new Bucket(this, 'AccessLogs', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      encryption: BucketEncryption.S3_MANAGED, // server access logging cannot write SSE-KMS objects
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: props.accessLogRetention }],
      removalPolicy: props.removalPolicy,
      autoDeleteObjects: destroy,
    });
    Validations.of(this.accessLogs.node.defaultChild as CfnBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This is the access-log bucket itself; logging its own log deliveries would only log the logging.',
    });
    this.bucket = new Bucket(this, 'Uploads', {
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'uploads/',
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      // Backstops for the API's own hourly sweep, past the longest a presigned URL can live
      // (7 days): unfinished multipart uploads, and single-PUT uploads left on their staging
      // key (lib/storage/keys.ts: completion copies them to the real key).
      lifecycleRules: [
        { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(8) },
        { id: 'expire-unverified-staging-objects', prefix: STAGING_PREFIX, expiration: Duration.days(8) },
      ],
      removalPolicy: props.removalPolicy,
      // Only a stage that asked to be destroyed may empty the bucket on the way out.
      autoDeleteObjects: destroy,
    });
    this.allowBrowserOrigins(props.corsOrigins);
  }

  private readonly browserOrigins: string[] = [];

  /**
   * Lets browsers on these origins send presigned uploads straight to the bucket (PUT for
   * single uploads and multipart parts) and read it (GET, HEAD), reading the ETag of each
   * part. One CORS rule holds every origin; values may be tokens (the API's own URL).
   */
  allowBrowserOrigins(origins: readonly string[]): void {
    const first = this.browserOrigins.length === 0;
    this.browserOrigins.push(...origins.filter((origin) => !this.browserOrigins.includes(origin)));
    if (!first || this.browserOrigins.length === 0) return;
    this.bucket.addCorsRule({
      // Read at synthesis: origins added later land in this same rule.
      allowedOrigins: Lazy.list({ produce: () => this.browserOrigins }),
      // SPEC "Web client": PUT, GET and HEAD. The API hands out presigned PUTs (single uploads,
      // multipart parts) and GETs, never a presigned POST policy, so no browser needs POST.
      allowedMethods: [HttpMethods.PUT, HttpMethods.GET, HttpMethods.HEAD],
      allowedHeaders: ['*'],
      exposedHeaders: ['ETag'],
      maxAge: 3600,
    });
  }

  /**
   * Exactly the actions a function's routes declare (see `S3Action` in the route table): object
   * actions on this bucket's objects, ListBucket on this bucket; nothing else.
   */
  grant(grantee: IGrantable, actions: readonly S3Action[]): void {
    const objectActions = actions.filter((action) => action !== 'ListBucket');
    if (objectActions.length) {
      const principal = grantee.grantPrincipal;
      principal.addToPrincipalPolicy(
        new PolicyStatement({ actions: objectActions.map((action) => `s3:${action}`), resources: [this.bucket.arnForObjects('*')] }),
      );
      // cdk-nag flags any `/*` resource; here it is the whole point: object keys are per user
      // and per file, known only per request. Acknowledged on the one policy that holds it.
      const policy = Construct.isConstruct(principal) ? principal.node.tryFindChild('DefaultPolicy') : undefined;
      if (policy) {
        Validations.of(policy).acknowledge({
          id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(this.bucket.node.defaultChild as CfnBucket)}.Arn>/*]`,
          reason: "Object keys are per user and per upload (<userId>/<fileId>-name), known only per request; scoped to this bucket's objects and the route's declared actions.",
        });
      }
    }
    if (actions.includes('ListBucket')) {
      grantee.grantPrincipal.addToPrincipalPolicy(new PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.bucket.bucketArn] }));
    }
  }
}
