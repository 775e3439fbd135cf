/**
 * What the synthesized CloudFormation promises, asserted as intent: routes from the route
 * table, Node 22 on x86_64, EFS wiring, bucket hardening, least-privilege grants, no secret in
 * any environment. Bundling is skipped (`aws:cdk:bundling-stacks: []`): the driver and the
 * bundles have their own test (driver.test.ts).
 */
import { App, RemovalPolicy } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { handlerNames, routes } from '../../functions/routes';
import { functionId, functionNeeds, SecureUploadStack } from '../../infra/stack';
import { readSettings, SettingsError } from '../../infra/settings';
import { CONFIG_VARIABLES, loadConfig } from '../../lib/config';
import { dockerScript } from '../../infra/constructs/driver-layer';
import { driverVersion } from '../../infra/native/driver';

type Json = Record<string, unknown>;

function synth(context: Record<string, unknown> = {}): Template {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } });
  const settings = readSettings((key) => app.node.tryGetContext(key));
  const stack = new SecureUploadStack(app, 'Test', { settings });
  return Template.fromStack(stack);
}

const template = synth({ corsOrigins: 'https://app.example.com' });
const resources = (type: string): Record<string, Json> => template.findResources(type) as Record<string, Json>;
const props = (resource: Json): Json => (resource.Properties ?? {}) as Json;

/** Our API functions by handler name (CDK's own helper functions, if any, are not ours). */
function apiFunctions(t: Template = template): Map<string, { id: string; props: Json }> {
  const found = new Map<string, { id: string; props: Json }>();
  const all = t.findResources('AWS::Lambda::Function') as Record<string, Json>;
  for (const handler of handlerNames()) {
    const entry = Object.entries(all).find(([id]) => id.startsWith(functionId(handler)) && !id.startsWith(`${functionId(handler)}Logs`));
    if (entry) found.set(handler, { id: entry[0], props: props(entry[1]) });
  }
  return found;
}

/** Every IAM statement attached (through AWS::IAM::Policy) to the role of one function. */
function statementsOf(handler: string): Json[] {
  const fn = apiFunctions().get(handler);
  if (!fn) throw new Error(`no function for ${handler}`);
  const role = (fn.props.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  return Object.values(resources('AWS::IAM::Policy'))
    .filter((policy) => JSON.stringify(props(policy).Roles).includes(`"${role}"`))
    .flatMap((policy) => ((props(policy).PolicyDocument as Json).Statement as Json[]) ?? []);
}

const actionsOf = (handler: string): string[] =>
  statementsOf(handler).flatMap((statement) => [statement.Action].flat() as string[]);

describe('routes and functions', () => {
  it('creates one Lambda per handler name and one HTTP API route per row of the route table', () => {
    expect(apiFunctions().size).toBe(handlerNames().length);
    template.resourceCountIs('AWS::ApiGatewayV2::Route', routes.length);
    for (const route of routes) {
      const fn = apiFunctions().get(route.handler);
      template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: `${route.method} ${route.path}` });
      expect(fn).toBeDefined();
    }
    // Routes that share a handler share its integration (one Lambda for /docs and /docs/{proxy+}).
    template.resourceCountIs('AWS::ApiGatewayV2::Integration', handlerNames().length);
    template.hasResourceProperties('AWS::ApiGatewayV2::Integration', { IntegrationType: 'AWS_PROXY', PayloadFormatVersion: '2.0' });
  });

  it('runs every function on nodejs22.x, x86_64, with bundled code; the driver layer only where the database is used', () => {
    for (const [handler, fn] of apiFunctions()) {
      expect({ handler, runtime: fn.props.Runtime, arch: fn.props.Architectures }).toEqual({ handler, runtime: 'nodejs22.x', arch: ['x86_64'] });
      expect(fn.props.Handler).toBe('index.handler');
      const env = (fn.props.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(env).toMatchObject({ NODE_ENV: 'production' });
      // Source maps ship in the asset but are not applied at runtime: measured in npm run bench.
      expect(env.NODE_OPTIONS).toBeUndefined();
      const hasLayer = JSON.stringify(fn.props.Layers ?? []).includes('SqliteDriverLayer');
      expect({ handler, hasLayer }).toEqual({ handler, hasLayer: functionNeeds(routes, handler).db !== undefined });
      expect(fn.props.LoggingConfig).toEqual({ LogGroup: { Ref: expect.stringMatching(/Logs/) } });
    }
    template.hasResourceProperties('AWS::Lambda::LayerVersion', {
      CompatibleRuntimes: ['nodejs22.x'],
      CompatibleArchitectures: ['x86_64'],
    });
  });

  it('gives bcrypt functions a full vCPU of memory and others less', () => {
    for (const [handler, fn] of apiFunctions()) {
      if (functionNeeds(routes, handler).bcrypt) expect(fn.props.MemorySize).toBeGreaterThanOrEqual(1536);
      else expect(fn.props.MemorySize).toBeLessThanOrEqual(1024);
      expect(fn.props.Timeout).toBeLessThanOrEqual(29);
    }
  });

  it('sets a log retention on every function log group, the access logs and the VPC flow logs', () => {
    const groups = Object.values(resources('AWS::Logs::LogGroup'));
    expect(groups).toHaveLength(handlerNames().length + 3); // + the sweep function + API access logs + flow logs
    for (const group of groups) expect(props(group).RetentionInDays).toBe(30);
  });
});

describe('share links', () => {
  it('routes /s/{token} to public functions and the owner routes through Bearer-checking ones, with the grants they need', () => {
    const routeOf = (key: string) =>
      Object.values(resources('AWS::ApiGatewayV2::Route')).find((route) => props(route).RouteKey === key) as Json | undefined;
    for (const key of ['GET /s/{token}', 'POST /s/{token}', 'POST /files/{id}/shares', 'GET /files/{id}/shares', 'DELETE /files/{id}/shares/{share_id}']) {
      expect({ key, found: routeOf(key) !== undefined }).toEqual({ key, found: true });
      expect(props(routeOf(key) ?? {}).AuthorizationType ?? 'NONE').toBe('NONE'); // the functions check Bearer tokens themselves
    }
    expect(functionNeeds(routes, 'share-open')).toEqual({ db: 'write', s3: ['GetObject'] });
    expect(functionNeeds(routes, 'share-unlock')).toEqual({ db: 'write', s3: ['GetObject'], jwt: true, bcrypt: true });
    expect(functionNeeds(routes, 'shares-create')).toEqual({ db: 'write', jwt: true, bcrypt: true, links: true });
    // The GET needs no secret at all: it reads neither the JWT secret nor bcrypt's memory.
    expect(actionsOf('share-open').filter((action) => action.startsWith('secretsmanager:'))).toEqual([]);
    expect(apiFunctions().get('share-open')?.props.MemorySize).toBeLessThan(1536);
    expect(apiFunctions().get('share-unlock')?.props.MemorySize).toBeGreaterThanOrEqual(1536);
  });

  it('gives the function that builds share URLs APP_URL (the API itself by default), and no other function without links or mail', () => {
    const env = (handler: string) => (apiFunctions().get(handler)?.props.Environment as { Variables: Json }).Variables;
    expect(JSON.stringify(env('shares-create').APP_URL)).toContain('execute-api');
    for (const handler of handlerNames()) {
      const needs = functionNeeds(routes, handler);
      if (!needs.links && !needs.mail) expect({ handler, appUrl: env(handler).APP_URL }).toEqual({ handler, appUrl: undefined });
    }
  });
});

describe('environment and secrets', () => {
  const runtimeOnly = new Set(['POWERTOOLS_SERVICE_NAME']);

  it('passes only configuration variables lib/config.ts knows, with values it accepts', () => {
    for (const [handler, fn] of apiFunctions()) {
      const env = (fn.props.Environment as { Variables: Record<string, unknown> }).Variables;
      for (const name of Object.keys(env)) {
        if (!runtimeOnly.has(name)) expect({ handler, name, known: CONFIG_VARIABLES.includes(name) }).toEqual({ handler, name, known: true });
      }
      // Tokens (bucket name, ARN, region) become plausible literals; the config must then load.
      const literal = Object.fromEntries(
        Object.entries(env).map(([name, value]) => [
          name,
          typeof value === 'string'
            ? value
            : name === 'JWT_SECRET_ARN'
              ? 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:JwtSecret-AbCdEf'
              : name === 'MFA_ENCRYPTION_KEY_ARN'
                ? 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:MfaEncryptionKey-AbCdEf'
              : name === 'S3_BUCKET'
                ? 'test-storage-uploads-1a2b3c'
                : name === 'APP_URL'
                  ? 'https://abc123.execute-api.eu-west-1.amazonaws.com'
                  : name === 'MAIL_QUEUE_URL'
                    ? 'https://sqs.eu-west-1.amazonaws.com/123456789012/mail'
                    : 'eu-west-1',
        ]),
      );
      const config = loadConfig({ ...literal, AWS_LAMBDA_FUNCTION_NAME: handler });
      expect(config.production).toBe(true);
      if (functionNeeds(routes, handler).db) {
        expect(config.database).toEqual({ dialect: 'sqlite', path: '/mnt/db/app.db', journalMode: 'DELETE' });
      }
    }
  });

  it('references the secret by ARN and never puts a secret-looking value in an environment', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: Match.objectLike({ PasswordLength: 64, ExcludePunctuation: true }),
    });
    expect(JSON.stringify(template.toJSON())).not.toMatch(/"SecretString"/);
    for (const [handler, fn] of apiFunctions()) {
      const env = (fn.props.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(Object.keys(env).filter((name) => /SECRET|PASSWORD|TOKEN|KEY/i.test(name) && !['JWT_SECRET_ARN', 'MFA_ENCRYPTION_KEY_ARN'].includes(name))).toEqual([]);
      expect(env.JWT_SECRET_ARN).toEqual({ Ref: expect.stringMatching(/^JwtSecret/) });
      for (const [name, value] of Object.entries(env)) {
        // A long random-looking literal (hex/base64ish, 24+ chars) in an environment would be a leaked secret.
        if (typeof value === 'string') expect({ handler, name, value, looksSecret: /^[A-Za-z0-9+/=_-]{24,}$/.test(value) }).toMatchObject({ looksSecret: false });
        if (typeof value !== 'string') expect(JSON.stringify(value)).not.toMatch(/resolve:secretsmanager|SecretString/);
      }
    }
  });

  it('lets only jwt functions read the JWT secret and only MFA functions the MFA key, with GetSecretValue on each secret alone', () => {
    const read = (secret: RegExp) => expect.objectContaining({ Action: 'secretsmanager:GetSecretValue', Effect: 'Allow', Resource: { Ref: expect.stringMatching(secret) } });
    for (const handler of handlerNames()) {
      const reads = statementsOf(handler).filter((statement) => JSON.stringify(statement.Action).includes('secretsmanager'));
      const needs = functionNeeds(routes, handler);
      const expected = [...(needs.jwt ? [read(/^JwtSecret/)] : []), ...(needs.mfaKey ? [read(/^MfaEncryptionKey/)] : [])];
      expect({ handler, reads }).toEqual({ handler, reads: expected });
    }
  });

  it('keeps the MFA key in its own generated secret (64 hex digits), named only to the MFA functions', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      Description: Match.stringLikeRegexp('TOTP'),
      GenerateSecretString: Match.objectLike({ PasswordLength: 64, ExcludePunctuation: true, ExcludeUppercase: true, ExcludeCharacters: 'ghijklmnopqrstuvwxyz', IncludeSpace: false }),
    });
    const mfaFunctions = handlerNames().filter((handler) => functionNeeds(routes, handler).mfaKey);
    expect(mfaFunctions.sort()).toEqual(['auth-mfa-totp-confirm', 'auth-mfa-totp-delete', 'auth-mfa-totp-start', 'auth-mfa-verify']);
    for (const [handler, fn] of apiFunctions()) {
      const env = (fn.props.Environment as { Variables: Record<string, unknown> }).Variables;
      if (mfaFunctions.includes(handler)) expect(env.MFA_ENCRYPTION_KEY_ARN).toEqual({ Ref: expect.stringMatching(/^MfaEncryptionKey/) });
      else expect({ handler, arn: env.MFA_ENCRYPTION_KEY_ARN }).toEqual({ handler, arn: undefined });
    }
    // The login function only starts the MFA step (a database row); it never sees the key.
    expect(functionNeeds(routes, 'auth-login').mfaKey).toBeUndefined();
  });
});

describe('least-privilege storage grants', () => {
  it('gives each function exactly the object actions its routes declare, and nothing else on the bucket', () => {
    for (const handler of handlerNames()) {
      const s3 = actionsOf(handler).filter((action) => action.startsWith('s3:')).sort();
      const expected = (functionNeeds(routes, handler).s3 ?? []).map((action) => `s3:${action}`).sort();
      expect({ handler, s3 }).toEqual({ handler, s3: expected });
    }
    expect(actionsOf('upload')).toContain('s3:PutObject');
    expect(actionsOf('files-get').filter((action) => action.startsWith('s3:'))).toEqual(['s3:GetObject']);
    expect(actionsOf('files-delete').filter((action) => action.startsWith('s3:'))).toEqual(['s3:DeleteObject']);
    expect(actionsOf('auth-me')).not.toContain('s3:PutObject');
    expect(actionsOf('health').filter((action) => !action.startsWith('logs:'))).toEqual([]);
    // Share links: the public routes presign downloads (GetObject, nothing else on the bucket);
    // the owner's routes never touch storage.
    expect(actionsOf('share-open').filter((action) => action.startsWith('s3:'))).toEqual(['s3:GetObject']);
    expect(actionsOf('share-unlock').filter((action) => action.startsWith('s3:'))).toEqual(['s3:GetObject']);
    for (const handler of ['shares-create', 'shares-list', 'shares-delete']) {
      expect({ handler, s3: actionsOf(handler).filter((action) => action.startsWith('s3:')) }).toEqual({ handler, s3: [] });
    }
  });

  it('scopes object grants to the bucket objects, never a wildcard resource', () => {
    for (const statement of statementsOf('upload')) {
      if (JSON.stringify(statement.Action).includes('s3:')) {
        expect(JSON.stringify(statement.Resource)).toMatch(/StorageUploads.*\/\*/);
      }
    }
    for (const handler of handlerNames()) {
      for (const statement of statementsOf(handler)) expect([statement.Action].flat()).not.toContain('s3:*');
    }
  });
});

describe('database on EFS', () => {
  it('encrypts the file system, uses Elastic throughput, backs it up and requires TLS', () => {
    template.hasResourceProperties('AWS::EFS::FileSystem', {
      Encrypted: true,
      ThroughputMode: 'elastic',
      BackupPolicy: { Status: 'ENABLED' },
      FileSystemPolicy: Match.objectLike({
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      }),
    });
    template.hasResource('AWS::EFS::FileSystem', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });

  it('enters through one access point with a fixed POSIX user and root directory', () => {
    template.resourceCountIs('AWS::EFS::AccessPoint', 1);
    template.hasResourceProperties('AWS::EFS::AccessPoint', {
      PosixUser: { Uid: '1000', Gid: '1000' },
      RootDirectory: { Path: '/sqlite', CreationInfo: { OwnerUid: '1000', OwnerGid: '1000', Permissions: '750' } },
    });
  });

  it('puts mount targets in the isolated subnets', () => {
    const subnets = Object.entries(resources('AWS::EC2::Subnet'));
    expect(subnets.length).toBe(2);
    for (const [, subnet] of subnets) expect(props(subnet).MapPublicIpOnLaunch).toBe(false);
    const targets = Object.values(resources('AWS::EFS::MountTarget'));
    expect(targets).toHaveLength(2);
    const subnetIds = new Set(subnets.map(([id]) => id));
    for (const target of targets) expect(subnetIds.has((props(target).SubnetId as { Ref: string }).Ref)).toBe(true);
  });

  it('mounts /mnt/db in the VPC exactly for the functions that use the database', () => {
    for (const [handler, fn] of apiFunctions()) {
      const needs = functionNeeds(routes, handler);
      if (needs.db) {
        expect(fn.props.FileSystemConfigs).toEqual([{ Arn: expect.anything(), LocalMountPath: '/mnt/db' }]);
        expect(fn.props.VpcConfig).toEqual(expect.objectContaining({ SubnetIds: expect.any(Array), SecurityGroupIds: expect.any(Array) }));
        const efs = actionsOf(handler).filter((action) => action.startsWith('elasticfilesystem:')).sort();
        expect(efs).toEqual(['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite']);
        expect(actionsOf(handler)).not.toContain('elasticfilesystem:ClientRootAccess');
      } else {
        // health, openapi, docs: no VPC, no mount, faster cold starts.
        expect({ handler, vpc: fn.props.VpcConfig, fs: fn.props.FileSystemConfigs }).toEqual({ handler, vpc: undefined, fs: undefined });
        expect(actionsOf(handler).filter((action) => action.startsWith('elasticfilesystem:'))).toEqual([]);
      }
    }
  });

  it('limits ClientMount to the access point', () => {
    const mount = statementsOf('auth-login').find((statement) => JSON.stringify(statement.Action).includes('ClientMount'));
    expect(JSON.stringify(mount?.Condition)).toContain('elasticfilesystem:AccessPointArn');
  });

  it('reserves no concurrency by default, and does when asked', () => {
    for (const [, fn] of apiFunctions()) expect(fn.props.ReservedConcurrentExecutions).toBeUndefined();
    const reserved = apiFunctions(synth({ dbReservedConcurrency: '5' }));
    for (const [handler, fn] of reserved) {
      expect(fn.props.ReservedConcurrentExecutions).toBe(functionNeeds(routes, handler).db ? 5 : undefined);
    }
  });
});

describe('network', () => {
  it('has no NAT gateway and no internet gateway', () => {
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    template.resourceCountIs('AWS::EC2::InternetGateway', 0);
    template.resourceCountIs('AWS::EC2::EIP', 0);
  });

  it('reaches S3 through a gateway endpoint and Secrets Manager through a private interface endpoint', () => {
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      VpcEndpointType: 'Gateway',
      ServiceName: Match.objectLike({ 'Fn::Join': Match.arrayWith([Match.arrayWith([Match.stringLikeRegexp('\\.s3$')])]) }),
    });
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      VpcEndpointType: 'Interface',
      PrivateDnsEnabled: true,
      ServiceName: Match.objectLike({ 'Fn::Join': Match.arrayWith([Match.arrayWith([Match.stringLikeRegexp('secretsmanager')])]) }),
    });
    const iface = Object.values(resources('AWS::EC2::VPCEndpoint')).find((endpoint) => props(endpoint).VpcEndpointType === 'Interface');
    expect(props(iface ?? {}).SubnetIds).toHaveLength(1);
    const twoAzs = synth({ secretsEndpointAzs: '2' }).findResources('AWS::EC2::VPCEndpoint', { Properties: { VpcEndpointType: 'Interface' } });
    expect(props(Object.values(twoAzs)[0] as Json).SubnetIds).toHaveLength(2);
  });

  it('opens the Secrets Manager endpoint only to the database functions, not to the whole VPC', () => {
    const ingress = Object.values(resources('AWS::EC2::SecurityGroupIngress')).map(props);
    expect(ingress.every((rule) => rule.SourceSecurityGroupId !== undefined && rule.CidrIp === undefined)).toBe(true);
    expect(ingress.map((rule) => rule.FromPort).sort()).toEqual([2049, 443]);
  });
});

describe('bucket', () => {
  it('logs every request to the uploads bucket (presigned ones never pass a function) into a private bucket', () => {
    const logs = Object.entries(resources('AWS::S3::Bucket')).find(([id]) => id.startsWith('StorageAccessLogs'));
    expect(logs).toBeDefined();
    template.hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: { DestinationBucketName: { Ref: logs?.[0] }, LogFilePrefix: 'uploads/' },
    });
    expect(props(logs?.[1] ?? {})).toMatchObject({
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      LifecycleConfiguration: { Rules: [expect.objectContaining({ ExpirationInDays: 30, Status: 'Enabled' })] },
    });
    // Delivery by bucket policy (ACLs stay disabled), from S3's logging service for this bucket only.
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: logs?.[0] },
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Principal: { Service: 'logging.s3.amazonaws.com' }, Action: 's3:PutObject' })]),
      },
    });
  });

  it('records rejected VPC traffic in a flow log', () => {
    template.hasResourceProperties('AWS::EC2::FlowLog', { ResourceType: 'VPC', TrafficType: 'REJECT', LogDestinationType: 'cloud-watch-logs' });
  });

  it('blocks public access, encrypts, aborts stale multipart uploads and allows browser uploads from the allow-list', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 8 }, Status: 'Enabled' }),
          Match.objectLike({ Prefix: 'staging/', ExpirationInDays: 8, Status: 'Enabled' }),
        ]),
      },
      CorsConfiguration: {
        CorsRules: [
          Match.objectLike({
            // corsOrigins, and the API's own origin: the web client (GET /) uploads straight to the bucket.
            AllowedOrigins: [
              'https://app.example.com',
              { 'Fn::Join': ['', ['https://', { Ref: Match.stringLikeRegexp('^HttpApi') }, '.execute-api.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }]] },
            ],
            // SPEC "Web client": PUT, GET and HEAD; the API signs no POST (no presigned POST policy).
            AllowedMethods: ['PUT', 'GET', 'HEAD'],
            AllowedHeaders: ['*'],
            ExposedHeaders: ['ETag'],
          }),
        ],
      },
    });
    template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain' });
  });

  it('denies requests without TLS', () => {
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('passes the bucket name and region to the storage functions', () => {
    const upload = apiFunctions().get('upload');
    const env = (upload?.props.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(env.S3_BUCKET).toEqual({ Ref: expect.stringMatching(/^StorageUploads/) });
    expect(env.S3_REGION).toEqual({ Ref: 'AWS::Region' });
  });

  it("tells the web client's function where the bucket is (its CSP names it) and grants it nothing on it", () => {
    const web = apiFunctions().get('web');
    const env = (web?.props.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(env.S3_BUCKET).toEqual({ Ref: expect.stringMatching(/^StorageUploads/) });
    expect(env.S3_REGION).toEqual({ Ref: 'AWS::Region' });
    expect(actionsOf('web').filter((action) => action.startsWith('s3:'))).toEqual([]);
  });
});

describe('HTTP API', () => {
  it('throttles and logs the $default stage', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 500, ThrottlingBurstLimit: 1000 },
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('\\$context.requestId') },
    });
    // The route key, never the raw path (ids, and later share tokens, would reach the logs).
    const stage = Object.values(resources('AWS::ApiGatewayV2::Stage'))[0] ?? {};
    const format = String((props(stage).AccessLogSettings as { Format?: string }).Format);
    expect(format).toContain('$context.routeKey');
    expect(format).not.toContain('$context.path');
  });

  it('answers CORS for the configured origins only, and configures none without an allow-list', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      ProtocolType: 'HTTP',
      CorsConfiguration: Match.objectLike({ AllowOrigins: ['https://app.example.com'], AllowCredentials: false }),
    });
    const plain = synth();
    plain.hasResourceProperties('AWS::ApiGatewayV2::Api', { CorsConfiguration: Match.absent() });
    plain.hasResourceProperties('AWS::S3::Bucket', { CorsConfiguration: Match.absent() });
  });

  it('outputs the API URL, bucket name and secret ARN', () => {
    const outputs = template.findOutputs('*');
    expect(Object.keys(outputs)).toEqual(expect.arrayContaining(['ApiUrl', 'BucketName', 'JwtSecretArn']));
  });
});

describe('abuse and blast radius', () => {
  it('throttles the unauthenticated bcrypt routes below the stage limit, as a high backstop only', () => {
    const stage = Object.values(resources('AWS::ApiGatewayV2::Stage'))[0] ?? {};
    const settings = props(stage).RouteSettings as Record<string, { ThrottlingRateLimit: number; ThrottlingBurstLimit: number }>;
    const bcryptRoutes = routes.filter((route) => route.needs.bcrypt).map((route) => `${route.method} ${route.path}`);
    expect(Object.keys(settings).sort()).toEqual(bcryptRoutes.sort());
    // Shared by every client: at 10 req/s one client could lock everyone out of login.
    for (const key of bcryptRoutes) expect(settings[key]).toEqual({ ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 });
    expect(props(stage).DefaultRouteSettings).toMatchObject({ ThrottlingRateLimit: 500, ThrottlingBurstLimit: 1000 });
  });

  it('lets the S3 endpoint reach the uploads bucket only', () => {
    const endpoint = Object.values(resources('AWS::EC2::VPCEndpoint')).find((e) => JSON.stringify(props(e).ServiceName).includes('.s3'));
    const document = props(endpoint ?? {}).PolicyDocument as { Statement: Json[] };
    expect(document.Statement).toHaveLength(1);
    expect(JSON.stringify(document.Statement[0]?.Resource)).toMatch(/StorageUploads/);
  });

  it('denies root access to the database file system', () => {
    template.hasResourceProperties('AWS::EFS::FileSystem', {
      FileSystemPolicy: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Action: 'elasticfilesystem:ClientRootAccess' })]),
      },
    });
  });

  it('lets completion tell "not uploaded yet" (404) from "forbidden" (403): ListBucket on the bucket only', () => {
    const list = statementsOf('uploads-complete').filter((statement) => [statement.Action].flat().includes('s3:ListBucket'));
    expect(list).toHaveLength(1);
    expect(JSON.stringify(list[0]?.Resource)).not.toContain('/*');
    expect(actionsOf('upload')).not.toContain('s3:ListBucket');
  });
});

describe('settings from context', () => {
  it('retains data by default and destroys it only for dev (or when asked)', () => {
    const read = (values: Record<string, string>) => readSettings((key) => values[key]);
    expect(read({}).removalPolicy).toBe(RemovalPolicy.RETAIN);
    expect(read({}).stage).toBe('prod');
    expect(read({ stage: 'dev' }).removalPolicy).toBe(RemovalPolicy.DESTROY);
    expect(read({ stage: 'dev', removalPolicy: 'retain' }).removalPolicy).toBe(RemovalPolicy.RETAIN);
    expect(read({ corsOrigins: 'https://a.example, https://b.example/' }).corsOrigins).toEqual(['https://a.example', 'https://b.example']);
    expect(() => read({ corsOrigins: 'not an origin' })).toThrow(SettingsError);
    expect(() => read({ throttleRate: 'lots' })).toThrow(SettingsError);
    expect(() => read({ logRetentionDays: '17' })).toThrow(SettingsError);
    expect(() => read({ driverBuild: 'magic' })).toThrow(SettingsError);
    expect(read({}).driverBuild).toBe('auto');
  });

  it('takes explicit availability zones, for regions where the first two may not host Lambda', () => {
    const read = (values: Record<string, string>) => readSettings((key) => values[key]);
    expect(read({}).availabilityZones).toBeUndefined();
    expect(() => read({ availabilityZones: 'us-east-1a' })).toThrow(SettingsError);
    expect(() => read({ availabilityZones: 'a,b' })).toThrow(SettingsError);
    const pinned = synth({ availabilityZones: 'us-east-1b,us-east-1c' });
    const zones = Object.values(pinned.findResources('AWS::EC2::Subnet')).map((subnet) => (subnet as Json).Properties as Json);
    expect(zones.map((subnet) => subnet.AvailabilityZone).sort()).toEqual(['us-east-1b', 'us-east-1c']);
  });

  it('lets a dev stage be torn down completely', () => {
    const dev = synth({ stage: 'dev' });
    dev.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Delete' });
    dev.hasResource('AWS::EFS::FileSystem', { DeletionPolicy: 'Delete' });
    dev.hasResource('AWS::SecretsManager::Secret', { DeletionPolicy: 'Delete' });
    dev.resourceCountIs('Custom::S3AutoDeleteObjects', 2); // the uploads and their access logs
  });
});

describe('X-Ray tracing', () => {
  const tracingModes = (t: Template) =>
    Object.values(t.findResources('AWS::Lambda::Function') as Record<string, Json>)
      .filter((fn) => props(fn).Runtime === 'nodejs22.x')
      .map((fn) => (props(fn).TracingConfig as { Mode?: string } | undefined)?.Mode);

  it('is off by default: no function has a TracingConfig', () => {
    expect(tracingModes(template).filter((mode) => mode !== undefined)).toEqual([]);
  });

  it('turns on active tracing for every function with -c tracing=true', () => {
    const modes = tracingModes(synth({ tracing: 'true' }));
    expect(modes.length).toBe(handlerNames().length + 1); // + the sweeper
    expect(new Set(modes)).toEqual(new Set(['Active']));
  });

  it('refuses a tracing value that is not true or false', () => {
    expect(() => synth({ tracing: 'yes' })).toThrow(SettingsError);
  });
});

describe('driver build paths', () => {
  it('names the build path in the layer, and builds in the Lambda image for driverBuild=docker', () => {
    template.hasResourceProperties('AWS::Lambda::LayerVersion', { Description: Match.stringLikeRegexp('better-sqlite3 .* linux-x64, local build') });
    synth({ driverBuild: 'docker' }).hasResourceProperties('AWS::Lambda::LayerVersion', {
      Description: Match.stringLikeRegexp('linux-x64, docker build'),
    });
    const script = dockerScript(driverVersion());
    expect(script).toContain(`--build-from-source better-sqlite3@${driverVersion()}`);
    // The Docker build proves itself by loading the driver with the image's own Node 22.
    expect(script).toMatch(/node -e .*new D\(':memory:'\)/);
  });
});

describe('scheduled sweep of expired direct uploads', () => {
  it('runs hourly in the VPC with the database and write access to objects, but not the secret', () => {
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 hour)', State: 'ENABLED' });
    const all = template.findResources('AWS::Lambda::Function') as Record<string, Json>;
    const [id, sweep] = Object.entries(all).find(([logicalId]) => logicalId.startsWith('SweepUploads') && !logicalId.includes('Logs')) ?? [];
    expect(id).toBeDefined();
    const fnProps = props(sweep ?? {});
    expect(fnProps.Runtime).toBe('nodejs22.x');
    expect(fnProps.FileSystemConfigs).toEqual([{ Arn: expect.anything(), LocalMountPath: '/mnt/db' }]);
    const role = (fnProps.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const actions = Object.values(resources('AWS::IAM::Policy'))
      .filter((policy) => JSON.stringify(props(policy).Roles).includes(`"${role}"`))
      .flatMap((policy) => ((props(policy).PolicyDocument as Json).Statement as Json[]).flatMap((statement) => [statement.Action].flat() as string[]));
    expect(actions).toEqual(expect.arrayContaining(['s3:DeleteObject', 's3:AbortMultipartUpload', 'elasticfilesystem:ClientMount']));
    expect(actions.filter((action) => action.startsWith('secretsmanager:'))).toEqual([]);
    expect(actions).not.toContain('s3:PutObject');
  });
});

describe('malware scanning with -c scanner=guardduty', () => {
  const guarded = synth({ scanner: 'guardduty' });
  const all = (type: string) => guarded.findResources(type) as Record<string, Json>;
  const bucketId = Object.keys(all('AWS::S3::Bucket')).find((id) => id.startsWith('StorageUploads')) ?? '';
  const scanResultFn = Object.entries(all('AWS::Lambda::Function')).find(([id]) => id.startsWith('ScanResult') && !id.includes('Logs'));
  const roleOf = (fn: Json | undefined) => ((props(fn ?? {}).Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'])[0];
  const functionRole = (handler: string) => roleOf({ Properties: apiFunctions(guarded).get(handler)?.props ?? {} });
  const guardDutyRole = Object.entries(all('AWS::IAM::Role')).find(([, role]) =>
    JSON.stringify(props(role).AssumeRolePolicyDocument).includes('malware-protection-plan.guardduty.amazonaws.com'),
  );

  it('adds nothing of it by default', () => {
    template.resourceCountIs('AWS::GuardDuty::MalwareProtectionPlan', 0);
    expect(Object.keys(resources('AWS::Lambda::Function')).filter((id) => id.startsWith('ScanResult'))).toEqual([]);
    for (const [, fn] of apiFunctions()) expect((fn.props.Environment as { Variables: Json }).Variables.SCANNER).toBeUndefined();
  });

  it('protects the uploads bucket with a Malware Protection plan that tags scanned objects, under its own role', () => {
    guarded.resourceCountIs('AWS::GuardDuty::MalwareProtectionPlan', 1);
    guarded.hasResourceProperties('AWS::GuardDuty::MalwareProtectionPlan', {
      ProtectedResource: { S3Bucket: { BucketName: { Ref: bucketId } } },
      Actions: { Tagging: { Status: 'ENABLED' } },
      Role: { 'Fn::GetAtt': [guardDutyRole?.[0], 'Arn'] },
    });
    guarded.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          Match.objectLike({
            Principal: { Service: 'malware-protection-plan.guardduty.amazonaws.com' },
            Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
          }),
        ],
      },
    });
  });

  it("gives GuardDuty's role what AWS documents: its managed EventBridge rule, bucket notifications, object read and tagging", () => {
    const statements = Object.values(all('AWS::IAM::Policy'))
      .filter((policy) => JSON.stringify(props(policy).Roles).includes(`"${guardDutyRole?.[0]}"`))
      .flatMap((policy) => (props(policy).PolicyDocument as Json).Statement as Json[]);
    const bySid = Object.fromEntries(statements.map((statement) => [statement.Sid, statement]));
    expect(Object.keys(bySid).sort()).toEqual([
      'AllowCheckBucketOwnership',
      'AllowEnableS3EventBridgeEvents',
      'AllowGuardDutyToMonitorEventBridgeManagedRule',
      'AllowMalwareScan',
      'AllowManagedRuleToSendS3EventsToGuardDuty',
      'AllowPostScanTag',
      'AllowPutValidationObject',
    ]);
    expect(bySid.AllowManagedRuleToSendS3EventsToGuardDuty).toMatchObject({
      Action: ['events:PutRule', 'events:DeleteRule', 'events:PutTargets', 'events:RemoveTargets'],
      Condition: { StringLike: { 'events:ManagedBy': 'malware-protection-plan.guardduty.amazonaws.com' } },
    });
    expect(JSON.stringify(bySid.AllowManagedRuleToSendS3EventsToGuardDuty?.Resource)).toContain(':rule/DO-NOT-DELETE-AmazonGuardDutyMalwareProtectionS3*');
    expect(bySid.AllowMalwareScan?.Action).toEqual(['s3:GetObject', 's3:GetObjectVersion']);
    expect(bySid.AllowPostScanTag?.Action).toEqual(expect.arrayContaining(['s3:PutObjectTagging', 's3:GetObjectTagging']));
  });

  it('sends this bucket\'s "Object Scan Result" events to the scan-result function, with retries and a dead-letter queue', () => {
    expect(scanResultFn).toBeDefined();
    guarded.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.guardduty'],
        'detail-type': ['GuardDuty Malware Protection Object Scan Result'],
        detail: { s3ObjectDetails: { bucketName: [{ Ref: bucketId }] } },
      },
      State: 'ENABLED',
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [scanResultFn?.[0], 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 86_400 },
          DeadLetterConfig: { Arn: Match.anyValue() },
        }),
      ],
    });
    guarded.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'events.amazonaws.com',
      FunctionName: { 'Fn::GetAtt': [scanResultFn?.[0], 'Arn'] },
    });
  });

  it('runs the scan-result function with the database and DeleteObject only: it never reads an object', () => {
    const fnProps = props(scanResultFn?.[1] ?? {});
    expect(fnProps.FileSystemConfigs).toEqual([{ Arn: expect.anything(), LocalMountPath: '/mnt/db' }]);
    const actions = Object.values(all('AWS::IAM::Policy'))
      .filter((policy) => JSON.stringify(props(policy).Roles).includes(`"${roleOf(scanResultFn?.[1])}"`))
      .flatMap((policy) => ((props(policy).PolicyDocument as Json).Statement as Json[]).flatMap((statement) => [statement.Action].flat() as string[]));
    expect(actions.filter((action) => action.startsWith('s3:'))).toEqual(['s3:DeleteObject']);
    expect(actions.filter((action) => action.startsWith('secretsmanager:'))).toEqual([]);
  });

  it('tells the storing functions SCANNER=guardduty, and only them', () => {
    const scanning = [...apiFunctions(guarded)].filter(([, fn]) => (fn.props.Environment as { Variables: Json }).Variables.SCANNER === 'guardduty').map(([handler]) => handler);
    expect(scanning.sort()).toEqual(['upload', 'uploads-complete', 'uploads-plan']);
  });

  it('denies reads of objects GuardDuty has not tagged NO_THREATS_FOUND to everyone but GuardDuty and uploads-complete', () => {
    guarded.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Sid: 'DenyReadsOfObjectsGuardDutyHasNotCleared',
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: ['s3:GetObject', 's3:GetObjectVersion'],
            Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/*']] },
            Condition: {
              StringNotEquals: { 's3:ExistingObjectTag/GuardDutyMalwareScanStatus': 'NO_THREATS_FOUND' },
              ArnNotEquals: {
                'aws:PrincipalArn': [{ 'Fn::GetAtt': [guardDutyRole?.[0], 'Arn'] }, { 'Fn::GetAtt': [functionRole('uploads-complete'), 'Arn'] }],
              },
            },
          },
          Match.objectLike({
            Sid: 'OnlyGuardDutyTagsObjects',
            Effect: 'Deny',
            Action: Match.arrayWith(['s3:PutObjectTagging', 's3:DeleteObjectTagging']),
            Condition: { ArnNotEquals: { 'aws:PrincipalArn': [{ 'Fn::GetAtt': [guardDutyRole?.[0], 'Arn'] }] } },
          }),
        ]),
      },
    });
    // The functions that presign downloads are not excepted: the deny covers their links too.
    const policy = JSON.stringify(Object.values(all('AWS::S3::BucketPolicy')).map((p) => props(p)));
    for (const handler of ['files-get', 'upload']) expect(policy).not.toContain(`"${functionRole(handler)}"`);
  });

  it('alarms on scan results that could not be recorded', () => {
    guarded.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      AlarmDescription: Match.stringLikeRegexp('GuardDuty scan results'),
    });
  });

  it('refuses scanner=clamd with one line: no clamd runs in AWS', () => {
    expect(() => readSettings((key) => ({ scanner: 'clamd' })[key])).toThrow(SettingsError);
    expect(() => readSettings((key) => ({ scanner: 'clamd' })[key])).toThrow(/^context scanner=clamd: no clamd runs in AWS/);
    expect(() => readSettings((key) => ({ scanner: 'maybe' })[key])).toThrow(/^context scanner must be one of none, guardduty/);
  });
});
