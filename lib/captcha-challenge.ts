import { hkdfSync, type KeyObject } from 'node:crypto';
import { createChallenge, randomInt, type Challenge } from 'altcha-lib';
import { deriveKey } from 'altcha-lib/algorithms/pbkdf2';
import { getSigningKey } from './auth/signing-key';

// Challenges only: no database here, so GET /auth/captcha needs no driver and no EFS mount.
// Redeeming solutions (which are stored) is ./captcha.ts.

/**
 * ALTCHA proof of work (altcha-lib, self-hosted, no third party). A challenge is signed with an
 * HMAC key; the client finds the counter whose PBKDF2 key starts with the signed prefix and
 * sends back `base64(JSON {challenge, solution})`, as the ALTCHA widget submits it.
 *
 * **Key**: derived from the JWT secret with HKDF-SHA-256 under labels of its own, so there is no
 * further secret to provision, store or rotate, in AWS (Secrets Manager) and locally alike,
 * and knowing a CAPTCHA key tells nothing about the JWT secret. A JWT secret rotation only
 * invalidates challenges handed out in the 10 minutes before it: clients fetch a new one.
 *
 * **Work**: in ALTCHA's deterministic mode the server picks the counter, so the solver's work
 * is about `counter` PBKDF2 runs (1000 iterations each): roughly half a second to two seconds
 * of one CPU core, less in the widget's parallel workers. Verifying is one HMAC (the signed
 * derived key), so a flood of solutions costs the API almost nothing.
 */
export const CAPTCHA_ALGORITHM = 'PBKDF2/SHA-256';
export const CAPTCHA_COST = 1000;
const COUNTER_MIN = 1000;
const COUNTER_MAX = 4000;
/** How long a challenge can be solved and used. */
export const CAPTCHA_TTL_SECONDS = 600;

export interface CaptchaKeys {
  readonly signature: string;
  readonly keySignature: string;
}

let cached: { readonly source: KeyObject; readonly keys: CaptchaKeys } | undefined;

/** Derived once per signing key (so a key that changes, in tests or a rotation, is followed). */
export async function captchaKeys(): Promise<CaptchaKeys> {
  const source = (await getSigningKey()).key;
  if (cached?.source === source) return cached.keys;
  const secret = source.export();
  const derive = (label: string) => Buffer.from(hkdfSync('sha256', secret, 'secure-upload-api', label, 32)).toString('hex');
  const keys = { signature: derive('altcha challenge signature v1'), keySignature: derive('altcha derived key signature v1') };
  cached = { source, keys };
  return keys;
}

/** A fresh signed challenge: what `GET /auth/captcha` answers, as altcha-lib creates it. */
export async function createCaptchaChallenge(): Promise<Challenge> {
  const { signature, keySignature } = await captchaKeys();
  return createChallenge({
    algorithm: CAPTCHA_ALGORITHM,
    cost: CAPTCHA_COST,
    counter: randomInt(COUNTER_MAX, COUNTER_MIN),
    deriveKey,
    expiresAt: Math.floor(Date.now() / 1000) + CAPTCHA_TTL_SECONDS,
    hmacSignatureSecret: signature,
    hmacKeySignatureSecret: keySignature,
  });
}

