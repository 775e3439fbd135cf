/**
 * `-c database=aurora`, asserted as intent against the synthesized template: Aurora PostgreSQL
 * Serverless v2 that pauses at 0 ACU, reachable on 5432 only from the functions' security group,
 * credentials generated into Secrets Manager and read by ARN by the database functions alone,
 * TLS verified with the RDS CAs, timeouts that outlast a resume, and none of the SQLite variant
 * (no EFS, no driver layer). The default variant keeps all of that out. Bundling is skipped; the
 * bundles are run in bundles.test.ts.
 */
import { App, RemovalPolicy } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { handlerNames, routes, sweepNeeds } from '../../functions/routes';
import { AURORA_ENGINE_VERSION, IDLE_IN_TRANSACTION_TIMEOUT, IDLE_SESSION_TIMEOUT } from '../../infra/constructs/aurora';
import { readSettings, SettingsError } from '../../infra/settings';
import { functionId, functionNeeds, LAMBDA_CA_BUNDLE, SecureUploadStack } from '../../infra/stack';
import { CONFIG_VARIABLES, loadConfig } from '../../lib/config';
import { DEFAULT_MAX_IDLE_MS } from '../../lib/db/postgres';

type Json = Record<string, unknown>;

function synth(context: Record<string, unknown> = {}): Template {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } });
  const stack = new SecureUploadStack(app, 'Test', { settings: readSettings((key) => app.node.tryGetContext(key)) });
  return Template.fromStack(stack);
}

const aurora = synth({ database: 'aurora' });
const sqlite = synth();
const props = (resource: Json): Json => (resource.Properties ?? {}) as Json;
const resources = (t: Template, type: string): Record<string, Json> => t.findResources(type) as Record<string, Json>;
const only = (t: Template, type: string): [string, Json] => {
  const found = Object.entries(resources(t, type));
  expect(found).toHaveLength(1);
  return found[0] as [string, Json];
};

/** Every Lambda of ours (route handlers and the sweeper) by handler name. */
function functionsOf(t: Template): Map<string, { id: string; props: Json }> {
  const all = resources(t, 'AWS::Lambda::Function');
  const found = new Map<string, { id: string; props: Json }>();
  for (const handler of [...handlerNames(), 'sweep-uploads']) {
    const entry = Object.entries(all).find(([id]) => id.startsWith(functionId(handler)) && !id.startsWith(`${functionId(handler)}Logs`));
    if (entry) found.set(handler, { id: entry[0], props: props(entry[1]) });
  }
  return found;
}

const envOf = (fn: { props: Json }): Record<string, unknown> => (fn.props.Environment as { Variables: Record<string, unknown> }).Variables;
const usesDb = (handler: string): boolean => handler === 'sweep-uploads' || functionNeeds(routes, handler).db !== undefined;

function statementsOf(t: Template, fn: { props: Json }): Json[] {
  const role = (fn.props.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  return Object.values(resources(t, 'AWS::IAM::Policy'))
    .filter((policy) => JSON.stringify(props(policy).Roles).includes(`"${role}"`))
    .flatMap((policy) => ((props(policy).PolicyDocument as Json).Statement as Json[]) ?? []);
}

const [clusterId, cluster] = only(aurora, 'AWS::RDS::DBCluster');
const [databaseSecretId] = Object.entries(resources(aurora, 'AWS::SecretsManager::Secret')).find(([id]) => id.includes('AuroraClusterSecret')) ?? [''];
const [attachmentId] = only(aurora, 'AWS::SecretsManager::SecretTargetAttachment');

describe('database=aurora: the cluster', () => {
  it('is Aurora PostgreSQL Serverless v2 that scales to 0 ACU (auto-pause) up to the configured maximum', () => {
    expect(props(cluster)).toMatchObject({
      Engine: 'aurora-postgresql',
      EngineVersion: AURORA_ENGINE_VERSION.auroraPostgresFullVersion,
      ServerlessV2ScalingConfiguration: { MinCapacity: 0, MaxCapacity: 4, SecondsUntilAutoPause: 300 },
      DatabaseName: 'uploads',
    });
    // 0 ACU needs 17.x (or 16.3+, 15.7+, ...): a downgrade below that would fail at deploy time.
    expect(Number(AURORA_ENGINE_VERSION.auroraPostgresMajorVersion)).toBeGreaterThanOrEqual(17);
    const [, writer] = only(aurora, 'AWS::RDS::DBInstance');
    expect(props(writer)).toMatchObject({ DBInstanceClass: 'db.serverless', PubliclyAccessible: false, DBClusterIdentifier: { Ref: clusterId } });
    const bigger = synth({ database: 'aurora', auroraMaxCapacity: '16' });
    bigger.hasResourceProperties('AWS::RDS::DBCluster', { ServerlessV2ScalingConfiguration: { MinCapacity: 0, MaxCapacity: 16, SecondsUntilAutoPause: 300 } });
  });

  it('encrypts storage, keeps 7 days of backups, requires TLS and ends idle sessions so it can pause', () => {
    expect(props(cluster)).toMatchObject({ StorageEncrypted: true, BackupRetentionPeriod: 7, CopyTagsToSnapshot: true, EnableCloudwatchLogsExports: ['postgresql'] });
    aurora.hasResourceProperties('AWS::RDS::DBClusterParameterGroup', {
      Family: `aurora-postgresql${AURORA_ENGINE_VERSION.auroraPostgresMajorVersion}`,
      Parameters: { 'rds.force_ssl': '1', idle_session_timeout: String(IDLE_SESSION_TIMEOUT.toMilliseconds()) },
    });
    // The client replaces a connection idle this long before the server may have ended it.
    expect(DEFAULT_MAX_IDLE_MS).toBeLessThan(IDLE_SESSION_TIMEOUT.toMilliseconds());
  });

  it('exports the server log into a group it creates first, with the stack\'s retention (RDS would keep it forever)', () => {
    const identifier = props(cluster).DBClusterIdentifier as string;
    expect(identifier).toMatch(/^[a-z][a-z0-9-]*[a-z0-9]$/);
    expect(identifier).not.toContain('--');
    const [logId] = Object.entries(resources(aurora, 'AWS::Logs::LogGroup')).find(([, group]) => props(group).LogGroupName === `/aws/rds/cluster/${identifier}/postgresql`) ?? [];
    expect(logId).toBeDefined();
    expect(props(resources(aurora, 'AWS::Logs::LogGroup')[logId ?? '']!).RetentionInDays).toBe(30);
    expect(cluster.DependsOn).toContain(logId);
  });

  it('ends a transaction its client abandoned, so its row locks cannot outlive the request that took them', () => {
    // Attack/fault: a client that gave up on a silent connection, or a container killed
    // mid-transaction whose connection the network never closed, left its transaction open and
    // its row locks held until TCP keepalive noticed (hours): every request for those rows waited.
    aurora.hasResourceProperties('AWS::RDS::DBClusterParameterGroup', {
      Parameters: Match.objectLike({ idle_in_transaction_session_timeout: String(IDLE_IN_TRANSACTION_TIMEOUT.toMilliseconds()) }),
    });
    // Never a live request's: longer than any database function may run.
    const longest = Math.max(...[...functionsOf(aurora).entries()].filter(([handler]) => usesDb(handler)).map(([, fn]) => Number(fn.props.Timeout)).filter((t) => t < 60));
    expect(longest).toBeGreaterThan(0);
    expect(IDLE_IN_TRANSACTION_TIMEOUT.toMilliseconds()).toBeGreaterThan(longest * 1000);
  });

  it('sits in the isolated subnets', () => {
    const [, group] = only(aurora, 'AWS::RDS::DBSubnetGroup');
    const subnets = props(group).SubnetIds as { Ref: string }[];
    expect(subnets).toHaveLength(2);
    for (const subnet of subnets) expect(subnet.Ref).toMatch(/appSubnet/);
  });

  it('admits only the functions security group, on 5432, and the functions may leave only for it, 443 and nothing else', () => {
    const [dbGroupId, dbGroup] = Object.entries(resources(aurora, 'AWS::EC2::SecurityGroup')).find(([id]) => id.startsWith('AuroraSecurityGroup')) ?? ['', {}];
    expect(props(dbGroup).SecurityGroupIngress).toBeUndefined();
    expect(props(cluster).VpcSecurityGroupIds).toEqual([{ 'Fn::GetAtt': [dbGroupId, 'GroupId'] }]);
    const ingress = Object.values(resources(aurora, 'AWS::EC2::SecurityGroupIngress'))
      .map(props)
      .filter((rule) => JSON.stringify(rule.GroupId).includes(dbGroupId));
    expect(ingress).toEqual([
      expect.objectContaining({ IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, SourceSecurityGroupId: { 'Fn::GetAtt': [expect.stringMatching(/^NetworkFunctionSecurityGroup/), 'GroupId'] } }),
    ]);
    // Nothing else anywhere opens 5432, and no rule in the stack takes a CIDR.
    const all = Object.values(resources(aurora, 'AWS::EC2::SecurityGroupIngress')).map(props);
    expect(all.filter((rule) => rule.FromPort === 5432)).toHaveLength(1);
    expect(all.every((rule) => rule.CidrIp === undefined)).toBe(true);
    expect(all.map((rule) => rule.FromPort).sort()).toEqual([443, 5432]);
    aurora.hasResourceProperties('AWS::EC2::SecurityGroupEgress', {
      GroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^NetworkFunctionSecurityGroup'), 'GroupId'] },
      FromPort: 5432,
      DestinationSecurityGroupId: { 'Fn::GetAtt': [dbGroupId, 'GroupId'] },
    });
  });

  it('generates its credentials into Secrets Manager: no password in the template', () => {
    aurora.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: Match.objectLike({ GenerateStringKey: 'password', SecretStringTemplate: '{"username":"uploads_admin"}' }),
    });
    expect(props(cluster).MasterUserPassword).toEqual({ 'Fn::Join': ['', ['{{resolve:secretsmanager:', { Ref: databaseSecretId }, ':SecretString:password::}}']] });
    expect(JSON.stringify(aurora.toJSON())).not.toMatch(/"SecretString"/);
  });

  it('protects itself from deletion in production and retains its data; a dev stage can go', () => {
    expect(props(cluster).DeletionProtection).toBe(true);
    aurora.hasResource('AWS::RDS::DBCluster', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    aurora.hasResource('AWS::SecretsManager::Secret', { Properties: Match.objectLike({ GenerateSecretString: Match.objectLike({ GenerateStringKey: 'password' }) }), DeletionPolicy: 'Retain' });
    const dev = synth({ database: 'aurora', stage: 'dev' });
    dev.hasResourceProperties('AWS::RDS::DBCluster', { DeletionProtection: false });
    dev.hasResource('AWS::RDS::DBCluster', { DeletionPolicy: 'Delete' });
    expect(readSettings((key) => ({ stage: 'dev' })[key]).removalPolicy).toBe(RemovalPolicy.DESTROY);
  });

  it('outputs the secret ARN and the endpoint instead of a file system id', () => {
    const outputs = aurora.toJSON().Outputs as Record<string, Json>;
    expect(Object.keys(outputs)).toEqual(expect.arrayContaining(['DatabaseSecretArn', 'DatabaseEndpoint']));
    expect(outputs.FileSystemId).toBeUndefined();
    expect((sqlite.toJSON().Outputs as Record<string, Json>).DatabaseSecretArn).toBeUndefined();
  });
});

describe('database=aurora: no SQLite pieces', () => {
  it('has no EFS file system, mount or access point, and no driver layer', () => {
    aurora.resourceCountIs('AWS::EFS::FileSystem', 0);
    aurora.resourceCountIs('AWS::EFS::MountTarget', 0);
    aurora.resourceCountIs('AWS::EFS::AccessPoint', 0);
    aurora.resourceCountIs('AWS::Lambda::LayerVersion', 0);
    for (const [handler, fn] of functionsOf(aurora)) {
      expect({ handler, layers: fn.props.Layers, fs: fn.props.FileSystemConfigs }).toEqual({ handler, layers: undefined, fs: undefined });
      const env = envOf(fn);
      expect({ handler, url: env.DATABASE_URL, journal: env.SQLITE_JOURNAL_MODE }).toEqual({ handler, url: undefined, journal: undefined });
      expect(statementsOf(aurora, fn).flatMap((statement) => [statement.Action].flat()).filter((action) => String(action).startsWith('elasticfilesystem:'))).toEqual([]);
    }
    // No alarm on EFS connections when there is no EFS.
    expect(JSON.stringify(resources(aurora, 'AWS::CloudWatch::Alarm'))).not.toMatch(/AWS\/EFS/);
  });

  it('alarms, to the alarm topic, when the cluster runs at its capacity ceiling; the SQLite variant has no such alarm', () => {
    aurora.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/RDS',
      MetricName: 'ACUUtilization',
      Dimensions: [{ Name: 'DBClusterIdentifier', Value: { Ref: clusterId } }],
      Statistic: 'Maximum',
      Threshold: 90,
      EvaluationPeriods: 3,
      AlarmActions: [{ Ref: Match.stringLikeRegexp('^MonitoringTopic') }],
      OKActions: [{ Ref: Match.stringLikeRegexp('^MonitoringTopic') }],
    });
    expect(JSON.stringify(resources(sqlite, 'AWS::CloudWatch::Alarm'))).not.toMatch(/ACUUtilization/);
  });

  it('and the default (sqlite) variant has no Aurora', () => {
    sqlite.resourceCountIs('AWS::RDS::DBCluster', 0);
    sqlite.resourceCountIs('AWS::RDS::DBInstance', 0);
    sqlite.resourceCountIs('AWS::EFS::FileSystem', 1);
    sqlite.resourceCountIs('AWS::Lambda::LayerVersion', 1);
    for (const [handler, fn] of functionsOf(sqlite)) {
      const env = envOf(fn);
      expect({ handler, secret: env.DATABASE_SECRET_ARN, ca: env.NODE_EXTRA_CA_CERTS }).toEqual({ handler, secret: undefined, ca: undefined });
    }
  });
});

describe('database=aurora: the functions', () => {
  const dbFunctions = [...functionsOf(aurora)].filter(([handler]) => usesDb(handler));
  const others = [...functionsOf(aurora)].filter(([handler]) => !usesDb(handler));

  it('covers every handler and the sweeper', () => {
    expect(functionsOf(aurora).size).toBe(handlerNames().length + 1);
    expect(dbFunctions.length).toBeGreaterThan(20);
    expect(others.map(([handler]) => handler)).toEqual(expect.arrayContaining(['docs', 'health', 'openapi']));
    expect(dbFunctions.map(([handler]) => handler)).toEqual(expect.arrayContaining(['auth-register', 'auth-login', 'upload', 'sweep-uploads']));
  });

  it('gives the database functions the secret ARN (never the password) and the RDS CAs; the others neither', () => {
    for (const [handler, fn] of dbFunctions) {
      const env = envOf(fn);
      expect({ handler, arn: env.DATABASE_SECRET_ARN, ca: env.NODE_EXTRA_CA_CERTS }).toEqual({ handler, arn: { Ref: attachmentId }, ca: LAMBDA_CA_BUNDLE });
      expect(JSON.stringify(env)).not.toMatch(/resolve:secretsmanager|password/i);
    }
    for (const [handler, fn] of others) {
      const env = envOf(fn);
      expect({ handler, arn: env.DATABASE_SECRET_ARN, ca: env.NODE_EXTRA_CA_CERTS }).toEqual({ handler, arn: undefined, ca: undefined });
    }
  });

  it('lets exactly the database functions read that secret, GetSecretValue on its ARN alone', () => {
    for (const [handler, fn] of [...dbFunctions, ...others]) {
      const reads = statementsOf(aurora, fn).filter((statement) => JSON.stringify(statement.Resource) === JSON.stringify({ Ref: attachmentId }));
      const expected = usesDb(handler) ? [expect.objectContaining({ Action: 'secretsmanager:GetSecretValue', Effect: 'Allow' })] : [];
      expect({ handler, reads }).toEqual({ handler, reads: expected });
    }
    // The sweeper reads the database secret, still not the JWT one.
    const sweep = functionsOf(aurora).get('sweep-uploads');
    const secretReads = statementsOf(aurora, sweep ?? { props: {} }).filter((statement) => JSON.stringify(statement.Action).includes('secretsmanager'));
    expect(secretReads.map((statement) => statement.Resource)).toEqual([{ Ref: attachmentId }]);
    expect(sweepNeeds.jwt).toBeFalsy();
  });

  it('runs the database functions in the isolated subnets with the functions security group, the others outside the VPC', () => {
    for (const [handler, fn] of dbFunctions) {
      expect({ handler, vpc: fn.props.VpcConfig }).toEqual({
        handler,
        vpc: { SubnetIds: [expect.objectContaining({ Ref: expect.stringMatching(/appSubnet1/) }), expect.objectContaining({ Ref: expect.stringMatching(/appSubnet2/) })], SecurityGroupIds: [{ 'Fn::GetAtt': [expect.stringMatching(/^NetworkFunctionSecurityGroup/), 'GroupId'] }] },
      });
    }
    for (const [handler, fn] of others) expect({ handler, vpc: fn.props.VpcConfig }).toEqual({ handler, vpc: undefined });
  });

  it('reaches Secrets Manager through the VPC endpoint, opened to the functions, and starts only after it and the cluster exist', () => {
    aurora.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      VpcEndpointType: 'Interface',
      PrivateDnsEnabled: true,
      ServiceName: Match.objectLike({ 'Fn::Join': Match.arrayWith([Match.arrayWith([Match.stringLikeRegexp('secretsmanager')])]) }),
    });
    aurora.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      FromPort: 443,
      SourceSecurityGroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^NetworkFunctionSecurityGroup'), 'GroupId'] },
    });
    const template = aurora.toJSON() as { Resources: Record<string, { DependsOn?: string[] }> };
    const [writerId] = only(aurora, 'AWS::RDS::DBInstance');
    for (const [handler, fn] of dbFunctions) {
      const dependsOn = template.Resources[fn.id]?.DependsOn ?? [];
      expect({ handler, endpoint: dependsOn.some((id) => id.startsWith('NetworkVpcSecretsManager')), cluster: dependsOn.includes(clusterId), writer: dependsOn.includes(writerId) }).toEqual({
        handler,
        endpoint: true,
        cluster: true,
        writer: true,
      });
    }
  });

  it('outlasts an Aurora resume: database functions run 28 s (connection wait 20 s), under API Gateway 30 s', () => {
    for (const [handler, fn] of dbFunctions) expect({ handler, timeout: fn.props.Timeout }).toEqual({ handler, timeout: handler === 'sweep-uploads' ? 120 : 28 });
    for (const [handler, fn] of others) expect({ handler, timeout: fn.props.Timeout }).toEqual({ handler, timeout: 10 });
    // The SQLite variant keeps its shorter timeouts.
    const sqliteLogin = functionsOf(sqlite).get('auth-login');
    expect(sqliteLogin?.props.Timeout).toBe(10);
  });

  it('passes only variables lib/config.ts knows; with them it selects PostgreSQL through the secret, TLS verified, one connection', () => {
    for (const [handler, fn] of dbFunctions) {
      const env = envOf(fn);
      for (const name of Object.keys(env)) {
        if (!['POWERTOOLS_SERVICE_NAME', 'NODE_EXTRA_CA_CERTS'].includes(name)) expect({ handler, name, known: CONFIG_VARIABLES.includes(name) }).toEqual({ handler, name, known: true });
      }
      const literal = Object.fromEntries(
        Object.entries(env).map(([name, value]) => [
          name,
          typeof value === 'string'
            ? value
            : name.endsWith('_ARN')
              ? `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}-AbCdEf`
              : name === 'S3_BUCKET'
                ? 'test-storage-uploads-1a2b3c'
                : name === 'APP_URL'
                  ? 'https://abc123.execute-api.eu-west-1.amazonaws.com'
                  : 'eu-west-1',
        ]),
      );
      const config = loadConfig({ ...literal, AWS_LAMBDA_FUNCTION_NAME: handler });
      expect({ handler, database: config.database }).toEqual({
        handler,
        database: { dialect: 'postgres', url: undefined, secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:DATABASE_SECRET_ARN-AbCdEf', tls: 'verify', poolMax: 1 },
      });
    }
  });
});

describe('database settings', () => {
  it('defaults to sqlite and refuses anything but sqlite or aurora', () => {
    expect(readSettings(() => undefined).database).toBe('sqlite');
    expect(readSettings((key) => ({ database: 'Aurora' })[key]).database).toBe('aurora');
    expect(() => readSettings((key) => ({ database: 'mysql' })[key])).toThrow(new SettingsError('context database must be one of sqlite, aurora, got mysql'));
  });

  it.each([['0'], ['0.5'], ['257'], ['2.3'], ['lots']])('refuses auroraMaxCapacity=%s with one line', (value) => {
    expect(() => readSettings((key) => ({ auroraMaxCapacity: value })[key])).toThrow(SettingsError);
  });

  it('takes auroraMaxCapacity in steps of 0.5', () => {
    expect(readSettings((key) => ({ auroraMaxCapacity: '2.5' })[key]).auroraMaxCapacity).toBe(2.5);
    expect(readSettings(() => undefined).auroraMaxCapacity).toBe(4);
  });
});
