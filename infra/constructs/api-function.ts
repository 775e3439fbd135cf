import path from 'node:path';
import { Duration, Validations, type RemovalPolicy } from 'aws-cdk-lib';
import { Architecture, Runtime, Tracing, type FunctionProps, type ILayerVersion } from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, OutputFormat, SourceMapMode, type NodejsFunctionProps } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { REPO_ROOT } from '../native/driver';

/**
 * x86_64, on purpose. arm64 (Graviton) is ~20% cheaper per GB-second, but the one thing here
 * that is CPU-specific is the native SQLite driver, and only an x86_64 driver can be proven on
 * the machines that build and test this project: CI compiles it and then loads it with a real
 * Node 22 binary and opens a database. An arm64 driver could only be checked with a cross
 * compiler and qemu, which CI does not have. At this project's volume the saving is cents;
 * a driver that fails to load on the first request is an outage. Switching later is one
 * line here plus `driverBuild=docker` (which builds in the arm64 Lambda image).
 */
export const FUNCTION_ARCHITECTURE = Architecture.X86_64;
export const FUNCTION_RUNTIME = Runtime.NODEJS_22_X;

/** Swagger UI files lib/docs.ts serves from `swagger-ui/` beside the bundled handler. */
export const SWAGGER_UI_FILES = ['swagger-ui.css', 'swagger-ui-bundle.js', 'favicon-32x32.png', 'favicon-16x16.png'] as const;

export interface ApiFunctionProps extends Omit<NodejsFunctionProps, 'entry' | 'runtime' | 'architecture' | 'logGroup' | 'tracing'> {
  /** Handler file name in `functions/` (the route table's `handler`). */
  readonly handlerName: string;
  /**
   * better-sqlite3 for Node 22, for functions that use the database; bundles keep
   * `require('better-sqlite3')` external. Functions without it neither get nor need the layer.
   */
  readonly driverLayer?: ILayerVersion;
  /** X-Ray active tracing with Powertools Tracer compiled in; off: no tracer code in the bundle. */
  readonly tracing?: boolean;
  readonly logRetention: RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
  /** Bundle Swagger UI's files beside the handler (the docs function). */
  readonly withSwaggerUi?: boolean;
  /** Build the web client (`web/`, Vite) if its build is stale and copy it beside the handler (the web function). */
  readonly withWebClient?: boolean;
  /**
   * The one database engine this function's bundle carries (lib/db/connection.ts reads it as a
   * build-time constant): `sqlite` leaves out the PostgreSQL client, `postgres` the SQLite code
   * and its `require('better-sqlite3')`. Unset (functions without a database): both branches
   * stay, and neither module is reached.
   */
  readonly bundledDatabase?: 'sqlite' | 'postgres';
}

/**
 * How every function is bundled (the benchmark builds its SDK-only stubs with the same):
 * one minified CommonJS file for Node 22.
 *
 * `mainFields` puts a package's ES module build before its CommonJS one (esbuild's default for
 * CommonJS output is the reverse). ES modules tree-shake: the AWS SDK and Smithy packages ship
 * both, and their CommonJS builds are single files that carry every command and submodule.
 * Measured: the S3 functions lose ~150 KB each, and the signer the JWT functions use for
 * Secrets Manager (lib/aws/secrets-manager.ts) drags 5 KB of @smithy/core instead of 128 KB.
 */
export const BUNDLE_OPTIONS = { format: OutputFormat.CJS, target: 'node22', minify: true, mainFields: ['module', 'main'] as string[] } as const;

/**
 * One API handler as a Lambda function with this project's defaults baked in: Node 22 on
 * x86_64, a bundled and minified CommonJS handler (Middy and the other ESM-only dependencies
 * are bundled into it, the AWS SDK too so its version is the one we tested), source maps that
 * the runtime applies to stack traces, its own log group with a retention, and the SQLite
 * driver from the shared layer.
 */
export class ApiFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: ApiFunctionProps) {
    const { handlerName, driverLayer, tracing = false, logRetention, logRemovalPolicy, withSwaggerUi, withWebClient, bundledDatabase, bundling, environment, layers, ...rest } = props;
    const logGroup = new LogGroup(scope, `${id}Logs`, { retention: logRetention, removalPolicy: logRemovalPolicy });
    super(scope, id, {
      memorySize: 512,
      timeout: Duration.seconds(10),
      ...rest,
      entry: path.join(REPO_ROOT, 'functions', `${handlerName}.ts`),
      handler: 'handler',
      runtime: FUNCTION_RUNTIME,
      architecture: FUNCTION_ARCHITECTURE,
      projectRoot: REPO_ROOT,
      depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
      logGroup,
      layers: [...(driverLayer ? [driverLayer] : []), ...(layers ?? [])],
      ...(tracing ? { tracing: Tracing.ACTIVE } : {}),
      environment: {
        NODE_ENV: 'production',
        POWERTOOLS_SERVICE_NAME: 'secure-upload-api',
        ...environment,
      } satisfies FunctionProps['environment'],
      bundling: {
        ...BUNDLE_OPTIONS,
        sourceMap: true,
        sourceMapMode: SourceMapMode.DEFAULT,
        sourcesContent: false,
        // The code reads this as a build-time constant: with tracing off, esbuild removes the
        // tracer branches and their require, so the bundle carries no tracer code at all.
        // LAMBDA_BUNDLE drops what only the local runtime uses (lib/mail's nodemailer transports).
        define: {
          'process.env.TRACING_ENABLED': JSON.stringify(String(tracing)),
          'process.env.LAMBDA_BUNDLE': '"true"',
          ...(bundledDatabase ? { 'process.env.BUNDLED_DATABASE': JSON.stringify(bundledDatabase) } : {}),
        },
        // From the layer: a native module cannot be bundled, and must match Node 22 + x86_64.
        // swagger-ui-dist is only lib/docs.ts's fallback `require.resolve`; the docs function
        // gets the files it serves copied beside the handler instead (afterBundling below).
        externalModules: ['better-sqlite3', 'swagger-ui-dist'],
        logLevel: LogLevel.WARNING,
        // Keeps the SDK inside the bundle: the runtime's copy may predate options we rely on.
        bundleAwsSDK: true,
        ...bundling,
        commandHooks: withWebClient
          ? {
              beforeBundling: () => [],
              beforeInstall: () => [],
              // web/build.ts rebuilds only when the sources changed (a hash in web/dist), under a lock.
              afterBundling: (inputDir: string, outputDir: string) => [
                `cd "${inputDir}" && node --import tsx web/build.ts`,
                `mkdir -p "${outputDir}/web"`,
                `cp -R "${inputDir}/web/dist/." "${outputDir}/web/"`,
              ],
            }
          : withSwaggerUi
          ? {
              beforeBundling: () => [],
              beforeInstall: () => [],
              // inputDir is the project root, locally and in Docker alike.
              afterBundling: (inputDir: string, outputDir: string) => [
                `mkdir -p "${outputDir}/swagger-ui"`,
                ...SWAGGER_UI_FILES.map((file) => `cp "${inputDir}/node_modules/swagger-ui-dist/${file}" "${outputDir}/swagger-ui/${file}"`),
              ],
            }
          : bundling?.commandHooks,
      },
    });
  }
}

/**
 * The two grants on `*` that CDK adds and that cannot name a resource: EFS ClientMount (limited
 * by a condition to the access point) and X-Ray's PutTraceSegments/PutTelemetryRecords (X-Ray
 * has no resource-level permissions).
 */
export function acknowledgeWildcardGrants(fn: ApiFunction, grants: { readonly efs: boolean; readonly xray: boolean }): void {
  const policy = fn.role?.node.tryFindChild('DefaultPolicy');
  if (!policy || (!grants.efs && !grants.xray)) return;
  const reasons = [
    ...(grants.efs ? ['EFS ClientMount on * is limited to the access point by a condition'] : []),
    ...(grants.xray ? ['X-Ray trace writes take no resource ARN'] : []),
  ];
  Validations.of(policy).acknowledge({ id: 'AwsSolutions-IAM5[Resource::*]', reason: `CDK's own grants on *: ${reasons.join('; ')}.` });
}
