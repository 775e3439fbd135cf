/**
 * A lean Secrets Manager `GetSecretValue`: one SigV4-signed JSON 1.1 POST (lib/aws/json-call.ts).
 *
 * Why not `@aws-sdk/client-secrets-manager`: the JWT functions (login, me, refresh, files,
 * uploads) read one secret once per container, on the hottest cold-start path, and the full
 * client brings its generic Smithy runtime, nested STS/SSO clients, the whole credential chain
 * and a user-agent parser with it (~290 KB of minified JavaScript). Measured with esbuild as
 * the functions are built (minified CJS for Node 22): auth-login 657.9 -> 366.0 KB, auth-me
 * 622.6 -> 330.9 KB; in a fresh Node 22 process the first key fetch (client set-up, credential
 * resolution, signing, the call to a local stand-in) went from 71 to 50 ms (medians of 9; 228
 * to 114 ms in a run on a busier machine), and `require` of auth-login from 497 to 297 ms.
 * Of the SDK only `@smithy/signature-v4` remains, which with esbuild's CommonJS default
 * (`main` before `module`) drags ~128 KB of `@smithy/core` along; bundling with
 * `mainFields: ['module', 'main']` tree-shakes that to ~5 KB (auth-login 240.9 KB).
 */
import { AwsCallError, callAwsJson, type AwsCallOptions, type AwsJsonService } from './json-call';

/** Options of {@link getSecretString}; the defaults suit a Lambda cold start. */
export interface GetSecretValueOptions extends AwsCallOptions {
  /** `AWSCURRENT` (what Secrets Manager returns when none is given), `AWSPREVIOUS`, or a custom label. */
  readonly versionStage?: string;
}

/** A failed `GetSecretValue`: what went wrong, never the response body or the credentials. */
export { AwsCallError as SecretsManagerError };

const SECRETS_MANAGER: AwsJsonService = {
  label: 'Secrets Manager',
  signingName: 'secretsmanager',
  tracingName: 'SecretsManager',
  endpointVariable: 'AWS_ENDPOINT_URL_SECRETS_MANAGER',
  targetPrefix: 'secretsmanager',
  jsonVersion: '1.1',
};

/**
 * The `SecretString` of a secret (ARN or name), optionally of a given version stage.
 *
 * Throws a {@link SecretsManagerError} when the configuration is incomplete, when Secrets
 * Manager refuses (e.g. `ResourceNotFoundException`, `AccessDeniedException`), when the secret
 * has no `SecretString`, or when every attempt timed out, was throttled or failed.
 */
export async function getSecretString(secretId: string, options: GetSecretValueOptions = {}): Promise<string> {
  const what = `Secrets Manager GetSecretValue for ${secretId}`;
  const input = { SecretId: secretId, ...(options.versionStage ? { VersionStage: options.versionStage } : {}) };
  const answer = await callAwsJson(SECRETS_MANAGER, 'GetSecretValue', input, what, options);
  const value = answer.SecretString;
  if (typeof value !== 'string') throw new AwsCallError(`${what}: the secret has no SecretString`, 'NoSecretString', 200, false);
  return value;
}
