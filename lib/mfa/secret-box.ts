import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { getSecretString } from '../aws/secrets-manager';
import { decodeKey32, getConfig } from '../config';
import { HttpError } from '../http/errors';

/**
 * TOTP secrets at rest: AES-256-GCM under the MFA key (`MFA_ENCRYPTION_KEY` locally, the
 * secret behind `MFA_ENCRYPTION_KEY_ARN` in AWS), never the JWT secret, so rotating the JWT
 * secret cannot lock anyone out of MFA.
 *
 * Each ciphertext is stored with the id of the key that made it ({@link mfaKeyIdOf}), so a
 * later rotation can keep old keys for decryption and re-encrypt lazily. The user id is the
 * additional authenticated data: a row copied onto another user does not decrypt.
 */

/** A sealed secret as stored: `key_id` and `iv.ciphertext.tag` (base64url). */
export interface SealedSecret {
  readonly keyId: string;
  readonly ciphertext: string;
}

interface MfaKey {
  readonly id: string;
  readonly key: Buffer;
}

const KID_LABEL = 'secure-upload-api mfa kid v1\0';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** First 16 hex digits of SHA-256 over a fixed label and the key: names the key, reveals nothing. */
export const mfaKeyIdOf = (key: Buffer): string => createHash('sha256').update(KID_LABEL).update(key).digest('hex').slice(0, 16);

/**
 * MFA is unusable until an operator fixes the key. The client learns only that (503, no
 * internals); the log line says what is wrong.
 */
function mfaUnavailable(reason: string, extra: Record<string, unknown> = {}): HttpError {
  // Loaded on first use, as in lib/auth/signing-key.ts: test helpers load this module before a
  // test sets the log level, and the logger reads its level when it is loaded.
  void import('../logger').then(({ logger }) => logger.error(`MFA unavailable: ${reason}`, extra));
  return new HttpError(503, 'Multi-factor authentication is temporarily unavailable');
}

let loading: Promise<MfaKey> | undefined;

/** The MFA key of this container: read once (Secrets Manager: one call per cold start), retried after a failure. */
function getMfaKey(): Promise<MfaKey> {
  loading ??= readMfaKey().catch((error: unknown) => {
    loading = undefined;
    throw error;
  });
  return loading;
}

async function readMfaKey(): Promise<MfaKey> {
  const { encryptionKey, encryptionKeyArn } = getConfig().mfa;
  let text = encryptionKey;
  if (text === undefined && encryptionKeyArn) {
    try {
      text = await getSecretString(encryptionKeyArn);
    } catch (error) {
      throw mfaUnavailable('could not read the MFA key from Secrets Manager', { error: String(error) });
    }
  }
  if (text === undefined) throw mfaUnavailable('MFA_ENCRYPTION_KEY (or MFA_ENCRYPTION_KEY_ARN) is not set');
  const key = decodeKey32(text);
  if (!key) throw mfaUnavailable('the MFA key is not 32 bytes as 64 hex digits or base64');
  return { id: mfaKeyIdOf(key), key };
}

/** Encrypts a TOTP secret for `userId` under the current key. */
export async function sealSecret(secret: string, userId: string): Promise<SealedSecret> {
  const { id, key } = await getMfaKey();
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(userId, 'utf8'));
  const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  const parts = [iv, body, cipher.getAuthTag()].map((part) => part.toString('base64url'));
  return { keyId: id, ciphertext: parts.join('.') };
}

/**
 * Decrypts a sealed secret of `userId`. A key id this container does not hold, or a ciphertext
 * that does not authenticate under the key, is a 503 (the key is wrong or missing; retrying
 * later, once an operator restored it, works), logged with the key ids only.
 */
export async function openSecret(sealed: SealedSecret, userId: string): Promise<string> {
  const { id, key } = await getMfaKey();
  if (sealed.keyId !== id) throw mfaUnavailable('a TOTP secret was sealed under another MFA key than the configured one', { storedKeyId: sealed.keyId, configuredKeyId: id });
  const [iv, body, tag] = sealed.ciphertext.split('.').map((part) => Buffer.from(part, 'base64url'));
  try {
    if (!iv || !body || !tag || iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new Error('malformed');
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(userId, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
  } catch {
    throw mfaUnavailable('a TOTP secret does not decrypt under the MFA key it names', { keyId: id });
  }
}

/** Forgets the key (tests; the local runtime after it generated one). */
export function resetMfaKey(): void {
  loading = undefined;
}
