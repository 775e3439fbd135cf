import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { getSigningKey, resetSigningKey } from '../../lib/auth/signing-key';
import { signToken, verifyToken } from '../../lib/auth/tokens';
import { resetConfig } from '../../lib/config';

// Secrets Manager cannot run here: the one AWS service these tests mock.
const secretsManager = mockClient(SecretsManagerClient);
const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:jwt-AbCdEf';

beforeEach(() => {
  secretsManager.reset();
  delete process.env.JWT_SECRET;
  process.env.JWT_SECRET_ARN = ARN;
  process.env.AWS_LAMBDA_FUNCTION_NAME = 'auth-login';
  resetConfig();
  resetSigningKey();
});

describe('the JWT key in AWS', () => {
  it('is read from Secrets Manager once per container and works as an HS256 key', async () => {
    secretsManager.on(GetSecretValueCommand, { SecretId: ARN }).resolves({ SecretString: 's'.repeat(64) });
    const key = await getSigningKey();
    expect(await getSigningKey()).toBe(key);
    expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    expect(key.type).toBe('secret');
    const { token } = signToken(key, 'access', 'user-1');
    expect(verifyToken(key, token, 'access').sub).toBe('user-1');
  });

  it('retries on the next request after a failed fetch instead of caching the failure', async () => {
    secretsManager.on(GetSecretValueCommand).rejectsOnce(new Error('throttled')).resolves({ SecretString: 's'.repeat(64) });
    await expect(getSigningKey()).rejects.toThrow('throttled');
    await expect(getSigningKey()).resolves.toBeDefined();
  });

  it('refuses a secret shorter than 32 bytes', async () => {
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: 'short' });
    await expect(getSigningKey()).rejects.toThrow(/shorter than 32 bytes/);
  });
});
