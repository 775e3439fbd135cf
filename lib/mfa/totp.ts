import { generateSecret } from '@otplib/core';
import { ScureBase32Plugin } from '@otplib/plugin-base32-scure';
import { NodeCryptoPlugin } from '@otplib/plugin-crypto-node';
import { verifySync } from '@otplib/totp';
import { generateTOTP } from '@otplib/uri';

/**
 * RFC 6238 TOTP as authenticator apps do it: HMAC-SHA-1, 6 digits, 30-second steps, a base32
 * secret of 20 random bytes. otplib's per-package build: its node:crypto plugin (no JavaScript
 * hash implementation in the bundle) and @scure/base for base32.
 */

const crypto = new NodeCryptoPlugin();
const base32 = new ScureBase32Plugin();

export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
/** Codes of the step before and after the current one are accepted too (clock drift). */
const DRIFT_STEPS = 1;

/** A new base32 secret (20 random bytes: 32 base32 characters). */
export const newTotpSecret = (): string => generateSecret({ crypto, base32, length: 20 });

/** The `otpauth://totp/...` URL authenticator apps read (usually from a QR code). */
export const otpauthUrl = (secret: string, label: string, issuer: string): string => generateTOTP({ issuer, label, secret });

/** The RFC 6238 time step of a moment. */
export const timeStepAt = (epochSeconds: number): number => Math.floor(epochSeconds / TOTP_PERIOD_SECONDS);

/**
 * The time step `code` belongs to, within ±{@link DRIFT_STEPS} of now and strictly after
 * `lastUsedStep` (so a code, once accepted, is never accepted again), or undefined.
 */
export function matchTotpStep(secret: string, code: string, lastUsedStep: number | null, now = Date.now()): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined;
  const epoch = Math.floor(now / 1000);
  // otplib refuses (throws on) an afterTimeStep beyond its window: nothing there can match anyway.
  if (lastUsedStep !== null && lastUsedStep >= timeStepAt(epoch) + DRIFT_STEPS) return undefined;
  const result = verifySync({
    secret,
    token: code,
    crypto,
    base32,
    epoch,
    period: TOTP_PERIOD_SECONDS,
    digits: TOTP_DIGITS,
    algorithm: 'sha1',
    epochTolerance: DRIFT_STEPS * TOTP_PERIOD_SECONDS,
    ...(lastUsedStep !== null ? { afterTimeStep: lastUsedStep } : {}),
  });
  return result.valid ? result.timeStep : undefined;
}
