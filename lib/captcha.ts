import { createHash } from 'node:crypto';
import { verifySolution, type Challenge } from 'altcha-lib';
import { deriveKey } from 'altcha-lib/algorithms/pbkdf2';
import { CAPTCHA_ALGORITHM, captchaKeys } from './captcha-challenge';
import { claimCaptchaChallenge } from './throttle';

/** Longest payload looked at (a real one is about 700 characters; request schemas allow 4096). */
const PAYLOAD_MAX_LENGTH = 8192;

interface SubmittedPayload {
  readonly challenge: Challenge & { readonly signature: string; readonly parameters: { readonly expiresAt: number } };
  readonly solution: { readonly counter: number; readonly derivedKey: string };
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The submitted payload if it has the shape of one of ours; anything else is undefined. */
function parsePayload(text: string): SubmittedPayload | undefined {
  if (text.length > PAYLOAD_MAX_LENGTH || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isRecord(value) || !isRecord(value.challenge) || !isRecord(value.solution)) return undefined;
  const { challenge, solution } = value;
  if (!isRecord(challenge.parameters) || typeof challenge.signature !== 'string') return undefined;
  const parameters = challenge.parameters;
  if (parameters.algorithm !== CAPTCHA_ALGORITHM || typeof parameters.expiresAt !== 'number' || !Number.isSafeInteger(parameters.expiresAt)) {
    return undefined;
  }
  if (!Number.isSafeInteger(solution.counter) || typeof solution.derivedKey !== 'string') return undefined;
  return value as unknown as SubmittedPayload;
}

/**
 * Whether `payload` is a valid, unexpired solution of a challenge this API signed, used for the
 * first time. Consumes it: a second use of the same solution, or of any solution of the same
 * challenge, is false. Malformed input of any kind is false, never an exception.
 */
export async function redeemCaptcha(payload: string | undefined): Promise<boolean> {
  if (!payload) return false;
  const submitted = parsePayload(payload);
  if (!submitted) return false;
  const { signature, keySignature } = await captchaKeys();
  let verified: boolean;
  try {
    ({ verified } = await verifySolution({
      challenge: submitted.challenge,
      solution: submitted.solution,
      deriveKey,
      hmacSignatureSecret: signature,
      hmacKeySignatureSecret: keySignature,
    }));
  } catch {
    return false; // altcha-lib throws on some malformed parameters (hex, counters)
  }
  if (!verified) return false;
  const challengeHash = createHash('sha256').update(submitted.challenge.signature).digest('hex');
  return claimCaptchaChallenge(challengeHash, submitted.challenge.parameters.expiresAt);
}
