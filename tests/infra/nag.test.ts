/**
 * cdk-nag's AwsSolutions pack over the synthesized stack, through CDK's own policy-validation
 * plugin mechanism (cdk-nag 3), together with CDK's built-in CloudFormation template checks:
 * zero findings of any severity. What the stack deliberately keeps is acknowledged in infra/
 * code, on the narrowest construct, with a one-line reason; this test holds those to that.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { readSettings } from '../../infra/settings';
import { SecureUploadStack } from '../../infra/stack';

interface Report {
  readonly pluginReports: readonly {
    readonly pluginName: string;
    readonly violations: readonly {
      readonly ruleName: string;
      readonly severity: string;
      readonly description: string;
      readonly violatingConstructs: readonly { readonly constructPath: string }[];
    }[];
  }[];
}

/** Every finding as `plugin rule (severity) at path: description`; synthesizes with bundling skipped. */
function findings(context: Record<string, unknown>): { lines: string[]; stack: Stack } {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'sua-nag-'));
  try {
    const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [], ...context } });
    const stack = new SecureUploadStack(app, 'Nag', { settings: readSettings((key) => app.node.tryGetContext(key)) });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    let failure: unknown;
    try {
      app.synth();
    } catch (error) {
      failure = error;
    }
    const reportFile = path.join(outdir, 'validation-report.json');
    if (!fs.existsSync(reportFile)) {
      if (failure) throw failure;
      return { lines: [], stack };
    }
    const report = JSON.parse(fs.readFileSync(reportFile, 'utf8')) as Report;
    const lines = report.pluginReports.flatMap((plugin) =>
      plugin.violations.flatMap((violation) =>
        violation.violatingConstructs.map(
          (where) => `${plugin.pluginName} ${violation.ruleName} (${violation.severity}) at ${where.constructPath}: ${violation.description.split('\n')[0]}`,
        ),
      ),
    );
    if (failure && lines.length === 0) throw failure;
    return { lines, stack };
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

/** Acknowledgments recorded anywhere in the tree: `{ path, id, reason }`. */
function acknowledgments(root: IConstruct): { path: string; id: string; reason: string; depth: number }[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          path: construct.node.path,
          id,
          reason,
          depth: construct.node.scopes.length,
        })),
      ),
  );
}

const variants: Record<string, Record<string, unknown>> = {
  'production (defaults, alarm e-mail, CORS)': { alarmEmail: 'ops@example.com', corsOrigins: 'https://app.example.com' },
  'a dev stage that destroys its data': { stage: 'dev' },
  'two endpoint AZs, reserved concurrency, Docker driver build': { secretsEndpointAzs: '2', dbReservedConcurrency: '5', driverBuild: 'docker' },
  'mail through SQS and SES, tracing': { mailFrom: 'Uploads <no-reply@example.com>', tracing: 'true' },
  'GuardDuty malware scanning': { scanner: 'guardduty' },
  'Aurora PostgreSQL (production)': { database: 'aurora', alarmEmail: 'ops@example.com' },
  'Aurora PostgreSQL in a dev stage, with mail, tracing and GuardDuty': { database: 'aurora', stage: 'dev', mailFrom: 'no-reply@example.com', tracing: 'true', scanner: 'guardduty' },
};

describe.each(Object.entries(variants))('cdk-nag AwsSolutions: %s', (_name, context) => {
  const { lines, stack } = findings(context);

  it('has no unacknowledged finding, error or warning, and no template problem', () => {
    expect(lines).toEqual([]);
  });

  it('acknowledges only on resources or the constructs that own them, each with a one-line reason', () => {
    // Ours: CDK itself acknowledges a CloudFormation lint rule of its own Vpc on the stack.
    const acks = acknowledgments(stack).filter((ack) => ack.id.includes('AwsSolutions'));
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      // Never the stack (or app): a stack-wide acknowledgment would hide the next resource too.
      expect({ path: ack.path, wide: ack.depth <= stack.node.scopes.length }).toEqual({ path: ack.path, wide: false });
      expect(ack.id).toMatch(/^Annotation::AwsSolutions-[A-Z]+\d+(\[.+\])?$/);
      expect({ id: ack.id, reason: ack.reason }).toEqual({ id: ack.id, reason: expect.stringMatching(/^[^\n]{30,200}$/) });
    }
  });
});

describe('the cdk-nag test itself', () => {
  it('reports a finding that nothing acknowledges', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new SecureUploadStack(app, 'Bare', { settings: readSettings((key) => app.node.tryGetContext(key)) });
    // A bucket like ours minus its access logs: S1 must come back.
    const { Bucket, BlockPublicAccess, BucketEncryption } = jest.requireActual<typeof import('aws-cdk-lib/aws-s3')>('aws-cdk-lib/aws-s3');
    new Bucket(stack, 'Unlogged', { blockPublicAccess: BlockPublicAccess.BLOCK_ALL, encryption: BucketEncryption.S3_MANAGED, enforceSSL: true });
    const report = new AwsSolutionsChecks().validateScope(stack);
    expect(report.violations.map((violation) => violation.ruleName)).toEqual(['AwsSolutions-S1']);
  });
});
