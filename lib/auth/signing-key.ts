import { createSecretKey, type KeyObject } from 'node:crypto';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { getConfig } from '../config';

let key: Promise<KeyObject> | undefined;
let secretsClient: SecretsManagerClient | undefined;

/**
 * The HS256 key as a KeyObject, made once per container: jsonwebtoken verifies ~50x faster with
 * a KeyObject than with a string. Locally the secret is `JWT_SECRET`; in AWS it is read once
 * per cold start from Secrets Manager (`JWT_SECRET_ARN`) and never put in the environment.
 */
export function getSigningKey(): Promise<KeyObject> {
  key ??= loadSecret().then(
    (secret) => createSecretKey(Buffer.from(secret, 'utf8')),
    (error: unknown) => {
      key = undefined; // a failed fetch must not poison the container; the next request retries
      throw error;
    },
  );
  return key;
}

async function loadSecret(): Promise<string> {
  const { secret, secretArn } = getConfig().jwt;
  if (secret) return secret;
  if (!secretArn) throw new Error('No JWT secret configured');
  secretsClient ??= newSecretsClient();
  const result = await secretsClient.send(new GetSecretValueCommand({ SecretId: secretArn }));
  const value = result.SecretString;
  if (!value || Buffer.byteLength(value) < 32) throw new Error('JWT secret from Secrets Manager is missing or shorter than 32 bytes');
  return value;
}

function newSecretsClient(): SecretsManagerClient {
  const client = new SecretsManagerClient({});
  // Build-time constant (infra: -c tracing=true); when off the bundler drops the tracer.
  if (process.env.TRACING_ENABLED === 'true') return (require('../tracing') as typeof import('../tracing')).captureClient(client);
  return client;
}

/** Forgets the key (tests; key rotation later). */
export function resetSigningKey(): void {
  key = undefined;
}
