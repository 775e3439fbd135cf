/**
 * The CDK app: `npm run synth` / `npx cdk deploy`. Settings come from context
 * (`-c stage=dev -c corsOrigins=https://app.example.com`, see docs/deploy.md), never edits.
 *
 * The stack is environment-agnostic (no account/region here, no lookups): synth needs no AWS
 * credentials, and `cdk deploy` targets the account and region of the caller's profile.
 */
import { App, Tags } from 'aws-cdk-lib';
import { readSettings } from './settings';
import { SecureUploadStack } from './stack';

const app = new App();
const settings = readSettings((key) => app.node.tryGetContext(key));
const stack = new SecureUploadStack(app, `SecureUploadApi-${settings.stage}`, {
  settings,
  description: `Secure file upload API (${settings.stage}): HTTP API, Lambda (Node 22), SQLite on EFS, S3`,
});
Tags.of(stack).add('app', 'secure-upload-api');
Tags.of(stack).add('stage', settings.stage);
app.synth();
