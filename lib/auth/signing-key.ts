import { createSecretKey, type KeyObject } from 'node:crypto';
import { getSecretString } from '../aws/secrets-manager';
import { getConfig } from '../config';

let key: Promise<KeyObject> | undefined;

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
  // A lean signed call instead of the SDK client: this is on every JWT function's cold start.
  const value = await getSecretString(secretArn);
  if (Buffer.byteLength(value) < 32) throw new Error('JWT secret from Secrets Manager is shorter than 32 bytes');
  return value;
}

/** Forgets the key (tests; key rotation later). */
export function resetSigningKey(): void {
  key = undefined;
}
