import type { S3Action } from '../../functions/routes';
import { STAGING_PREFIX } from '../../lib/storage/keys';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { PolicyStatement, type IGrantable } from 'aws-cdk-lib/aws-iam';
import { BlockPublicAccess, Bucket, BucketEncryption, HttpMethods, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface StorageProps {
  readonly removalPolicy: RemovalPolicy;
  /** Origins whose browsers PUT/POST to presigned upload URLs and GET downloads. */
  readonly corsOrigins: readonly string[];
}

/**
 * The uploads bucket: private (all public access blocked, ACLs disabled), S3-managed
 * encryption, TLS 1.2+ only, and incomplete multipart uploads cleaned up after a day (a
 * browser that gives up mid-upload would otherwise leave billed parts nobody can see).
 */
export class Storage extends Construct {
  readonly bucket: Bucket;

  constructor(scope: Construct, id: string, props: StorageProps) {
    super(scope, id);
    const destroy = props.removalPolicy === RemovalPolicy.DESTROY;
    this.bucket = new Bucket(this, 'Uploads', {
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
      cors:
        props.corsOrigins.length > 0
          ? [
              {
                allowedOrigins: [...props.corsOrigins],
                allowedMethods: [HttpMethods.PUT, HttpMethods.POST, HttpMethods.GET, HttpMethods.HEAD],
                allowedHeaders: ['*'],
                exposedHeaders: ['ETag'],
                maxAge: 3600,
              },
            ]
          : undefined,
      removalPolicy: props.removalPolicy,
      // Only a stage that asked to be destroyed may empty the bucket on the way out.
      autoDeleteObjects: destroy,
    });
  }

  /**
   * Exactly the actions a function's routes declare (see `S3Action` in the route table): object
   * actions on this bucket's objects, ListBucket on this bucket; nothing else.
   */
  grant(grantee: IGrantable, actions: readonly S3Action[]): void {
    const objectActions = actions.filter((action) => action !== 'ListBucket');
    if (objectActions.length) {
      grantee.grantPrincipal.addToPrincipalPolicy(
        new PolicyStatement({ actions: objectActions.map((action) => `s3:${action}`), resources: [this.bucket.arnForObjects('*')] }),
      );
    }
    if (actions.includes('ListBucket')) {
      grantee.grantPrincipal.addToPrincipalPolicy(new PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.bucket.bucketArn] }));
    }
  }
}
