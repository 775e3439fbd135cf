/**
 * The CDK app: `npm run synth` / `npx cdk deploy`. Settings come from context
 * (`-c stage=dev -c corsOrigins=https://app.example.com`, see docs/deploy.md), never edits.
 *
 * The stack is environment-agnostic (no account/region here, no lookups): synth needs no AWS
 * credentials, and `cdk deploy` targets the account and region of the caller's profile.
 */
import { App, Tags } from 'aws-cdk-lib';
import { DriverBuildError } from './native/driver';
import { readSettings, SettingsError } from './settings';
import { SecureUploadStack } from './stack';

/**
 * The one line to print for a mistake the user can fix (a bad `-c` value, a host that cannot
 * build the driver); undefined for anything else, which keeps its stack trace. A driver error
 * raised while CDK bundles arrives wrapped in "Failed to bundle asset ...: DriverBuildError: ...".
 */
export function userFacingError(error: unknown): string | undefined {
  if (error instanceof SettingsError || error instanceof DriverBuildError) return `error: ${error.message}`;
  const wrapped = error instanceof Error ? /DriverBuildError: ([^\n]+)/.exec(error.message) : null;
  return wrapped ? `error: ${wrapped[1]}` : undefined;
}

function main(): void {
  const app = new App();
  const settings = readSettings((key) => app.node.tryGetContext(key));
  const stack = new SecureUploadStack(app, `SecureUploadApi-${settings.stage}`, {
    settings,
    description: `Secure file upload API (${settings.stage}): HTTP API, Lambda (Node 22), SQLite on EFS, S3`,
  });
  Tags.of(stack).add('app', 'secure-upload-api');
  Tags.of(stack).add('stage', settings.stage);
  app.synth();
}

if (require.main === module) {
  try {
    main();
  } catch (error) {
    const line = userFacingError(error);
    if (line === undefined) throw error;
    process.stderr.write(`${line}\n`);
    process.exitCode = 1;
  }
}
