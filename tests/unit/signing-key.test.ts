import { getSigningKey, resetSigningKey } from '../../lib/auth/signing-key';
import { signToken, verifyToken } from '../../lib/auth/tokens';
import { resetConfig } from '../../lib/config';
import { startFakeSecretsManager, type FakeSecretsManager } from '../helpers/fake-secrets-manager';

// Secrets Manager cannot run here: a local HTTP stand-in that checks the SigV4 signature.
const REGION = 'us-east-1';
const CREDENTIALS = { accessKeyId: 'AKIAFAKEFAKEFAKE', secretAccessKey: 'fake-secret-access-key', sessionToken: 'fake-session-token' };
const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:jwt-AbCdEf';
const AWS_VARIABLES = {
  AWS_REGION: REGION,
  AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
  AWS_SESSION_TOKEN: CREDENTIALS.sessionToken,
};

let fake: FakeSecretsManager;
const saved: Record<string, string | undefined> = {};

beforeAll(async () => {
  fake = await startFakeSecretsManager(CREDENTIALS, REGION);
  for (const name of [...Object.keys(AWS_VARIABLES), 'AWS_ENDPOINT_URL_SECRETS_MANAGER', 'AWS_ENDPOINT_URL', 'JWT_SECRET', 'JWT_SECRET_ARN', 'AWS_LAMBDA_FUNCTION_NAME']) {
    saved[name] = process.env[name];
  }
});
afterAll(async () => {
  await fake.close();
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  resetConfig();
  resetSigningKey();
});

beforeEach(() => {
  fake.calls.length = 0;
  delete process.env.JWT_SECRET;
  delete process.env.AWS_ENDPOINT_URL;
  Object.assign(process.env, AWS_VARIABLES, { JWT_SECRET_ARN: ARN, AWS_LAMBDA_FUNCTION_NAME: 'auth-login', AWS_ENDPOINT_URL_SECRETS_MANAGER: fake.url });
  resetConfig();
  resetSigningKey();
});

const secretReply = (value: string) => () => ({ status: 200, body: { ARN, SecretString: value } });

describe('the JWT key in AWS', () => {
  it('is read from Secrets Manager once per container and works as an HS256 key', async () => {
    fake.reply = secretReply('s'.repeat(64));
    const [key, again] = await Promise.all([getSigningKey(), getSigningKey()]);
    expect(again).toBe(key);
    expect(await getSigningKey()).toBe(key);
    expect(fake.calls).toEqual([{ target: 'secretsmanager.GetSecretValue', body: { SecretId: ARN } }]);
    expect(key.type).toBe('secret');
    const { token } = signToken(key, 'access', 'user-1');
    expect(verifyToken(key, token, 'access').sub).toBe('user-1');
  });

  it('fails when the secret does not exist, and fetches again on the next request', async () => {
    fake.reply = () => ({ status: 400, body: { __type: 'ResourceNotFoundException', message: 'not found' } });
    await expect(getSigningKey()).rejects.toThrow(`Secrets Manager GetSecretValue for ${ARN} failed: ResourceNotFoundException (HTTP 400)`);
    expect(fake.calls).toHaveLength(1);

    fake.reply = secretReply('s'.repeat(64));
    const key = await getSigningKey();
    expect(key.type).toBe('secret');
    expect(fake.calls).toHaveLength(2);
    expect(await getSigningKey()).toBe(key);
    expect(fake.calls).toHaveLength(2);
  });

  it('rides out throttling within one request', async () => {
    fake.reply = (_call, index) => (index === 0 ? { status: 400, body: { __type: 'ThrottlingException' } } : { status: 200, body: { SecretString: 's'.repeat(64) } });
    await expect(getSigningKey()).resolves.toBeDefined();
    expect(fake.calls).toHaveLength(2);
  });

  it('fails when Secrets Manager keeps failing, without caching the failure', async () => {
    fake.reply = () => ({ status: 500, body: { __type: 'InternalServiceError' } });
    await expect(getSigningKey()).rejects.toThrow(/InternalServiceError \(HTTP 500\) \(after 3 attempts\)/);
    expect(fake.calls).toHaveLength(3);
    fake.reply = secretReply('s'.repeat(64));
    await expect(getSigningKey()).resolves.toBeDefined();
  });

  it('refuses a secret shorter than 32 bytes', async () => {
    fake.reply = secretReply('s'.repeat(31));
    await expect(getSigningKey()).rejects.toThrow(/shorter than 32 bytes/);
    fake.reply = secretReply('s'.repeat(32));
    await expect(getSigningKey()).resolves.toBeDefined();
  });

  it('is refused by Secrets Manager when signed with other credentials', async () => {
    process.env.AWS_SECRET_ACCESS_KEY = 'not-the-right-key';
    await expect(getSigningKey()).rejects.toThrow(/InvalidSignatureException \(HTTP 403\)/);
  });
});
