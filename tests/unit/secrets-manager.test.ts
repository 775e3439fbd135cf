import { getSecretString, SecretsManagerError } from '../../lib/aws/secrets-manager';
import { startFakeSecretsManager, type FakeSecretsManager } from '../helpers/fake-secrets-manager';

const REGION = 'eu-west-1';
const CREDENTIALS = { accessKeyId: 'AKIAFAKEFAKEFAKE', secretAccessKey: 'fake-secret-access-key/+=', sessionToken: 'fake-session-token' };
const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:jwt-AbCdEf';

let fake: FakeSecretsManager;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  fake = await startFakeSecretsManager(CREDENTIALS, REGION);
});
afterAll(() => fake.close());

beforeEach(() => {
  fake.calls.length = 0;
  env = {
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    AWS_SESSION_TOKEN: CREDENTIALS.sessionToken,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: fake.url,
  };
});

const fast = { backoffBaseMs: 1 };

describe('the lean GetSecretValue', () => {
  it('sends a signed JSON 1.1 GetSecretValue and returns the SecretString', async () => {
    fake.reply = () => ({ status: 200, body: { ARN, Name: 'jwt', SecretString: 'the-value', VersionStages: ['AWSCURRENT'] } });
    await expect(getSecretString(ARN, { env })).resolves.toBe('the-value');
    expect(fake.calls).toEqual([{ target: 'secretsmanager.GetSecretValue', body: { SecretId: ARN } }]);
  });

  it('asks for a version stage when given one (key rotation)', async () => {
    fake.reply = (call) => ({ status: 200, body: { SecretString: `value of ${call.body.VersionStage}` } });
    await expect(getSecretString(ARN, { env, versionStage: 'AWSPREVIOUS' })).resolves.toBe('value of AWSPREVIOUS');
    expect(fake.calls[0]?.body).toEqual({ SecretId: ARN, VersionStage: 'AWSPREVIOUS' });
  });

  it('falls back to AWS_ENDPOINT_URL, as the SDK does', async () => {
    fake.reply = () => ({ status: 200, body: { SecretString: 'v' } });
    const { AWS_ENDPOINT_URL_SECRETS_MANAGER: url, ...rest } = env;
    await expect(getSecretString(ARN, { env: { ...rest, AWS_ENDPOINT_URL: url } })).resolves.toBe('v');
  });

  it('is refused by the fake when signed with another key (the fake really checks)', async () => {
    fake.reply = () => ({ status: 200, body: { SecretString: 'v' } });
    const error = await getSecretString(ARN, { env: { ...env, AWS_SECRET_ACCESS_KEY: 'another-key' } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SecretsManagerError);
    expect(error).toMatchObject({ code: 'InvalidSignatureException', status: 403, retryable: false });
    expect(fake.calls[0]?.refused).toBe('signature: does not match');
  });

  it('is refused without the session token Lambda provides', async () => {
    const { AWS_SESSION_TOKEN: _token, ...rest } = env;
    await expect(getSecretString(ARN, { env: rest })).rejects.toMatchObject({ code: 'InvalidSignatureException' });
    expect(fake.calls[0]?.refused).toBe('signature: session token missing or wrong');
  });

  it('fails at once, naming the secret and the code but not the body, for a missing secret', async () => {
    fake.reply = () => ({
      status: 400,
      body: { __type: 'com.amazonaws.secretsmanager#ResourceNotFoundException', message: 'Secrets Manager cannot find the specified secret. internal-detail' },
    });
    const error = (await getSecretString(ARN, { env, ...fast }).catch((e: unknown) => e)) as SecretsManagerError;
    expect(error).toBeInstanceOf(SecretsManagerError);
    expect(error.message).toBe(`Secrets Manager GetSecretValue for ${ARN} failed: ResourceNotFoundException (HTTP 400)`);
    expect(error).toMatchObject({ code: 'ResourceNotFoundException', status: 400, retryable: false });
    expect(fake.calls).toHaveLength(1);
  });

  it('retries throttling with backoff, then succeeds', async () => {
    fake.reply = (_call, index) =>
      index < 2 ? { status: 400, body: { __type: 'ThrottlingException', message: 'Rate exceeded' } } : { status: 200, body: { SecretString: 'v' } };
    await expect(getSecretString(ARN, { env, ...fast })).resolves.toBe('v');
    expect(fake.calls).toHaveLength(3);
  });

  it('retries a dropped connection', async () => {
    fake.reply = (_call, index) => (index === 0 ? 'reset' : { status: 200, body: { SecretString: 'v' } });
    await expect(getSecretString(ARN, { env, ...fast })).resolves.toBe('v');
    expect(fake.calls).toHaveLength(2);
  });

  it('gives up after the last attempt on repeated 5xx', async () => {
    fake.reply = () => ({ status: 503, body: { message: 'body text that must not leak' }, errorType: 'ServiceUnavailable:http://internal/' });
    const error = (await getSecretString(ARN, { env, maxAttempts: 3, ...fast }).catch((e: unknown) => e)) as SecretsManagerError;
    expect(error).toMatchObject({ code: 'ServiceUnavailable', status: 503, retryable: true });
    expect(error.message).toBe(`Secrets Manager GetSecretValue for ${ARN} failed: ServiceUnavailable (HTTP 503) (after 3 attempts)`);
    expect(fake.calls).toHaveLength(3);
  });

  it('times out an attempt that never answers', async () => {
    fake.reply = () => 'hang';
    const error = (await getSecretString(ARN, { env, timeoutMs: 200, maxAttempts: 2, ...fast }).catch((e: unknown) => e)) as SecretsManagerError;
    expect(error).toMatchObject({ code: 'TimeoutError', retryable: true });
    expect(error.message).toBe(`Secrets Manager GetSecretValue for ${ARN} timed out (after 2 attempts)`);
    expect(fake.calls).toHaveLength(2);
  });

  it('never puts the credentials in an error', async () => {
    fake.reply = () => ({ status: 400, body: { __type: 'AccessDeniedException' } });
    const error = (await getSecretString(ARN, { env, ...fast }).catch((e: unknown) => e)) as SecretsManagerError;
    const text = JSON.stringify({ ...error, message: error.message, stack: error.stack });
    for (const value of Object.values(CREDENTIALS)) expect(text).not.toContain(value);
    expect(error.code).toBe('AccessDeniedException');
  });

  it('refuses to run without region or credentials', async () => {
    const { AWS_REGION: _region, ...noRegion } = env;
    await expect(getSecretString(ARN, { env: noRegion })).rejects.toMatchObject({ code: 'ConfigError' });
    const { AWS_ACCESS_KEY_ID: _id, ...noKey } = env;
    await expect(getSecretString(ARN, { env: noKey })).rejects.toMatchObject({ code: 'ConfigError' });
    expect(fake.calls).toHaveLength(0);
  });
});

describe('with the tracing build switch on', () => {
  const before = process.env.TRACING_ENABLED;
  afterEach(() => {
    if (before === undefined) delete process.env.TRACING_ENABLED;
    else process.env.TRACING_ENABLED = before;
  });

  it('goes through the tracer and still returns the secret (no segment outside Lambda)', async () => {
    process.env.TRACING_ENABLED = 'true';
    fake.reply = () => ({ status: 200, body: { SecretString: 'traced' } });
    await expect(getSecretString(ARN, { env })).resolves.toBe('traced');
    expect(fake.calls).toHaveLength(1);
  });
});
